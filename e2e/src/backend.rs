//! The backend: its image, its settings for a run, and a typed HTTP client.
//!
//! The harness talks to the backend only over HTTP, as its users do.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testcontainers::Image;
use testcontainers::core::{ContainerPort, WaitFor};

use crate::error::{Error, Result};
use crate::images;

pub const HTTP_PORT: ContainerPort = ContainerPort::Tcp(8080);

#[derive(Debug, Clone)]
pub struct BackendImage {
    name: String,
    tag: String,
    env: BTreeMap<String, String>,
}

impl BackendImage {
    pub fn new(name: impl Into<String>, tag: impl Into<String>, config: &BackendConfig) -> Self {
        Self { name: name.into(), tag: tag.into(), env: config.env.clone() }
    }
}

impl Image for BackendImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![images::http_ready("/livez", HTTP_PORT)]
    }

    fn env_vars(&self) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        self.env.iter().map(|(key, value)| (key.as_str(), value.as_str()))
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[HTTP_PORT]
    }
}

/// The backend's environment for one stack. Tests derive their bounds from it, so the settings
/// they read are always written out explicitly and read back with the backend's own grammar
/// (`500ms`, `2s`, `1m 30s`, or bare seconds): a bound never rests on a default copied from the
/// backend, and a value the harness cannot read is an error, never a silent fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    env: BTreeMap<String, String>,
}

const OPERATION_TIMEOUT: &str = "REDIS_OPERATION_TIMEOUT";
const CONNECT_TIMEOUT: &str = "REDIS_CONNECT_TIMEOUT";
const PROBE_INTERVAL: &str = "REDIS_BREAKER_PROBE_INTERVAL";
const POOL_WAIT_TIMEOUT: &str = "REDIS_POOL_WAIT_TIMEOUT";

/// The duration settings the harness reads back.
const DURATIONS: [&str; 4] = [OPERATION_TIMEOUT, CONNECT_TIMEOUT, PROBE_INTERVAL, POOL_WAIT_TIMEOUT];

/// Reads a duration as the backend does: a humantime duration, or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let parsed = match raw.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Duration::try_from_secs_f64(seconds).ok(),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(raw).ok(),
    };
    parsed.ok_or_else(|| format!("{raw:?} is not a duration such as 500ms, 2s or 1m 30s"))
}

/// Writes a duration so that [`parse_duration`] and the backend read it back exactly.
pub fn format_duration(value: Duration) -> String {
    humantime::format_duration(value).to_string()
}

impl BackendConfig {
    /// The migration's settings, which are also the service's defaults: 5 s timeouts, a probe
    /// every second, a pool wait of a second.
    pub fn seed_defaults() -> Self {
        Self { env: BTreeMap::from([("LOG_FORMAT".to_owned(), "text".to_owned())]) }
            .with_operation_timeout(Duration::from_secs(5))
            .with_connect_timeout(Duration::from_secs(5))
            .with_duration(PROBE_INTERVAL, Duration::from_secs(1))
            .with_duration(POOL_WAIT_TIMEOUT, Duration::from_secs(1))
    }

    /// Short timeouts so that fault scenarios finish in seconds: 1 s operation and connect
    /// timeouts, a probe every 250 ms, and a breaker that opens after 3 failures.
    pub fn fast() -> Self {
        Self::seed_defaults()
            .with_operation_timeout(Duration::from_secs(1))
            .with_connect_timeout(Duration::from_secs(1))
            .with_duration(PROBE_INTERVAL, Duration::from_millis(250))
            .set("REDIS_BREAKER_FAILURE_THRESHOLD", "3")
            .set("REDIS_TCP_USER_TIMEOUT", "3s")
    }

    #[must_use]
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.insert(key.to_owned(), value.into());
        self
    }

    fn with_duration(self, key: &str, value: Duration) -> Self {
        self.set(key, format_duration(value))
    }

    #[must_use]
    pub fn with_operation_timeout(self, value: Duration) -> Self {
        self.with_duration(OPERATION_TIMEOUT, value)
    }

    #[must_use]
    pub fn with_connect_timeout(self, value: Duration) -> Self {
        self.with_duration(CONNECT_TIMEOUT, value)
    }

    pub(crate) fn with_redis_url(&self, url: &str) -> Self {
        self.clone().set("REDIS_URL", url)
    }

    /// Checks that every setting the harness reads back is a duration it understands, and names
    /// the first one that is not.
    pub fn validate(&self) -> Result<(), String> {
        for key in DURATIONS {
            if let Some(raw) = self.env.get(key) {
                parse_duration(raw).map_err(|problem| format!("{key}: {problem}"))?;
            }
        }
        Ok(())
    }

    fn duration(&self, key: &str) -> Duration {
        let raw = self.env.get(key).unwrap_or_else(|| panic!("{key} is always set by seed_defaults"));
        parse_duration(raw).unwrap_or_else(|problem| panic!("{key}: {problem}"))
    }

    pub fn operation_timeout(&self) -> Duration {
        self.duration(OPERATION_TIMEOUT)
    }

    pub fn connect_timeout(&self) -> Duration {
        self.duration(CONNECT_TIMEOUT)
    }

    pub fn probe_interval(&self) -> Duration {
        self.duration(PROBE_INTERVAL)
    }

    pub fn pool_wait_timeout(&self) -> Duration {
        self.duration(POOL_WAIT_TIMEOUT)
    }

    /// The longest the breaker's probe can take to notice that Redis is back: one interval, then
    /// a connect and a PING.
    pub fn recovery_bound(&self) -> Duration {
        self.probe_interval() + self.connect_timeout() + self.operation_timeout()
    }
}

