//! The one error type of the HTTP boundary.
//!
//! Every error leaves the service as JSON with a stable `error` code and a human `message`.
//! Internal causes are logged here and never sent to the client.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::hashing::HashError;
use crate::redis_pool::RedisError;
use crate::registration::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON")]
    MalformedJson,
    #[error("the request body must be JSON, sent with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body could not be read")]
    UnreadableBody,
    #[error("some fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("too many attempts; retry after {} seconds", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("the data store is unavailable; try again later")]
    Unavailable(#[source] RedisError),
    #[error("the server is too busy to take this request; retry after {} seconds", retry_after.as_secs())]
    Busy { retry_after: Duration },
    #[error("the request took too long and was cancelled")]
    RequestTimeout,
    #[error("no such resource")]
    NotFound,
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("an internal error occurred")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::UnreadableBody => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy { .. } | Self::RequestTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnreadableBody => "unreadable_body",
            Self::Validation(_) => "validation_failed",
            Self::EmailTaken => "email_taken",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "redis_unavailable",
            Self::Busy { .. } => "server_busy",
            Self::RequestTimeout => "request_timeout",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<RedisError> for ApiError {
    /// Outages and their fast failures are 503s worth retrying; a command Redis refuses is our
    /// bug, and retrying would not help.
    fn from(error: RedisError) -> Self {
        match error {
            RedisError::DeadlinePassed { .. } => Self::RequestTimeout,
            error if error.is_transient() => Self::Unavailable(error),
            error => Self::Internal(error.into()),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            // Come back about when a worker would have been free, in whole seconds as headers count.
            HashError::Busy(waited) => {
                let seconds = waited.as_secs() + u64::from(waited.subsec_nanos() > 0);
                Self::Busy { retry_after: Duration::from_secs(seconds.max(1)) }
            }
            error => Self::Internal(error.into()),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [FieldError]>,
    /// For internal errors: quoted to support, found next to its cause in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error_id = None;
        match &self {
            Self::Unavailable(cause) => {
                tracing::error!(error = %cause, "request failed: redis unavailable");
            }
            Self::Internal(cause) => {
                let id = uuid::Uuid::new_v4().to_string();
                tracing::error!(error_id = %id, error = ?cause, "request failed: internal error");
                error_id = Some(id);
            }
            _ => {}
        }
        let body = Body {
            error_id,
            error: self.code(),
            message: self.to_string(),
            fields: match &self {
                Self::Validation(fields) => Some(fields),
                _ => None,
            },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Self::RateLimited { retry_after } | Self::Busy { retry_after } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
        }
        response
    }
}
