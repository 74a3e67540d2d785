//! `GET /api/v1/users/{id}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use uuid::Uuid;

use crate::deadline::Deadline;
use crate::routes::error::ApiError;
use crate::state::AppState;
use crate::users::User;

/// An idempotent read, so it is retried through short Redis outages.
pub(crate) async fn find(
    State(state): State<AppState>,
    deadline: Deadline,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<User>, ApiError> {
    // An id that is not UTF-8, or not a UUID, names no user: 404 says so without a second error
    // shape (axum's own rejection would be text/plain).
    let id: Uuid = id.ok().and_then(|Path(id)| id.parse().ok()).ok_or(ApiError::NotFound)?;
    state.users.find(id, deadline).await?.map(Json).ok_or(ApiError::NotFound)
}
