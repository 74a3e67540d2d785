use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Prometheus scrape endpoint, in the OpenMetrics text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.redis.publish_pool_status();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
}
