//! Waiting for the harness's own steps (a node started again, a replica in sync, a cluster
//! formed): a failure is an error the chaos runner reports, not a panic.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a step of the harness may take before it gives up.
const WITHIN: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Asks `done` until it says yes, for at most [`WITHIN`]; an error from `done` ends the wait.
pub(crate) async fn until<F, Fut>(what: &str, mut done: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + WITHIN;
    loop {
        if done().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Setup(format!("{what}: not done within {WITHIN:?}")));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
