//! Errors as Toxiproxy sends them: `{"error":"proxy not found","status":404}` and a newline, as
//! Go's `http.Error` writes it, with its `text/plain` content type.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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

    pub fn invalid_toxic_type() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid toxic type")
    }

    pub fn toxic_exists() -> Self {
        Self::new(StatusCode::CONFLICT, "toxic already exists")
    }

    pub fn toxic_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "toxic not found")
    }

    /// An error Toxiproxy did not give a status, such as a listen error: its text, as a 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The JSON of the error, as the body of most answers and inside a populate answer.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody { error: &self.message, status: self.status.as_u16() }
    }
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub status: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        text_error(self.status, format!("{}\n", crate::model::go_json(&self.body())))
    }
}

/// A body as Go's `http.Error` sends it: plain text, not to be sniffed, ending in a newline.
pub(crate) fn text_error(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
