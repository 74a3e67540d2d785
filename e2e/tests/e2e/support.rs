//! Shared helpers: starting stacks and waiting on behaviour against deadlines.

use std::time::Duration;

use e2e::{Stack, StackOptions};
pub(crate) use testkit::poll_until;

/// Slack added to every bound derived from a configured timeout, for a busy 2-core machine.
pub(crate) const MARGIN: Duration = Duration::from_secs(2);

pub(crate) async fn stack(options: StackOptions) -> Stack {
    match Stack::start(options).await {
        Ok(stack) => stack,
        Err(error) => panic!("the e2e stack did not start: {error}"),
    }
}

/// `/health`'s status and `redis_status`.
pub(crate) async fn health(stack: &Stack) -> (u16, String) {
    let answer = stack.backend().health().await.expect("the backend answers /health");
    (answer.status, answer.field("redis_status").as_str().unwrap_or_default().to_owned())
}

pub(crate) fn connected(health: &(u16, String)) -> bool {
    health.0 == 200 && health.1 == "connected"
}

pub(crate) fn disconnected(health: &(u16, String)) -> bool {
    health.0 == 503 && health.1 == "disconnected"
}

/// A unique email per call, so that registrations never collide across or within tests.
pub(crate) fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Checks a recorded history and fails the test with the analysis unless it is valid, accepting
/// up to `lost_allowed` lost accounts.
pub(crate) fn valid(ops: &[history::Op], lost_allowed: u64) -> history::Analysis {
    let analysis = history::check(ops, history::Options { lost_allowed });
    assert_eq!(analysis.verdict, history::Verdict::Valid, "the history's check:\n{analysis}");
    analysis
}
