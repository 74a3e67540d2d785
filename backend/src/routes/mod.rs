//! The HTTP boundary: the route table and its layers, one file per resource, the middleware, and
//! the one error type every handler answers with.

mod client_ip;
pub(crate) mod error;
pub(crate) mod fallback;
pub(crate) mod health;
pub(crate) mod json_body;
pub(crate) mod metrics;
pub(crate) mod middleware;
pub(crate) mod register;
pub(crate) mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::sources::Sources;
use crate::state::AppState;

pub(crate) fn router(state: AppState) -> Router {
    let register = post(register::register)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), middleware::limit_registrations));
    Router::new()
        .route("/health", get(health::health))
        .route("/livez", get(health::livez))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/auth/register", register)
        .route("/api/v1/users/{id}", get(users::find))
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::enforce_deadline))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::record_http_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(RequestIds(Arc::clone(&state.sources))))
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
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}

/// Request ids (UUIDs, as `MakeRequestUuid` makes) drawn from the service's randomness, so that
/// a simulated run names its requests the same way every time.
#[derive(Clone)]
struct RequestIds(Arc<Sources>);

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&self.0.uuid().to_string()).ok().map(RequestId::new)
    }
}
