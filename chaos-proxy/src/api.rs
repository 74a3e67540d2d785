//! Toxiproxy 2.12's HTTP API: the routes of its `ApiServer.Routes`, answered as it answers them.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Serialize;

use crate::error::{ApiError, text_error};
use crate::metrics::{self, Metrics};
use crate::model::{ProxyFields, go_json};
use crate::request_id;
use crate::store::ProxyStore;

/// The Toxiproxy release whose API this server follows.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// This server's own name and version, for `-version`: the body of `/version` is Toxiproxy's, and
/// no answer names the server, as Go's `net/http` names none.
pub const SERVER: &str = concat!("chaos-proxy/", env!("CARGO_PKG_VERSION"));

static REQUEST_ID: HeaderName = HeaderName::from_static("x-toxiproxy-request-id");

#[derive(Clone)]
struct ApiState {
    store: Arc<ProxyStore>,
    metrics: Option<Arc<Metrics>>,
}

type Shared = State<ApiState>;

pub fn router(store: Arc<ProxyStore>, metrics: Option<Arc<Metrics>>) -> Router {
    let mut routes = Router::new()
        .route("/reset", post(reset))
        .route("/proxies", get(list_proxies).post(create_proxy))
        .route("/populate", post(populate))
        .route("/proxies/{proxy}", get(show_proxy).patch(update_proxy).post(update_proxy).delete(delete_proxy))
        .route("/proxies/{proxy}/toxics", get(list_toxics).post(create_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).patch(update_toxic).post(update_toxic).delete(delete_toxic),
        )
        .route("/version", get(version));
    if metrics.is_some() {
        routes = routes.route("/metrics", get(scrape));
    }
    routes
        // As gorilla/mux runs middleware only for a route that matched: a browser asking for a
        // path that does not exist gets the router's 404, not the 403.
        .route_layer(middleware::from_fn(refuse_browsers))
        .fallback(|| async { text_error(StatusCode::NOT_FOUND, "404 page not found\n".to_owned()) })
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .layer(middleware::from_fn(identify))
        .with_state(ApiState { store, metrics })
}

/// Every answer carries a request id, as Toxiproxy's `hlog.RequestIDHandler` sets it. Toxiproxy's
/// router skips its middleware for a path or method it has no route
/// for; the id is set there too, since no client is the worse for it.
async fn identify(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&request_id::new()) {
        headers.insert(REQUEST_ID.clone(), id);
    }
    response
}

/// Toxiproxy refuses browsers, so that a web page cannot drive a developer's local proxy.
async fn refuse_browsers(request: Request, next: Next) -> Response {
    let from_browser = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .is_some_and(|agent| agent.starts_with("Mozilla/"));
    if from_browser {
        text_error(StatusCode::FORBIDDEN, "User agent not allowed\n".to_owned())
    } else {
        next.run(request).await
    }
}

/// A JSON answer as Toxiproxy writes one: `json.Marshal`'s bytes, no newline.
fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let mut response = (status, go_json(value)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn warn_if_deprecated(method: &Method, what: &str) {
    if method == Method::POST {
        tracing::warn!("{what}: HTTP method POST is deprecated; use PATCH");
    }
}

async fn reset(State(state): Shared) -> Result<StatusCode, ApiError> {
    state.store.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_proxies(State(state): Shared) -> Response {
    json(StatusCode::OK, &state.store.list().await)
}

async fn create_proxy(State(state): Shared, body: Bytes) -> Result<Response, ApiError> {
    let defaults = ProxyFields { name: String::new(), listen: String::new(), upstream: String::new(), enabled: true };
    let fields = defaults.decode(&body)?;
    Ok(json(StatusCode::CREATED, &state.store.create(fields).await?))
}

/// Toxiproxy answers populate with the proxies it got through, and the error that stopped it
/// alongside, with that error's status: `{"error":…,"status":…,"proxies":[…]}`.
async fn populate(State(state): Shared, body: Bytes) -> Response {
    #[derive(Serialize)]
    struct Answer<'a> {
        #[serde(flatten)]
        error: Option<crate::error::ErrorBody<'a>>,
        proxies: Option<&'a [crate::model::ProxyView]>,
    }
    let populated = match ProxyFields::decode_list(&body) {
        Ok(list) => state.store.populate(list).await,
        Err(error) => crate::store::Populated { proxies: Vec::new(), error: Some(error) },
    };
    if let Some(error) = &populated.error {
        tracing::warn!(%error, "populate errors");
    }
    let status = populated.error.as_ref().map_or(StatusCode::CREATED, |error| error.status);
    // Go marshals an empty list of created proxies as null.
    let proxies = (!populated.proxies.is_empty()).then_some(populated.proxies.as_slice());
    json(status, &Answer { error: populated.error.as_ref().map(ApiError::body), proxies })
}

async fn show_proxy(State(state): Shared, Path(proxy): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &state.store.get(&proxy).await?))
}

async fn update_proxy(
    State(state): Shared,
    method: Method,
    Path(proxy): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    warn_if_deprecated(&method, "ProxyUpdate");
    Ok(json(StatusCode::OK, &state.store.update(&proxy, &body).await?))
}

async fn delete_proxy(State(state): Shared, Path(proxy): Path<String>) -> Result<StatusCode, ApiError> {
    state.store.delete(&proxy).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_toxics(State(state): Shared, Path(proxy): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &state.store.toxics(&proxy).await?))
}

/// Adding a toxic answers 200, not 201, as Toxiproxy does.
async fn create_toxic(State(state): Shared, Path(proxy): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &state.store.add_toxic(&proxy, &body).await?))
}

async fn show_toxic(State(state): Shared, Path((proxy, toxic)): Path<(String, String)>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &state.store.toxic(&proxy, &toxic).await?))
}

async fn update_toxic(
    State(state): Shared,
    method: Method,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    warn_if_deprecated(&method, "ToxicUpdate");
    Ok(json(StatusCode::OK, &state.store.update_toxic(&proxy, &toxic, &body).await?))
}

async fn delete_toxic(
    State(state): Shared,
    Path((proxy, toxic)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.store.remove_toxic(&proxy, &toxic).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Byte for byte as Toxiproxy's `Version` handler writes it.
async fn version() -> Response {
    let mut response = Response::new(Body::from(format!("{{\"version\": \"{TOXIPROXY_VERSION}\"}}\n")));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=utf-8"));
    response
}

async fn scrape(State(state): Shared) -> Response {
    let text = state.metrics.as_ref().map(|metrics| metrics.encode()).unwrap_or_default();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}