/// One HTTP answer, with how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub elapsed: Duration,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn field(&self, name: &str) -> &Value {
        &self.body[name]
    }
}

/// Prometheus series by their full name with labels, such as
/// `gift_genie_redis_timeouts_total{kind="connect"}`.
#[derive(Debug, Clone, Default)]
pub struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .filter_map(|line| line.rsplit_once(' '))
                .filter_map(|(series, value)| value.parse().ok().map(|value| (series.to_owned(), value)))
                .collect(),
        )
    }

    /// The value of one series; 0 when it has not been reported yet, as for a counter never hit.
    pub fn value(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }
}

/// A client for one backend instance.
#[derive(Debug, Clone)]
pub struct BackendClient {
    http: reqwest::Client,
    base: String,
}

impl BackendClient {
    pub fn new(base: impl Into<String>) -> Self {
        // Far above any bound a test asserts, so that a hung request fails the test instead of
        // hanging it.
        Self::with_timeout(base, Duration::from_mins(1))
    }

    /// A client whose requests give up after `timeout`.
    pub fn with_timeout(base: impl Into<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().expect("an HTTP client");
        Self { http, base: base.into() }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send(&self, request: reqwest::RequestBuilder, description: String) -> Result<Answer> {
        let started = Instant::now();
        let response = request.send().await.map_err(|source| Error::Http { request: description.clone(), source })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(|source| Error::Http { request: description, source })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body, elapsed: started.elapsed(), headers })
    }

    pub async fn get(&self, path: &str) -> Result<Answer> {
        self.send(self.http.get(format!("{}{path}", self.base)), format!("GET {path}")).await
    }

    pub async fn health(&self) -> Result<Answer> {
        self.get("/health").await
    }

    pub async fn livez(&self) -> Result<Answer> {
        self.get("/livez").await
    }

    pub async fn register(&self, email: &str) -> Result<Answer> {
        let body = json!({"email": email, "password": "e2e-passw0rd", "name": "E2E User"});
        self.send(
            self.http.post(format!("{}/api/v1/auth/register", self.base)).json(&body),
            "POST /api/v1/auth/register".to_owned(),
        )
        .await
    }

    pub async fn user(&self, id: &str) -> Result<Answer> {
        self.get(&format!("/api/v1/users/{id}")).await
    }

    pub async fn metrics(&self) -> Result<Metrics> {
        let answer = self.get("/metrics").await?;
        Ok(Metrics::parse(answer.body.as_str().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[test]
    fn metrics_are_read_by_series_with_labels() {
        let metrics = Metrics::parse(
            "# TYPE x counter\ngift_genie_redis_timeouts_total{kind=\"connect\"} 3\ngift_genie_redis_pool_max_size 50\n# EOF\n",
        );
        assert!((metrics.value("gift_genie_redis_timeouts_total{kind=\"connect\"}") - 3.0).abs() < f64::EPSILON);
        assert!((metrics.value("gift_genie_redis_pool_max_size") - 50.0).abs() < f64::EPSILON);
        assert!(metrics.value("missing").abs() < f64::EPSILON);
    }

    #[test]
    fn bounds_follow_the_configured_timeouts() {
        let config = BackendConfig::fast();
        assert_eq!(config.operation_timeout(), Duration::from_secs(1));
        assert_eq!(config.recovery_bound(), Duration::from_millis(2250));
        assert_eq!(BackendConfig::seed_defaults().operation_timeout(), Duration::from_secs(5));
    }

    #[rstest]
    #[case::seconds("2s", Duration::from_secs(2))]
    #[case::milliseconds("1500ms", Duration::from_millis(1500))]
    #[case::minutes("1m", Duration::from_mins(1))]
    #[case::bare_seconds_as_the_backend_reads_them("0.25", Duration::from_millis(250))]
    fn a_setting_in_any_unit_the_backend_reads_is_read_back_exactly(#[case] raw: &str, #[case] expected: Duration) {
        let config = BackendConfig::fast().set("REDIS_OPERATION_TIMEOUT", raw);
        assert_eq!(config.operation_timeout(), expected);
        assert_eq!(config.recovery_bound(), Duration::from_millis(250) + Duration::from_secs(1) + expected);
        let written = BackendConfig::fast().with_operation_timeout(expected);
        assert_eq!(parse_duration(written.env["REDIS_OPERATION_TIMEOUT"].as_str()), Ok(expected), "round trip");
    }

    #[test]
    fn a_setting_the_harness_cannot_read_is_named_not_replaced_by_a_default() {
        let config = BackendConfig::fast().set("REDIS_CONNECT_TIMEOUT", "soon");
        let problem = config.validate().unwrap_err();
        assert!(problem.starts_with("REDIS_CONNECT_TIMEOUT: \"soon\" is not a duration"), "{problem}");
    }
}
