//! Wiring: the state, the router and the server. `build` binds the listener, so tests can ask for port 0 and
//! read the bound address before serving.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Settings;
use crate::deadline::Deadline;
use crate::metrics::Metrics;
use crate::redis_pool::Dialer;
use crate::routes::router;
use crate::sources::Sources;
use crate::state::{AppState, StateError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    State(#[from] StateError),
}

/// The service as the deterministic simulation drives it: its router, in-process, and its
/// metrics, read directly.
pub struct Simulated {
    pub router: axum::Router,
    pub metrics: Arc<Metrics>,
}

impl Simulated {
    /// The service built from `settings`, reaching Redis through `dialer`, with randomness and
    /// the wall clock from `sources` and passwords hashed on the caller's task (a thread of its
    /// own would run outside the simulation's clock). Nothing here touches the network.
    pub fn build(settings: Settings, sources: Arc<Sources>, dialer: Arc<dyn Dialer>) -> Result<Self, StateError> {
        let state = AppState::simulated(settings, sources, dialer)?;
        let metrics = Arc::clone(&state.metrics);
        Ok(Self { router: router(state), metrics })
    }
}

/// A bound, not yet serving, application.
#[derive(Debug)]
pub struct App {
    listener: tokio::net::TcpListener,
    state: AppState,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let addr = SocketAddr::new(settings.http.host, settings.http.port);
        let state = AppState::new(settings)?;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish for up to
    /// `SHUTDOWN_TIMEOUT` and closes every connection still open.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let redis = self.state.redis.clone();
        tokio::spawn(async move {
            let deadline = Deadline::after(redis.settings().operation_timeout);
            for (shard, error) in redis.check_primaries(deadline).await.failing {
                tracing::warn!(%error, shard, "redis is not reachable at startup; serving anyway, and /health reports it");
            }
        });
        let http = self.state.settings.http.clone();
        crate::server::serve(self.listener, router(self.state), http, shutdown).await
    }
}
