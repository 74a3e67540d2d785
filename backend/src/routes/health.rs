//! Readiness (`/health`, which checks Redis) and liveness (`/livez`, which does not).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::deadline::Deadline;
use crate::state::AppState;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Health {
    pub status: &'static str,
    pub redis_status: &'static str,
}

/// 200 when Redis answers as a primary, 503 otherwise: a replica (the old primary after a
/// failover) cannot take a registration. One attempt, so the answer comes within the operation
/// timeout even when packets to Redis are silently dropped; while the circuit breaker is open it
/// comes at once.
pub async fn health(State(state): State<AppState>, deadline: Deadline) -> (StatusCode, Json<Health>) {
    match state.redis.check_primary(deadline).await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "healthy", redis_status: "connected" })),
        Err(error) => {
            tracing::error!(%error, "health check: redis is not available");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unhealthy", redis_status: "disconnected" }))
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Live {
    pub status: &'static str,
}

/// The process is up and serving HTTP. Never touches Redis: a container restarted because Redis
/// is down would not bring Redis back.
pub async fn livez() -> Json<Live> {
    Json(Live { status: "alive" })
}
