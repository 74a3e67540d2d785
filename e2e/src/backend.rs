//! The backend: its image, its settings for a run, and a typed HTTP client.
//!
//! The harness talks to the backend only over HTTP, as its users do.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gift_genie_settings::Settings;

use crate::timing::{Setting, Timeouts};
use serde_json::{Value, json};
use testcontainers::Image;
use testcontainers::core::{ContainerPort, WaitFor};

use crate::error::{Error, Result};
use crate::images;

pub const HTTP_PORT: ContainerPort = ContainerPort::Tcp(8080);

#[derive(Debug, Clone)]
pub(crate) struct BackendImage {
    name: String,
    tag: String,
    env: BTreeMap<String, String>,
}

impl BackendImage {
    pub(crate) fn new(name: impl Into<String>, tag: impl Into<String>, config: &BackendConfig) -> Self {
        Self { name: name.into(), tag: tag.into(), env: config.env().clone() }
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
/// they read are always written out explicitly and read back with the backend's own code
/// ([`gift_genie_settings`]): a bound never rests on a default copied from the backend, and a
/// value the backend would refuse is refused here, in the backend's words, before any container
/// starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    env: BTreeMap<String, String>,
}

use gift_genie_settings::timeout::{
    REDIS_BREAKER_PROBE_INTERVAL as PROBE_INTERVAL, REDIS_CONNECT_TIMEOUT as CONNECT_TIMEOUT,
    REDIS_OPERATION_TIMEOUT as OPERATION_TIMEOUT, REDIS_POOL_WAIT_TIMEOUT as POOL_WAIT_TIMEOUT,
};

/// Writes a duration so that the backend reads it back exactly.
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

    /// The environment the backend container gets.
    pub(crate) fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// The settings the backend reads from this environment, or every problem it would refuse
    /// to start with, one per line, as it prints them.
    pub fn settings(&self) -> Result<Settings, String> {
        Settings::from_lookup(|name| self.env.get(name).cloned())
            .map_err(|error| error.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    }

    /// Checks the environment as the backend will, naming every variable it would refuse.
    pub fn validate(&self) -> Result<(), String> {
        self.settings().map(drop)
    }

    fn valid(&self) -> Settings {
        self.settings().unwrap_or_else(|problems| panic!("the stack validated its backend settings: {problems}"))
    }

    pub fn operation_timeout(&self) -> Duration {
        self.valid().redis.operation_timeout
    }

    pub fn connect_timeout(&self) -> Duration {
        self.valid().redis.connect_timeout
    }

    pub fn probe_interval(&self) -> Duration {
        self.valid().redis.breaker.probe_interval
    }

    pub fn pool_wait_timeout(&self) -> Duration {
        self.valid().redis.pool_wait_timeout
    }

    /// The longest the breaker's probe can take to notice that Redis is back: one interval, then
    /// a connect and a PING.
    pub fn recovery_bound(&self) -> Duration {
        self.timeouts().get(Setting::RecoveryBound)
    }

    /// The timeouts that experiments' relative timings follow.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts::of(&self.valid())
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
        self.get(series).unwrap_or(0.0)
    }

    /// The value of one series, if it was reported.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.0.get(series).copied()
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

    /// A registration from `client`, named in `X-Forwarded-For`, as a proxy in front of the
    /// backend would name it.
    pub async fn register_from(&self, email: &str, client: std::net::IpAddr) -> Result<Answer> {
        let body = json!({"email": email, "password": "e2e-passw0rd", "name": "E2E User"});
        let request = self
            .http
            .post(format!("{}/api/v1/auth/register", self.base))
            .header("x-forwarded-for", client.to_string())
            .json(&body);
        self.send(request, "POST /api/v1/auth/register".to_owned()).await
    }

    /// An attempt on `client`'s registration rate limit that costs the backend nothing else: its
    /// empty body is refused (422) once the attempt is counted.
    pub async fn attempt_from(&self, client: std::net::IpAddr) -> Result<Answer> {
        let request = self
            .http
            .post(format!("{}/api/v1/auth/register", self.base))
            .header("x-forwarded-for", client.to_string())
            .json(&json!({}));
        self.send(request, "POST /api/v1/auth/register".to_owned()).await
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
        assert_eq!(written.operation_timeout(), expected, "round trip");
    }

    #[rstest]
    #[case::not_a_duration("soon", "REDIS_CONNECT_TIMEOUT=\"soon\": expected a duration greater than zero")]
    #[case::zero("0", "REDIS_CONNECT_TIMEOUT=\"0\": expected a duration greater than zero")]
    #[case::beyond_a_day("25h", "and at most 24h")]
    fn a_setting_the_backend_would_refuse_is_refused_in_its_words(#[case] raw: &str, #[case] expected: &str) {
        let problem = BackendConfig::fast().set("REDIS_CONNECT_TIMEOUT", raw).validate().unwrap_err();
        assert!(problem.contains(expected), "{problem}");
    }
}
