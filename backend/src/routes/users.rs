use axum::Json;
use axum::extract::{Path, State};
use uuid::Uuid;

use crate::routes::error::ApiError;
use crate::state::AppState;
use crate::users::User;

/// `GET /api/v1/users/{id}`: an idempotent read, so it is retried through short Redis outages.
pub async fn find(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<User>, ApiError> {
    // A malformed id names no user; 404 says so without a second error shape.
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound)?;
    state.users.find(id).await?.map(Json).ok_or(ApiError::NotFound)
}
