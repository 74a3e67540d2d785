//! The backend, served in-process on a free port, driven over real HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use gift_genie_backend::config::Settings;
use gift_genie_backend::startup::App;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Timeouts short enough for tests, long enough for a loaded 2-core machine.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_millis(400);
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(100);

pub(crate) struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

pub(crate) fn settings(redis_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let operation_timeout = format!("{}ms", OPERATION_TIMEOUT.as_millis());
    let probe_interval = format!("{}ms", PROBE_INTERVAL.as_millis());
    let mut vars: HashMap<&str, &str> = HashMap::from([
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("REDIS_URL", redis_url),
        ("REDIS_OPERATION_TIMEOUT", operation_timeout.as_str()),
        ("REDIS_CONNECT_TIMEOUT", operation_timeout.as_str()),
        ("REDIS_BREAKER_PROBE_INTERVAL", probe_interval.as_str()),
        ("RATE_LIMIT_MAX_ATTEMPTS", "1000"),
    ]);
    vars.extend(overrides.iter().copied());
    Settings::from_lookup(|name| vars.get(name).map(|value| (*value).to_owned())).expect("test settings are valid")
}

impl TestApp {
    pub(crate) async fn spawn(redis_url: &str, overrides: &[(&str, &str)]) -> Self {
        Self::spawn_with(settings(redis_url, overrides)).await
    }

    pub(crate) async fn spawn_with(settings: Settings) -> Self {
        let app = App::build(settings).await.expect("the app binds a free port");
        let addr = app.local_addr();
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = signal.await;
        }));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        Self { addr, client, shutdown: Some(shutdown), server: Some(server) }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("the backend answers")
    }

    pub(crate) async fn register(&self, body: &Value) -> reqwest::Response {
        self.client.post(self.url("/api/v1/auth/register")).json(body).send().await.expect("the backend answers")
    }

    /// The OpenMetrics text of `/metrics`.
    pub(crate) async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("metrics are text")
    }

    /// The value of one series (`name{labels}` exactly as exported), or `None` when absent.
    pub(crate) async fn metric(&self, series: &str) -> Option<f64> {
        metric(&self.metrics().await, series)
    }

    /// Asks the server to stop and waits until it has.
    pub(crate) async fn shut_down(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.take().expect("the server runs").await.expect("the server task does not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

pub(crate) fn user(email: &str) -> Value {
    json!({"email": email, "password": "s3cure-passw0rd", "name": "Test User"})
}

/// The value of `series` in OpenMetrics `text`, or `None` when it is not exported.
pub(crate) fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
