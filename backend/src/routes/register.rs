//! `POST /api/v1/auth/register`. The rate limit runs before this handler, as route middleware.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use serde_json::Value;

use crate::registration::{Registration, hash_password};
use crate::routes::MAX_BODY_BYTES;
use crate::routes::error::ApiError;
use crate::state::AppState;
use crate::users::{Created, NewUser, User};

/// A JSON body whose transport-level problems are mapped onto [`ApiError`], so that even a wrong
/// content type gets a JSON answer.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<Value>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(_) | JsonRejection::JsonDataError(_)) => Err(ApiError::MalformedJson),
            Err(JsonRejection::BytesRejection(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES })
            }
            Err(_) => Err(ApiError::UnreadableBody),
        }
    }
}

pub async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<User>), ApiError> {
    let registration = Registration::from_json(&body).map_err(ApiError::Validation)?;
    let password_hash = hash_password(registration.password, &state.password_hashing).await?;
    let new_user = NewUser { email: registration.email, name: registration.name, password_hash };
    match state.users.create(new_user).await? {
        Created::User(user) => {
            tracing::info!(user_id = %user.id, "user registered");
            Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/v1/users/{}", user.id))], Json(user)))
        }
        Created::EmailTaken => Err(ApiError::EmailTaken),
    }
}
