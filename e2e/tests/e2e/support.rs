//! Shared helpers: starting stacks and waiting on behaviour against deadlines.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use e2e::{Stack, StackOptions};

/// Slack added to every bound derived from a configured timeout, for a busy 2-core machine.
pub const MARGIN: Duration = Duration::from_secs(2);

pub async fn stack(options: StackOptions) -> Stack {
    match Stack::start(options).await {
        Ok(stack) => stack,
        Err(error) => panic!("the e2e stack did not start: {error}"),
    }
}

/// Calls `probe` until `done` accepts its output or `within` runs out; returns the accepted output
/// and the time it took. A timeout panics with the last output seen.
pub async fn poll_until<T: Debug, Fut: Future<Output = T>>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> Fut,
    done: impl Fn(&T) -> bool,
) -> (T, Duration) {
    let started = Instant::now();
    loop {
        let output = probe().await;
        if done(&output) {
            return (output, started.elapsed());
        }
        assert!(started.elapsed() < within, "{what}: not reached within {within:?}; last saw {output:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `/health`'s status and `redis_status`.
pub async fn health(stack: &Stack) -> (u16, String) {
    let answer = stack.backend().health().await.expect("the backend answers /health");
    (answer.status, answer.field("redis_status").as_str().unwrap_or_default().to_owned())
}

pub fn connected(health: &(u16, String)) -> bool {
    health.0 == 200 && health.1 == "connected"
}

pub fn disconnected(health: &(u16, String)) -> bool {
    health.0 == 503 && health.1 == "disconnected"
}

/// A unique email per call, so that registrations never collide across or within tests.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}
