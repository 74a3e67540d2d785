//! `POST /api/v1/auth/register`. The rate limit runs before this handler, as route middleware.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};

use crate::deadline::Deadline;
use crate::registration::Registration;
use crate::routes::error::ApiError;
use crate::routes::json_body::JsonBody;
use crate::state::AppState;
use crate::users::{Created, User};

pub(crate) async fn register(
    State(state): State<AppState>,
    deadline: Deadline,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<User>), ApiError> {
    let registration = Registration::from_json(&body).map_err(ApiError::Validation)?;
    let password_hash = state.password_hasher.hash(registration.password).await?;
    let user = User::new(registration.email, registration.name, &state.sources);
    match state.users.create(&user, &password_hash, deadline).await? {
        Created::User => {
            tracing::info!(user_id = %user.id, "user registered");
            Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/v1/users/{}", user.id))], Json(user)))
        }
        Created::EmailTaken => Err(ApiError::EmailTaken),
    }
}
