//! A hand-written history for every anomaly, and property tests: histories generated from a
//! sequential model of the service are valid, and each anomaly injected into one is caught.

use proptest::prelude::*;

use super::*;
use crate::op::{RateLimitSeen, Value};

/// Writes histories by hand: each call appends one operation, one millisecond after the last.
#[derive(Default)]
struct Writer {
    ops: Vec<Op>,
}

const MS: u64 = 1_000_000;

impl Writer {
    fn push(&mut self, process: u64, kind: OpType, f: Function, value: Value) -> &mut Self {
        let index = self.ops.len() as u64;
        self.ops.push(Op { index, process, kind, f, value, time: (index + 1) * MS });
        self
    }

    fn register(&mut self, process: u64, email: &str) -> &mut Self {
        self.push(process, OpType::Invoke, Function::Register, email_value(email))
    }

    fn acknowledged(&mut self, process: u64, email: &str, id: &str) -> &mut Self {
        let value = Value { id: Some(id.into()), status: Some(201), ..email_value(email) };
        self.push(process, OpType::Ok, Function::Register, value)
    }

    fn refused(&mut self, process: u64, email: &str, status: u16) -> &mut Self {
        self.push(process, OpType::Fail, Function::Register, Value { status: Some(status), ..email_value(email) })
    }

    fn in_doubt(&mut self, process: u64, email: &str) -> &mut Self {
        let value = Value { status: Some(503), ..email_value(email) };
        self.push(process, OpType::Info, Function::Register, value)
    }

    fn read(&mut self, process: u64, id: &str) -> &mut Self {
        self.push(process, OpType::Invoke, Function::Read, Value { id: Some(id.into()), ..Value::default() })
    }

    fn read_done(&mut self, process: u64, id: &str, found: bool) -> &mut Self {
        let value = Value { id: Some(id.into()), found: Some(found), ..Value::default() };
        self.push(process, OpType::Ok, Function::Read, value)
    }

    /// A final read by email, as an administrator of Redis makes it.
    fn final_read(&mut self, process: u64, email: &str, id: Option<&str>) -> &mut Self {
        let invoke = Value { final_read: true, ..email_value(email) };
        self.push(process, OpType::Invoke, Function::Read, invoke.clone());
        let done = Value { id: id.map(Into::into), found: Some(id.is_some()), ..invoke };
        self.push(process, OpType::Ok, Function::Read, done)
    }

    fn check(&self) -> Analysis {
        check(&self.ops, Options::default())
    }
}

fn email_value(email: &str) -> Value {
    Value { email: Some(email.into()), ..Value::default() }
}

fn kinds(analysis: &Analysis) -> Vec<AnomalyKind> {
    analysis.anomalies.iter().map(|anomaly| anomaly.kind).collect()
}

#[test]
fn a_registration_acknowledged_and_read_back_is_valid() {
    let mut history = Writer::default();
    history.register(1, "a@x").acknowledged(1, "a@x", "u1").read(2, "u1").read_done(2, "u1", true);
    history.final_read(9, "a@x", Some("u1"));
    let analysis = history.check();
    assert_eq!((analysis.verdict, analysis.counts.acknowledged), (Verdict::Valid, 1), "{analysis}");
}

#[test]
fn two_acknowledged_accounts_for_one_email_are_a_duplicate() {
    let mut history = Writer::default();
    history.register(1, "a@x").register(2, "a@x").acknowledged(1, "a@x", "u1").acknowledged(2, "a@x", "u2");
    history.final_read(9, "a@x", Some("u1"));
    let analysis = history.check();
    assert!(kinds(&analysis).contains(&AnomalyKind::DuplicateAccount), "{analysis}");
    let duplicate = analysis.anomalies.iter().find(|anomaly| anomaly.kind == AnomalyKind::DuplicateAccount).unwrap();
    assert_eq!(duplicate.ops, [0, 1, 2, 3], "both registrations, invoke and completion");
}

#[test]
fn an_acknowledged_account_the_final_read_cannot_find_is_lost() {
    let mut history = Writer::default();
    history.register(1, "a@x").acknowledged(1, "a@x", "u1").final_read(9, "a@x", None);
    let analysis = history.check();
    assert_eq!((analysis.verdict, kinds(&analysis)), (Verdict::Invalid, vec![AnomalyKind::Lost]), "{analysis}");
    assert_eq!(analysis.counts.lost, 1);
    let accepted = check(&history.ops, Options { lost_allowed: 1 });
    assert_eq!(
        (accepted.verdict, accepted.accepted.len()),
        (Verdict::Valid, 1),
        "a declared loss is counted, not failed"
    );
}

#[test]
fn a_read_that_began_after_the_201_and_missed_the_account_is_stale() {
    let mut history = Writer::default();
    history.register(1, "a@x").acknowledged(1, "a@x", "u1").read(2, "u1").read_done(2, "u1", false);
    history.final_read(9, "a@x", Some("u1"));
    assert_eq!(kinds(&history.check()), [AnomalyKind::StaleRead]);
}

