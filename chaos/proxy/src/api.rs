//! Toxiproxy 2.12's HTTP API.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::json;

use crate::error::ApiError;
use crate::model::{ProxyInput, ProxyPatch, ToxicInput, ToxicPatch, parse_body};
use crate::store::ProxyStore;

/// The Toxiproxy release whose API this server follows.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

type Store = State<Arc<ProxyStore>>;

pub fn router(store: Arc<ProxyStore>) -> Router {
    Router::new()
        .route("/reset", post(reset))
        .route("/proxies", get(list_proxies).post(create_proxy))
        .route("/populate", post(populate))
        .route("/proxies/{proxy}", get(show_proxy).patch(update_proxy).post(update_proxy).delete(delete_proxy))
        .route("/proxies/{proxy}/toxics", get(list_toxics).post(create_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).patch(update_toxic).post(update_toxic).delete(delete_toxic),
        )
        .route("/version", get(version))
        .fallback(|| async { ApiError { status: StatusCode::NOT_FOUND, message: "not found".to_owned() } })
        .method_not_allowed_fallback(|| async {
            ApiError { status: StatusCode::METHOD_NOT_ALLOWED, message: "method not allowed".to_owned() }
        })
        .layer(middleware::from_fn(refuse_browsers))
        .with_state(store)
}

/// Toxiproxy refuses browsers, so that a web page cannot drive a developer's local proxy.
async fn refuse_browsers(request: Request, next: Next) -> Response {
    let from_browser = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .is_some_and(|agent| agent.starts_with("Mozilla/"));
    if from_browser { ApiError::forbidden_browser().into_response() } else { next.run(request).await }
}

fn warn_if_deprecated(method: &Method, what: &str) {
    if method == Method::POST {
        tracing::warn!("{what}: HTTP method POST is deprecated; use PATCH");
    }
}

async fn reset(State(store): Store) -> Result<StatusCode, ApiError> {
    store.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_proxies(State(store): Store) -> impl IntoResponse {
    Json(store.list().await)
}

async fn create_proxy(State(store): Store, body: Bytes) -> Result<impl IntoResponse, ApiError> {
    let input: ProxyInput = parse_body(&body)?;
    Ok((StatusCode::CREATED, Json(store.create(input).await?)))
}

async fn populate(State(store): Store, body: Bytes) -> Result<impl IntoResponse, ApiError> {
    let inputs: Vec<ProxyInput> = parse_body(&body)?;
    let proxies = store.populate(inputs).await?;
    Ok((StatusCode::CREATED, Json(json!({ "proxies": proxies }))))
}

async fn show_proxy(State(store): Store, Path(proxy): Path<String>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(store.get(&proxy).await?))
}

async fn update_proxy(
    State(store): Store,
    method: Method,
    Path(proxy): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    warn_if_deprecated(&method, "proxy update");
    store.get(&proxy).await?;
    let patch: ProxyPatch = parse_body(&body)?;
    Ok(Json(store.update(&proxy, patch).await?))
}

async fn delete_proxy(State(store): Store, Path(proxy): Path<String>) -> Result<StatusCode, ApiError> {
    store.delete(&proxy).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_toxics(State(store): Store, Path(proxy): Path<String>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(store.toxics(&proxy).await?))
}

async fn create_toxic(
    State(store): Store,
    Path(proxy): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    // The proxy is looked up first, so that an unknown proxy is a 404 whatever the body says.
    store.get(&proxy).await?;
    let input: ToxicInput = parse_body(&body)?;
    Ok(Json(store.add_toxic(&proxy, input).await?))
}

async fn show_toxic(
    State(store): Store,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(store.toxic(&proxy, &toxic).await?))
}

async fn update_toxic(
    State(store): Store,
    method: Method,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    warn_if_deprecated(&method, "toxic update");
    store.toxic(&proxy, &toxic).await?;
    let patch: ToxicPatch = parse_body(&body)?;
    Ok(Json(store.update_toxic(&proxy, &toxic, patch).await?))
}

async fn delete_toxic(
    State(store): Store,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    store.remove_toxic(&proxy, &toxic).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn version() -> impl IntoResponse {
    Json(json!({ "version": TOXIPROXY_VERSION, "server": concat!("chaos-proxy ", env!("CARGO_PKG_VERSION")) }))
}
