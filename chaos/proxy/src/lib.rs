//! A Toxiproxy-compatible fault proxy: Toxiproxy 2.12's HTTP API, served over the noxious
//! engine (forked in `chaos/noxious`), so that fault-injection tests run where Shopify's image
//! cannot be pulled.

pub mod api;
pub mod error;
pub mod flags;
pub mod model;
pub mod store;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use store::ProxyStore;

/// Creates the proxies listed in a populate file (`-config`), as Toxiproxy does at startup.
pub async fn populate_from_file(store: &ProxyStore, path: &Path) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    let body = tokio::fs::read(path).await.with_context(|| format!("cannot read -config {}", path.display()))?;
    let inputs = model::parse_body(&body).with_context(|| format!("-config {} is not a proxy list", path.display()))?;
    let created =
        store.populate(inputs).await.with_context(|| format!("cannot create the proxies of {}", path.display()))?;
    Ok(created.len())
}

/// Serves the API on `listener` until `shutdown` completes, then stops every proxy.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<ProxyStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let result = axum::serve(listener, api::router(Arc::clone(&store))).with_graceful_shutdown(shutdown).await;
    store.stop_all().await;
    result
}