#[test]
fn a_read_concurrent_with_the_registration_may_miss_the_account() {
    let mut history = Writer::default();
    history.register(1, "a@x").read(2, "u1").acknowledged(1, "a@x", "u1").read_done(2, "u1", false);
    history.final_read(9, "a@x", Some("u1"));
    assert_eq!(history.check().verdict, Verdict::Valid);
}

#[test]
fn an_account_found_then_missing_then_present_again_flips() {
    let mut history = Writer::default();
    // Both reads begin before the 201 completes, so no stale read explains the miss: the first
    // found the account, the second, begun after it, did not.
    history.register(1, "a@x").read(2, "u1").read_done(2, "u1", true).read(3, "u1").acknowledged(1, "a@x", "u1");
    history.read_done(3, "u1", false).final_read(9, "a@x", Some("u1"));
    let analysis = history.check();
    assert_eq!(kinds(&analysis), [AnomalyKind::Flip], "{analysis}");
}

#[test]
fn a_conflict_on_an_email_nobody_else_registered_is_a_phantom() {
    let mut history = Writer::default();
    history.register(1, "a@x").refused(1, "a@x", 409);
    assert_eq!(kinds(&history.check()), [AnomalyKind::PhantomConflict]);
    let mut raced = Writer::default();
    raced.register(1, "b@x").register(2, "b@x").acknowledged(2, "b@x", "u2").refused(1, "b@x", 409);
    raced.final_read(9, "b@x", Some("u2"));
    assert_eq!(raced.check().verdict, Verdict::Valid, "a concurrent registration explains the 409");
}

#[test]
fn an_account_nobody_registered_is_unexpected_and_one_in_doubt_is_recovered() {
    let mut history = Writer::default();
    history.register(1, "a@x").in_doubt(1, "a@x").final_read(9, "a@x", Some("u1")).final_read(9, "ghost@x", Some("g"));
    let analysis = history.check();
    assert_eq!(kinds(&analysis), [AnomalyKind::UnexpectedAccount], "{analysis}");
    assert_eq!((analysis.counts.recovered, analysis.counts.unexpected), (1, 1));
}

#[test]
fn an_acknowledged_account_never_read_at_the_end_leaves_the_verdict_unknown() {
    let mut history = Writer::default();
    history.register(1, "a@x").acknowledged(1, "a@x", "u1");
    let analysis = history.check();
    assert_eq!((analysis.verdict, analysis.counts.unchecked), (Verdict::Unknown, 1));
}

/// Attempts from one client, each answered with its window's reset in whole seconds.
fn attempt(history: &mut Writer, process: u64, status: u16, remaining: u64, reset_s: u64) {
    let seen = RateLimitSeen { limit: 5, window_ms: 60_000, remaining, reset_ms: reset_s * 1000 };
    let invoke = Value { client: Some("203.0.113.9".into()), ..Value::default() };
    history.push(process, OpType::Invoke, Function::Limit, invoke.clone());
    let kind = if status == 429 { OpType::Fail } else { OpType::Ok };
    history.push(process, kind, Function::Limit, Value { status: Some(status), rate_limit: Some(seen), ..invoke });
}

#[test]
fn six_allowed_attempts_in_one_window_exceed_a_limit_of_five() {
    let mut history = Writer::default();
    for remaining in (0..6).rev() {
        attempt(&mut history, 1, 201, remaining.min(4), 60);
    }
    let analysis = history.check();
    assert_eq!(kinds(&analysis), [AnomalyKind::RateLimitExceeded], "{analysis}");
    let mut within = Writer::default();
    for remaining in (0..5).rev() {
        attempt(&mut within, 1, 201, remaining, 60);
    }
    attempt(&mut within, 1, 429, 0, 60);
    assert_eq!((within.check().verdict, within.check().counts.refused), (Verdict::Valid, 1));
}

#[test]
fn attempts_in_consecutive_windows_are_not_mistaken_for_one() {
    let mut history = Writer::default();
    for remaining in (0..5).rev() {
        attempt(&mut history, 1, 201, remaining, 1);
    }
    // The next window: a minute later, its own five.
    let shift = 60_000 * MS;
    let before = history.ops.len();
    for remaining in (0..5).rev() {
        attempt(&mut history, 1, 201, remaining, 60);
    }
    for op in &mut history.ops[before..] {
        op.time += shift;
    }
    assert_eq!(history.check().verdict, Verdict::Valid, "{}", history.check());
}

// Property tests: a sequential model of the service writes histories that must check valid, and
// each anomaly, injected into such a history, must be caught.

/// One step of the model: what a client asks for.
#[derive(Debug, Clone)]
enum Step {
    Register { email: usize },
    Read { account: usize },
    Attempt,
    Unavailable { email: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..6_usize).prop_map(|email| Step::Register { email }),
        (0..6_usize).prop_map(|account| Step::Read { account }),
        Just(Step::Attempt),
        (0..6_usize).prop_map(|email| Step::Unavailable { email }),
    ]
}

