//! A Toxiproxy-compatible fault proxy: Toxiproxy 2.12's HTTP API over a data plane of its own
//! that follows Toxiproxy's link model, so that fault-injection tests run where Shopify's image
//! cannot be pulled.

pub mod api;
pub mod engine;
pub mod error;
pub mod flags;
pub mod metrics;
pub mod model;
pub mod request_id;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use metrics::Metrics;
use store::ProxyStore;

/// Creates the proxies listed in a populate file (`-config`), as Toxiproxy does at startup.
pub async fn populate_from_file(store: &ProxyStore, path: &Path) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    let body = tokio::fs::read(path).await.with_context(|| format!("cannot read -config {}", path.display()))?;
    let list = model::ProxyFields::decode_list(&body)
        .with_context(|| format!("-config {} is not a proxy list", path.display()))?;
    let populated = store.populate(list).await;
    match populated.error {
        Some(error) => Err(error).with_context(|| format!("cannot create the proxies of {}", path.display())),
        None => Ok(populated.proxies.len()),
    }
}

/// The runtime the server runs on, and its benchmark with it. Its worker count comes from
/// `CHAOS_PROXY_WORKERS` (default: one per CPU); 0 runs everything on the calling thread.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("CHAOS_PROXY_WORKERS").ok().and_then(|value| value.parse::<usize>().ok());
    match workers {
        Some(0) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(workers) => tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build(),
        None => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    }
}

/// Serves the API on `listener` until `shutdown` completes, then stops every proxy.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<ProxyStore>,
    metrics: Option<Arc<Metrics>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let result = axum::serve(listener, api::router(Arc::clone(&store), metrics)).with_graceful_shutdown(shutdown).await;
    store.stop_all().await;
    result
}

/// A server running in this process on a free loopback port, until it is dropped: for tests, and
/// for programs that embed the proxy. `seed` makes toxicity and jitter draws repeatable, as
/// `-seed`; the metrics flags are `-proxy-metrics` and `-runtime-metrics`.
pub struct InProcess {
    /// Where the API listens.
    pub addr: SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl InProcess {
    pub async fn start(seed: Option<u64>, proxy_metrics: bool, runtime_metrics: bool) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let metrics = Metrics::new(proxy_metrics, runtime_metrics).map(Arc::new);
        let store = Arc::new(ProxyStore::new(seed, metrics.as_ref().and_then(|metrics| metrics.proxies.clone())));
        tokio::spawn(serve(listener, store, metrics, async move {
            let _ = signal.await;
        }));
        Ok(Self { addr, _shutdown: shutdown })
    }

    /// The API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
