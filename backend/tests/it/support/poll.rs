//! Waiting on behaviour against a deadline instead of sleeping a fixed time.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

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
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub struct Timed<T> {
    pub value: T,
    pub elapsed: Duration,
}

pub async fn timed<T>(future: impl Future<Output = T>) -> Timed<T> {
    let started = Instant::now();
    let value = future.await;
    Timed { value, elapsed: started.elapsed() }
}
