//! Waiting on behaviour against a deadline, never for a fixed time.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// Slack added to every bound derived from a configured timeout, for a busy 2-core machine: the
/// one margin of every suite.
pub const MARGIN: Duration = Duration::from_secs(2);

/// How long the loops here pause between two probes.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Calls `probe` until `done` accepts its output or `within` runs out. Returns the accepted output
/// and how long it took; panics with the last output seen, so a failure explains itself. For tests.
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
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A step that did not finish in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: not done within {within:?}")]
pub struct NotDone {
    pub what: String,
    pub within: Duration,
}

/// Asks `done` until it says yes, for at most `within`; an error from `done` ends the wait with
/// that error. For harnesses, whose failures are errors to report rather than panics.
pub async fn until<E, F, Fut>(what: &str, within: Duration, mut done: F) -> Result<(), E>
where
    E: From<NotDone>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        if done().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(NotDone { what: what.to_owned(), within }.into());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What a future returned, and how long it took.
#[derive(Debug)]
pub struct Timed<T> {
    pub value: T,
    pub elapsed: Duration,
}

pub async fn timed<T>(future: impl Future<Output = T>) -> Timed<T> {
    let started = Instant::now();
    let value = future.await;
    Timed { value, elapsed: started.elapsed() }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn polling_returns_the_first_output_that_is_done() {
        let calls = Cell::new(0);
        let (output, _) = poll_until(
            "the third call",
            Duration::from_secs(5),
            || {
                calls.set(calls.get() + 1);
                std::future::ready(calls.get())
            },
            |count| *count == 3,
        )
        .await;
        assert_eq!(output, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "never done: not reached within 100ms; last saw false")]
    async fn polling_gives_up_at_the_deadline_naming_the_last_output() {
        poll_until("never done", Duration::from_millis(100), || std::future::ready(false), |done| *done).await;
    }

    #[tokio::test]
    async fn a_harness_wait_ends_with_an_error_that_names_the_step() {
        let waited: Result<(), NotDone> = until("the step", Duration::from_millis(50), || async { Ok(false) }).await;
        assert_eq!(waited.unwrap_err().to_string(), "the step: not done within 50ms");
    }

    #[tokio::test]
    async fn a_harness_wait_stops_at_the_first_error_of_its_probe() {
        #[derive(Debug, PartialEq)]
        enum Failure {
            Broken,
            TimedOut,
        }
        impl From<NotDone> for Failure {
            fn from(_: NotDone) -> Self {
                Self::TimedOut
            }
        }
        let calls = Cell::new(0);
        let waited = until("the step", Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            std::future::ready(Err::<bool, _>(Failure::Broken))
        })
        .await;
        assert_eq!((waited, calls.get()), (Err(Failure::Broken), 1));
    }
}
