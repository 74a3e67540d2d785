//! Middleware of the router: HTTP metrics for every request, and the registration rate limit.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::client_ip::client_ip;
use crate::metrics::{HttpLabels, RouteLabels};
use crate::routes::error::ApiError;
use crate::state::AppState;

pub async fn record_http_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
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

/// Middleware for the registration route: counts the attempt before the body is even read, and
/// fails closed with 503 when Redis cannot count it.
pub async fn limit_registrations(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let limiter = &state.registration_limiter;
    let client = client_ip(peer.ip(), request.headers(), limiter.trusted_proxy_hops());
    let decision = match limiter.check(client).await {
        Ok(decision) => decision,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        tracing::info!(%client, "registration rate limit exceeded");
        ApiError::RateLimited { retry_after: decision.reset_after }.into_response()
    };
    response.headers_mut().extend(limiter.headers(&decision, "register"));
    response
}