/// Runs `steps` against a model of the service, one at a time, and writes what clients saw,
/// with final reads of every email.
fn model_history(steps: &[Step]) -> Writer {
    let mut history = Writer::default();
    let mut accounts: Vec<(String, String)> = Vec::new();
    let mut in_doubt: Vec<String> = Vec::new();
    let mut used_in_window = 0;
    for (n, step) in steps.iter().enumerate() {
        let process = (n % 4) as u64;
        match step {
            Step::Register { email } => {
                let email = format!("e{email}@x");
                history.register(process, &email);
                if accounts.iter().any(|(known, _)| *known == email) || in_doubt.contains(&email) {
                    history.refused(process, &email, 409);
                } else {
                    let id = format!("u{n}");
                    history.acknowledged(process, &email, &id);
                    accounts.push((email, id));
                }
            }
            Step::Read { account } => {
                if let Some((_, id)) = accounts.get(*account) {
                    let id = id.clone();
                    history.read(process, &id).read_done(process, &id, true);
                } else {
                    history.read(process, "nobody").read_done(process, "nobody", false);
                }
            }
            Step::Attempt => {
                let status = if used_in_window < 5 { 201 } else { 429 };
                used_in_window += u64::from(status != 429);
                attempt(&mut history, process, status, 5 - used_in_window, 60);
            }
            Step::Unavailable { email } => {
                let email = format!("e{email}@x");
                if !accounts.iter().any(|(known, _)| *known == email) {
                    history.register(process, &email).in_doubt(process, &email);
                    // An indeterminate registration may or may not have happened.
                    if n % 2 == 0 {
                        in_doubt.push(email);
                    }
                }
            }
        }
    }
    for email in 0..6 {
        let email = format!("e{email}@x");
        let id = accounts.iter().find(|(known, _)| *known == email).map(|(_, id)| id.clone());
        let id = id.or_else(|| in_doubt.contains(&email).then(|| "doubt".to_owned()));
        history.final_read(9, &email, id.as_deref());
    }
    history
}

proptest! {
    #[test]
    fn histories_of_the_sequential_model_are_valid(steps in prop::collection::vec(step(), 1..60)) {
        let history = model_history(&steps);
        let analysis = history.check();
        prop_assert_eq!(analysis.verdict, Verdict::Valid, "{}", analysis);
    }

    #[test]
    fn a_lost_account_is_caught(steps in prop::collection::vec(step(), 1..60)) {
        let mut history = model_history(&steps);
        let acknowledged = history.ops.iter().find(|op| op.kind == OpType::Ok && op.f == Function::Register).cloned();
        prop_assume!(acknowledged.is_some());
        let email = acknowledged.and_then(|op| op.value.email).unwrap();
        for op in history.ops.iter_mut().filter(|op| op.value.final_read && op.value.email.as_deref() == Some(&email)) {
            if op.kind == OpType::Ok {
                op.value.found = Some(false);
                op.value.id = None;
            }
        }
        prop_assert!(kinds(&history.check()).contains(&AnomalyKind::Lost));
    }

    #[test]
    fn a_second_acknowledgement_of_an_email_is_caught(steps in prop::collection::vec(step(), 1..60)) {
        let mut history = model_history(&steps);
        let email = history.ops.iter().find(|op| op.kind == OpType::Ok && op.f == Function::Register).and_then(|op| op.value.email.clone());
        prop_assume!(email.is_some());
        let email = email.unwrap();
        history.register(7, &email).acknowledged(7, &email, "intruder");
        prop_assert!(kinds(&history.check()).contains(&AnomalyKind::DuplicateAccount));
    }

    #[test]
    fn a_stale_read_is_caught(steps in prop::collection::vec(step(), 1..60)) {
        let mut history = model_history(&steps);
        let id = history.ops.iter().find(|op| op.kind == OpType::Ok && op.f == Function::Register).and_then(|op| op.value.id.clone());
        prop_assume!(id.is_some());
        let id = id.unwrap();
        let finals = history.ops.iter().position(|op| op.value.final_read).unwrap();
        let tail: Vec<Op> = history.ops.drain(finals..).collect();
        history.read(7, &id).read_done(7, &id, false);
        for op in tail {
            history.push(op.process, op.kind, op.f, op.value);
        }
        prop_assert!(kinds(&history.check()).contains(&AnomalyKind::StaleRead));
    }

    #[test]
    fn a_phantom_conflict_is_caught(steps in prop::collection::vec(step(), 1..60)) {
        let mut history = model_history(&steps);
        history.register(7, "nobody-else@x").refused(7, "nobody-else@x", 409);
        prop_assert!(kinds(&history.check()).contains(&AnomalyKind::PhantomConflict));
    }

    #[test]
    fn an_attempt_allowed_beyond_the_limit_is_caught(steps in prop::collection::vec(step(), 1..60)) {
        let mut history = model_history(&steps);
        for remaining in (0..6).rev() {
            attempt(&mut history, 7, 201, remaining.min(4), 60);
        }
        prop_assert!(kinds(&history.check()).contains(&AnomalyKind::RateLimitExceeded));
    }
}
