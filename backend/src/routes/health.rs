//! Readiness (`/health`, which checks Redis) and liveness (`/livez`, which does not).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::deadline::Deadline;
use crate::state::AppState;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Health {
    pub status: &'static str,
    /// `connected`, `disconnected`, or, in cluster mode, `degraded` when some shards answer and
    /// others do not.
    pub redis_status: &'static str,
    /// Cluster mode only: how many shards there are, and how many did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<Shards>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Shards {
    pub total: usize,
    pub unavailable: usize,
}

/// 200 when Redis answers as a primary (every shard's primary, in cluster mode), 503 otherwise:
/// a replica (the old primary after a failover) cannot take a registration. One attempt per
/// shard, so the answer comes within the operation timeout even when packets to Redis are
/// silently dropped; while a breaker is open it comes at once.
pub(crate) async fn health(State(state): State<AppState>, deadline: Deadline) -> (StatusCode, Json<Health>) {
    let check = state.redis.check_primaries(deadline).await;
    for (shard, error) in &check.failing {
        tracing::error!(%error, shard, "health check: redis is not available");
    }
    let unavailable = check.failing.len();
    let (status, redis_status) = match unavailable {
        0 => ("healthy", "connected"),
        failing if failing < check.shards => ("unhealthy", "degraded"),
        _ => ("unhealthy", "disconnected"),
    };
    let shards = state.redis.is_cluster().then_some(Shards { total: check.shards, unavailable });
    let code = if unavailable == 0 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Health { status, redis_status, shards }))
}

#[derive(Debug, Serialize)]
pub(crate) struct Live {
    pub status: &'static str,
}

/// The process is up and serving HTTP. Never touches Redis: a container restarted because Redis
/// is down would not bring Redis back.
pub(crate) async fn livez() -> Json<Live> {
    Json(Live { status: "alive" })
}
