//! Helpers the workspace's test suites share. Tests wait on behaviour against a deadline instead
//! of sleeping a fixed time, and time calls to compare them with the configured timeouts.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`poll_until`] pauses between two probes.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Calls `probe` until `done` accepts its output or `within` runs out. Returns the accepted output
/// and how long it took; panics with the last output seen, so a failure explains itself.
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
}
