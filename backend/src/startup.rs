//! Wiring: state, router and server. `build` binds the listener, so tests can ask for port 0 and
//! read the bound address before serving.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Router};
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Settings;
use crate::error::ApiError;
use crate::metrics::{HttpLabels, Metrics, RouteLabels};
use crate::rate_limit::{RateLimiter, limit_registrations};
use crate::redis_pool::{RedisPool, SetupError};
use crate::routes;
use crate::users::UserStore;

/// Registration bodies are three short strings; anything near this size is abuse.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Shared by every handler; clones are cheap.
#[derive(Clone, Debug)]
pub struct AppState {
    pub redis: RedisPool,
    pub users: UserStore,
    pub registration_limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    /// One password hash at a time per core: more would only add memory, not throughput.
    pub password_hashing: Arc<Semaphore>,
}

impl AppState {
    pub fn new(settings: Settings) -> Result<Self, SetupError> {
        let metrics = Arc::new(Metrics::new());
        let redis = RedisPool::new(settings.redis.clone(), metrics.redis.clone())?;
        Ok(Self {
            users: UserStore::new(redis.clone()),
            registration_limiter: RateLimiter::new(redis.clone(), settings.rate_limit, "register"),
            redis,
            metrics,
            settings: Arc::new(settings),
            password_hashing: Arc::new(Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from))),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Redis(#[from] SetupError),
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

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish. The request
    /// timeout layer bounds how long that can take.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let redis = self.state.redis.clone();
        tokio::spawn(async move {
            if let Err(error) = redis.ping().await {
                tracing::warn!(%error, "redis is not reachable at startup; serving anyway, and /health reports it");
            }
        });
        let router = router(self.state);
        axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

pub fn router(state: AppState) -> Router {
    let register = post(routes::register::register)
        .route_layer(middleware::from_fn_with_state(state.clone(), limit_registrations));
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/livez", get(routes::health::livez))
        .route("/metrics", get(routes::metrics::metrics))
        .route("/api/v1/auth/register", register)
        .route("/api/v1/users/{id}", get(routes::users::find))
        .fallback(routes::fallback::not_found)
        .method_not_allowed_fallback(routes::fallback::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), record_http_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request| {
                            let request_id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|value| value.to_str().ok())
                                .unwrap_or_default();
                            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(HandleErrorLayer::new(|_: BoxError| async { ApiError::RequestTimeout }))
                .timeout(state.settings.http.request_timeout),
        )
        .with_state(state)
}

async fn record_http_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned().into();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".into(), |path| path.as_str().to_owned().into());
    let response = next.run(request).await.into_response();
    let http = &state.metrics.http;
    let status = response.status().as_u16();
    http.requests
        .get_or_create(&HttpLabels {
            method: std::borrow::Cow::clone(&method),
            route: std::borrow::Cow::clone(&route),
            status,
        })
        .inc();
    http.duration.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    response
}
