//! Waiting for the harness's own steps (a node started again, a replica in sync, a cluster
//! formed): a failure is an error the chaos runner reports, not a panic. The loop is testkit's.

use std::future::Future;

use testkit::cluster::STEP_WITHIN;

use crate::error::Result;

/// Asks `done` until it says yes, for at most [`STEP_WITHIN`]; an error from `done` ends the wait.
pub(crate) async fn step<F, Fut>(what: &str, done: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    testkit::wait::until(what, STEP_WITHIN, done).await
}
