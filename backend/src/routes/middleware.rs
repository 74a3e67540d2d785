//! Middleware of the router: HTTP metrics for every request, the request's deadline, and the
//! registration rate limit.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::deadline::Deadline;
use crate::metrics::{HttpLabels, ReasonLabels, RouteLabels, method_label};
use crate::rate_limit::Decision;
use crate::routes::client_ip::client_ip;
use crate::routes::error::ApiError;
use crate::routes::json_body;
use crate::state::AppState;

/// Counts every request, those cut by the request timeout included: it runs outside
/// [`enforce_deadline`].
pub(crate) async fn record_http_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method().as_str());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".into(), |path| path.as_str().to_owned().into());
    let response = next.run(request).await;
    let http = &state.metrics.http;
    let status = response.status().as_u16();
    http.requests.get_or_create(&HttpLabels { method, route: std::borrow::Cow::clone(&route), status }).inc();
    http.duration.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    response
}

/// Gives the request its deadline, for the handlers to pass down, and answers 503 when the work
/// outlasts it.
pub(crate) async fn enforce_deadline(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let deadline = Deadline::after(state.settings.http.request_timeout);
    request.extensions_mut().insert(deadline);
    // `timeout_at` polls the request before its timer, so work that gives up at the deadline
    // itself (a Redis call) answers with its own, more telling error.
    match tokio::time::timeout_at(deadline.instant(), next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => {
            // Every Redis call ends by the deadline with its own error: a cut here means some
            // work does not honour it.
            tracing::warn!(timeout = ?state.settings.http.request_timeout, "a request outlived its deadline and was cut");
            ApiError::RequestTimeout.into_response()
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Deadline {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Self>().copied().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("the request has no deadline: enforce_deadline is not layered"))
        })
    }
}

/// Middleware for the registration route: counts the attempt before the body is even read, and
/// fails closed with 503 when Redis cannot count it. A refused request's body is still read and
/// dropped before the answer, so that a client that writes its whole body first reads the answer.
pub(crate) async fn limit_registrations(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    deadline: Deadline,
    request: Request,
    next: Next,
) -> Response {
    let limiter = &state.registration_limiter;
    let client = client_ip(peer.ip(), request.headers(), limiter.trusted_proxy_hops()).unwrap_or_else(|untrusted| {
        let reason = untrusted.label();
        state.metrics.http.forwarded_for_ignored.get_or_create(&ReasonLabels { reason }).inc();
        tracing::debug!(%peer, reason, "X-Forwarded-For names no client; the peer's budget is used");
        peer.ip()
    });
    let (mut response, decision) = match limiter.check(client, deadline).await {
        Ok(decision) if decision.allowed => (next.run(request).await, decision),
        Ok(decision) => {
            tracing::info!(%client, "registration rate limit exceeded");
            (refuse(request, ApiError::RateLimited { retry_after: decision.reset_after }).await, decision)
        }
        Err(error) => return refuse(request, ApiError::from(error)).await,
    };
    response.headers_mut().extend(rate_limit_headers(&decision, "register"));
    response
}

/// `RateLimit-Policy` and `RateLimit` headers, as in draft-ietf-httpapi-ratelimit-headers.
fn rate_limit_headers(decision: &Decision, policy: &str) -> [(HeaderName, HeaderValue); 2] {
    let policy_header = format!("\"{policy}\";q={};w={}", decision.limit, decision.window.as_secs());
    let state_header = format!("\"{policy}\";r={};t={}", decision.remaining, decision.reset_after.as_secs());
    [
        (HeaderName::from_static("ratelimit-policy"), HeaderValue::try_from(policy_header).expect("ASCII header")),
        (HeaderName::from_static("ratelimit"), HeaderValue::try_from(state_header).expect("ASCII header")),
    ]
}

/// Answers `error` to a request whose body was not read, once the body is drained.
async fn refuse(request: Request, error: ApiError) -> Response {
    let (parts, body) = request.into_parts();
    json_body::discard(&parts.headers, body).await;
    error.into_response()
}
