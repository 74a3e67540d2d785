//! Prometheus metrics, served as OpenMetrics text on `GET /metrics`.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Latency buckets in seconds: from a loopback Redis round trip up to the 30 s request timeout.
const LATENCY_BUCKETS: [f64; 14] =
    [0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// One of `method_label`'s answers: the label set stays fixed whatever clients send.
    pub method: &'static str,
    /// The route template (`/api/v1/users/{id}`), never the raw path, so that cardinality stays fixed.
    pub route: Cow<'static, str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: Cow<'static, str>,
}

/// The method as a metric label: the standard methods (RFC 9110 and PATCH) by name, any other
/// as `other`, so that invented methods cannot add series.
pub(crate) fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DiscardReason {
    pub reason: &'static str,
}

impl From<&'static str> for DiscardReason {
    fn from(reason: &'static str) -> Self {
        Self { reason }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SettingLabels {
    /// The variable, as operators set it: `REDIS_OPERATION_TIMEOUT`.
    pub setting: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `primary` for a standalone Redis; a cluster shard's primary address (`10.0.0.3:6379`).
    pub shard: String,
    pub state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Handles to the Redis metrics; cheap to clone, all clones update the same series.
#[derive(Clone, Debug)]
pub struct RedisMetrics {
    pub commands: Family<CommandLabels, Counter>,
    pub command_duration: HistogramFamily<OperationLabels>,
    pub timeouts: Family<KindLabels, Counter>,
    pub retries: Family<OperationLabels, Counter>,
    pub errors: Family<KindLabels, Counter>,
    pub connections_opened: Counter,
    pub connections_discarded: Family<DiscardReason, Counter>,
    pub pool_max_size: Gauge,
    pub pool_connections: Gauge,
    pub pool_in_use: Gauge,
    pub pool_idle: Gauge,
    pub pool_waiting: Gauge,
    pub breaker_state: Family<StateLabels, Gauge>,
    pub breaker_opened: Counter,
}

#[derive(Clone, Debug)]
pub struct HttpMetrics {
    pub requests: Family<HttpLabels, Counter>,
    pub duration: HistogramFamily<RouteLabels>,
    /// `X-Forwarded-For` chains that could not name the client, so the peer was used instead.
    pub forwarded_for_ignored: Family<ReasonLabels, Counter>,
}

#[derive(Clone, Debug)]
pub struct HashingMetrics {
    pub in_progress: Gauge,
    pub rejected: Counter,
}

impl RedisMetrics {
    fn register(&self, r: &mut Registry) {
        r.register("commands", "Redis calls by operation and outcome (ok or error)", self.commands.clone());
        r.register(
            "command_duration_seconds",
            "Redis call latency, checkout and retries included",
            self.command_duration.clone(),
        );
        r.register("timeouts", "Redis timeouts by kind (connect or command)", self.timeouts.clone());
        r.register("retries", "Retried attempts of idempotent Redis operations", self.retries.clone());
        r.register("errors", "Failed Redis attempts by error kind", self.errors.clone());
        r.register("connections_opened", "Connections opened to Redis by the pool", self.connections_opened.clone());
        r.register(
            "connections_discarded",
            "Pooled connections thrown away, by reason",
            self.connections_discarded.clone(),
        );
        r.register("pool_max_size", "Most connections the pool may hold", self.pool_max_size.clone());
        r.register("pool_connections", "Connections the pool holds now", self.pool_connections.clone());
        r.register("pool_in_use", "Connections checked out of the pool", self.pool_in_use.clone());
        r.register("pool_idle", "Connections idle in the pool", self.pool_idle.clone());
        r.register("pool_waiting", "Calls waiting for a free connection", self.pool_waiting.clone());
        r.register(
            "breaker_state",
            "Circuit breaker state per shard: 1 for the current state, 0 otherwise",
            self.breaker_state.clone(),
        );
        r.register("breaker_opened", "Times the circuit breaker opened", self.breaker_opened.clone());
    }
}

impl HttpMetrics {
    fn register(&self, h: &mut Registry) {
        h.register("requests", "HTTP requests by method, route and status", self.requests.clone());
        h.register("request_duration_seconds", "HTTP request latency by method and route", self.duration.clone());
        h.register(
            "forwarded_for_ignored",
            "X-Forwarded-For chains ignored for the peer address, by reason (unparsable or short_chain)",
            self.forwarded_for_ignored.clone(),
        );
    }
}

impl HashingMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "hashes_in_progress",
            "Password hashes holding a worker, those whose client hung up included",
            self.in_progress.clone(),
        );
        r.register(
            "hash_rejected",
            "Registrations turned away because no hashing worker became free in time",
            self.rejected.clone(),
        );
    }
}

/// The registry and every metric the service exports.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// The timeouts the service runs with, so that tools that time themselves by them (the
    /// chaos runner against a deployed backend) read them rather than guess.
    pub settings: Family<SettingLabels, Gauge<f64, AtomicU64>>,
    pub redis: RedisMetrics,
    pub http: HttpMetrics,
    pub hashing: HashingMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let redis = RedisMetrics {
            commands: Family::default(),
            command_duration: Family::new_with_constructor(latency_histogram),
            timeouts: Family::default(),
            retries: Family::default(),
            errors: Family::default(),
            connections_opened: Counter::default(),
            connections_discarded: Family::default(),
            pool_max_size: Gauge::default(),
            pool_connections: Gauge::default(),
            pool_in_use: Gauge::default(),
            pool_idle: Gauge::default(),
            pool_waiting: Gauge::default(),
            breaker_state: Family::default(),
            breaker_opened: Counter::default(),
        };
        let http = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            forwarded_for_ignored: Family::default(),
        };
        let hashing = HashingMetrics { in_progress: Gauge::default(), rejected: Counter::default() };

        // Unprefixed, as every Prometheus client names them: resident memory for dashboards and
        // for the chaos runner's timeline against a deployed backend.
        registry.register_collector(Box::new(process_metrics::ProcessCollector));
        let settings = Family::<SettingLabels, Gauge<f64, AtomicU64>>::default();
        let service = registry.sub_registry_with_prefix("gift_genie");
        service.register_with_unit(
            "setting",
            "The service's timeouts, by the variable that sets each",
            Unit::Seconds,
            settings.clone(),
        );
        redis.register(service.sub_registry_with_prefix("redis"));
        http.register(service.sub_registry_with_prefix("http"));
        hashing.register(service.sub_registry_with_prefix("password"));

        Self { registry, settings, redis, http, hashing }
    }

    /// Publishes the timeouts of `settings`.
    pub(crate) fn publish_settings(&self, settings: &crate::config::Settings) {
        for (setting, value) in settings.timeouts() {
            self.settings.get_or_create(&SettingLabels { setting }).set(value.as_secs_f64());
        }
    }

    /// Renders every metric as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
