//! The rate limit's promise: in one client's window, at most the limit of attempts allowed.
//!
//! An allowed answer says when its window resets (`RateLimit: t`, rounded up to whole seconds).
//! From the client's side, that instant lies between the invoke plus `t` less a second and the
//! completion plus `t`. Attempts whose reset instants may coincide belong to one window when
//! windows are too far apart to be mistaken for each other: a window lasts `w`, so two windows'
//! resets are at least `w` apart. An attempt whose uncertainty is too wide for that is left
//! unjudged rather than guessed at.

use std::collections::BTreeMap;

use super::{Operation, anomaly};
use crate::analysis::{Anomaly, AnomalyKind, Counts};
use crate::op::{Function, OpType};

const SECOND_NS: u64 = 1_000_000_000;
const MS_NS: u64 = 1_000_000;

/// An allowed attempt, and when its window may reset.
struct Allowed<'a> {
    operation: &'a Operation<'a>,
    earliest_reset: u64,
    latest_reset: u64,
    limit: u64,
}

pub(super) fn check<'a>(operations: &'a [Operation<'a>], counts: &mut Counts) -> Vec<Anomaly> {
    let mut by_client: BTreeMap<&str, Vec<Allowed<'a>>> = BTreeMap::new();
    for operation in operations {
        if !matches!(operation.f(), Function::Register | Function::Limit) {
            continue;
        }
        let value = operation.value();
        // Any definite answer but a 429 passed the rate limit, which comes first.
        match (operation.outcome(), value.status) {
            (OpType::Ok | OpType::Fail, Some(429)) => {
                counts.refused += 1;
                continue;
            }
            (OpType::Ok, _) | (OpType::Fail, Some(_)) => counts.allowed += 1,
            (OpType::Info | OpType::Invoke, _) | (OpType::Fail, None) => continue,
        }
        let (Some(client), Some(seen)) = (operation.invoke.value.client.as_deref(), value.rate_limit) else {
            continue;
        };
        let reset = seen.reset_ms.saturating_mul(MS_NS);
        let earliest_reset = operation.invoked().saturating_add(reset).saturating_sub(SECOND_NS);
        let latest_reset = operation.completed().saturating_add(reset);
        // Two windows' resets are at least a window apart: an uncertainty of half that or more
        // could mistake one window for the next.
        if (latest_reset - earliest_reset).saturating_mul(2) >= seen.window_ms.saturating_mul(MS_NS) {
            continue;
        }
        by_client.entry(client).or_default().push(Allowed {
            operation,
            earliest_reset,
            latest_reset,
            limit: seen.limit,
        });
    }

    let mut anomalies = Vec::new();
    for (client, mut allowed) in by_client {
        allowed.sort_by_key(|attempt| attempt.earliest_reset);
        // Windows are the groups of attempts whose reset instants overlap one another.
        let mut window: Vec<&Allowed<'_>> = Vec::new();
        let mut latest = 0;
        for attempt in &allowed {
            if !window.is_empty() && attempt.earliest_reset > latest {
                anomalies.extend(judge(client, &window));
                window.clear();
            }
            latest = if window.is_empty() { attempt.latest_reset } else { latest.min(attempt.latest_reset) };
            window.push(attempt);
        }
        anomalies.extend(judge(client, &window));
    }
    anomalies
}

/// An anomaly when one window allowed more than its limit.
fn judge(client: &str, window: &[&Allowed<'_>]) -> Option<Anomaly> {
    let limit = window.iter().map(|attempt| attempt.limit).min()?;
    (window.len() as u64 > limit).then(|| {
        let involved: Vec<&Operation<'_>> = window.iter().map(|attempt| attempt.operation).collect();
        anomaly(
            AnomalyKind::RateLimitExceeded,
            &involved,
            format!("client {client} was allowed {} attempts in one window, over its limit of {limit}", window.len()),
        )
    })
}
