//! Errors in Toxiproxy's shape: `{"error": "...", "status": N}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::model::TOXIC_TYPES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn bad_request_body(detail: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("bad request body: {detail}"))
    }

    pub fn missing_field(field: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("missing required field: {field}"))
    }

    pub fn proxy_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "proxy not found")
    }

    pub fn proxy_exists() -> Self {
        Self::new(StatusCode::CONFLICT, "proxy already exists")
    }

    pub fn invalid_stream() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "stream was invalid, can be either upstream or downstream")
    }

    pub fn invalid_toxic_type(kind: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("invalid toxic type: {kind:?}, expected one of {}", TOXIC_TYPES.join(", ")),
        )
    }

    pub fn toxic_exists() -> Self {
        Self::new(StatusCode::CONFLICT, "toxic already exists")
    }

    pub fn toxic_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "toxic not found")
    }

    /// The listen address could not be bound: Toxiproxy answers 500 with the OS error.
    pub fn listen(addr: &str, error: &std::io::Error) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("listen tcp {addr}: {error}"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn forbidden_browser() -> Self {
        Self::new(StatusCode::FORBIDDEN, "user agent not allowed")
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    status: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(Body { error: &self.message, status: self.status.as_u16() })).into_response()
    }
}
