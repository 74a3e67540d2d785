//! Checking a history: operations paired up from their invokes and completions, then the
//! accounts (`accounts`) and the rate limit (`rate_limit`) judged from them.

mod accounts;
mod rate_limit;

use crate::analysis::{Analysis, Anomaly, AnomalyKind, Counts, Verdict};
use crate::op::{Function, Op, OpType, Value};

/// What a check accepts beyond the service's promises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Acknowledged accounts that may be lost, as a failover without `REDIS_WAIT_REPLICAS` may
    /// lose them: up to this many are accepted, counted and listed, not failed.
    pub lost_allowed: u64,
}

/// One client operation: its invoke and, if it ended, its completion.
#[derive(Debug, Clone)]
pub(crate) struct Operation<'a> {
    pub invoke: &'a Op,
    pub completion: Option<&'a Op>,
}

impl<'a> Operation<'a> {
    pub(crate) fn f(&self) -> Function {
        self.invoke.f
    }

    /// How it ended; `Info` for one that never did.
    pub(crate) fn outcome(&self) -> OpType {
        self.completion.map_or(OpType::Info, |op| op.kind)
    }

    /// The completion's value, or the invoke's for one that never ended.
    pub(crate) fn value(&self) -> &'a Value {
        self.completion.map_or(&self.invoke.value, |op| &op.value)
    }

    pub(crate) fn invoked(&self) -> u64 {
        self.invoke.time
    }

    /// When it ended; for one that never did, as late as anything can be.
    pub(crate) fn completed(&self) -> u64 {
        self.completion.map_or(u64::MAX, |op| op.time)
    }

    /// The indices of its operations.
    pub(crate) fn indices(&self) -> Vec<u64> {
        std::iter::once(self.invoke.index).chain(self.completion.map(|op| op.index)).collect()
    }

    /// When it was last seen.
    pub(crate) fn last_seen(&self) -> u64 {
        self.completion.map_or(self.invoke.time, |op| op.time)
    }
}

/// Pairs each invoke with the next operation of its process.
fn operations(history: &[Op]) -> Vec<Operation<'_>> {
    let mut open: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut operations: Vec<Operation<'_>> = Vec::new();
    for op in history {
        if op.kind == OpType::Invoke {
            open.insert(op.process, operations.len());
            operations.push(Operation { invoke: op, completion: None });
        } else if let Some(position) = open.remove(&op.process) {
            operations[position].completion = Some(op);
        }
    }
    operations
}

/// An anomaly shown by `involved`, at the last time any of them was seen.
pub(crate) fn anomaly(kind: AnomalyKind, involved: &[&Operation<'_>], message: String) -> Anomaly {
    let mut ops: Vec<u64> = involved.iter().flat_map(|operation| operation.indices()).collect();
    ops.sort_unstable();
    ops.dedup();
    let time = involved.iter().map(|operation| operation.last_seen()).max().unwrap_or_default();
    Anomaly { kind, ops, time, message }
}

/// Checks `history` for every anomaly the service must never show.
pub fn check(history: &[Op], options: Options) -> Analysis {
    let operations = operations(history);
    let mut counts = Counts {
        operations: operations.len() as u64,
        indeterminate: operations.iter().filter(|operation| operation.outcome() == OpType::Info).count() as u64,
        ..Counts::default()
    };
    let mut anomalies = accounts::check(&operations, &mut counts);
    anomalies.extend(rate_limit::check(&operations, &mut counts));
    anomalies.sort_by_key(|anomaly| (anomaly.time, anomaly.kind));

    let lost_accepted = counts.lost <= options.lost_allowed;
    let (accepted, anomalies): (Vec<Anomaly>, Vec<Anomaly>) =
        anomalies.into_iter().partition(|anomaly| anomaly.kind == AnomalyKind::Lost && lost_accepted);
    let verdict = if !anomalies.is_empty() {
        Verdict::Invalid
    } else if counts.unchecked > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    Analysis { verdict, anomalies, accepted, counts }
}

#[cfg(test)]
mod tests;
