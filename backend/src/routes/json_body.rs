//! The JSON body of a request, read within a bound, with every transport-level problem mapped onto
//! [`ApiError`] so that even a wrong content type gets a JSON answer.

use std::pin::Pin;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use bytes::BytesMut;
use http_body::Body as _;
use serde_json::Value;

use crate::routes::error::ApiError;

/// Registration bodies are three short strings; anything near this size is abuse.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// An oversized body up to this size is still read, and thrown away, before the 413 goes out. A
/// client that writes its whole body before reading (most simple clients do) would otherwise be
/// writing into a socket the server closed, and see a reset instead of its answer. Bodies larger
/// than this, or announced with `Expect: 100-continue`, are answered at once.
pub(crate) const DRAIN_LIMIT_BYTES: usize = 8 * 1024 * 1024;

pub(crate) struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = read_bounded(&parts.headers, body).await?;
        // axum's own checks, content type and syntax, on a body known to be small.
        match Json::<Value>::from_request(Request::from_parts(parts, Body::from(bytes)), state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(_) | JsonRejection::JsonDataError(_)) => Err(ApiError::MalformedJson),
            Err(_) => Err(ApiError::UnreadableBody),
        }
    }
}

async fn read_bounded(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES };
    if !worth_draining(headers) {
        return Err(too_large);
    }
    let mut kept = BytesMut::new();
    let read = read_each(body, |data| {
        if kept.len() + data.len() <= MAX_BODY_BYTES {
            kept.extend_from_slice(data);
        }
    })
    .await?;
    if read > MAX_BODY_BYTES { Err(too_large) } else { Ok(kept.freeze()) }
}

/// Reads what is left of a body that will not be used, and drops it, so that a client still
/// writing it reads the refusal that follows instead of a reset: a server that closes on unread
/// data makes the kernel answer with RST, and the client's write fails before it reads a byte.
pub(crate) async fn discard(headers: &HeaderMap, body: Body) {
    if worth_draining(headers) {
        let _ = read_each(body, |_| {}).await;
    }
}

/// False when reading the body is pointless or too costly: the client announced more than
/// [`DRAIN_LIMIT_BYTES`], or more than [`MAX_BODY_BYTES`] while waiting for `100 Continue` (it
/// sends nothing until told to).
fn worth_draining(headers: &HeaderMap) -> bool {
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    let waits_for_continue =
        headers.get(header::EXPECT).is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    !announced.is_some_and(|length| length > DRAIN_LIMIT_BYTES || (length > MAX_BODY_BYTES && waits_for_continue))
}

/// Hands each data frame to `keep` and counts the bytes, up to [`DRAIN_LIMIT_BYTES`]; past that
/// the body is too large to be worth reading.
async fn read_each(mut body: Body, mut keep: impl FnMut(&[u8])) -> Result<usize, ApiError> {
    let mut read = 0_usize;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| ApiError::UnreadableBody)?.into_data() else { continue };
        read = read.saturating_add(data.len());
        if read > DRAIN_LIMIT_BYTES {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
        }
        keep(&data);
    }
    Ok(read)
}
