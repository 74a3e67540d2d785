//! The backend's typed settings, read from the environment once at startup.
//!
//! Every variable has a default taken from the Python service this backend replaces. A bad value
//! stops startup with one line per problem, naming the variable and the expected form; all
//! problems are reported at once so that a broken deployment is fixed in one round trip.
//!
//! This crate is the one owner of every variable's grammar and bounds: the backend reads its
//! environment with it, and the e2e harness and the chaos runner read the settings they give a
//! backend with it too, so that a value the backend would refuse is refused before anything
//! starts, with the backend's own words. The duration grammar ([`parse_duration`]) is also the
//! one experiment files use.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    pub rate_limit: RateLimitSettings,
    pub hashing: HashingSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub host: IpAddr,
    /// 0 asks the OS for a free port; the bound address is reported by the backend's `startup::App`.
    pub port: u16,
    /// Upper bound on any request once its head is in; every Redis call of the request shares
    /// this deadline.
    pub request_timeout: Duration,
    /// How long a client has, from the first byte of a request, to send the whole head.
    pub header_read_timeout: Duration,
    /// How long a connection may wait for its next request (its first, for a new one).
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// After SIGTERM, how long requests in flight may take before every connection is closed.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingSettings {
    /// Threads that hash passwords, each with its own preallocated argon2 memory.
    pub workers: usize,
    /// How long a registration may wait for a hashing thread before it is answered 503.
    pub queue_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub mode: RedisMode,
    pub url: RedisUrl,
    /// `REDIS_PASSWORD`, for platforms that inject the password as a secret apart from the URL
    /// (Scaleway's secret environment variables). Never together with a password in the URL.
    pub password: Option<SecretString>,
    /// PEM file with the CA that signed the server certificate, for `rediss://` endpoints that do
    /// not chain to a public root (Scaleway Managed Redis ships its own CA).
    pub tls_ca_file: Option<PathBuf>,
    pub pool_max_size: usize,
    pub pool_wait_timeout: Duration,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    pub keepalive: Option<KeepaliveSettings>,
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the kernel kills the
    /// socket. Keepalive alone never fires while data is in flight, which is the blackhole case.
    pub tcp_user_timeout: Option<Duration>,
    pub retry: RetrySettings,
    pub health_check_interval: Duration,
    pub breaker: BreakerSettings,
    /// A pooled connection older than this is closed instead of reused, so that the pool follows
    /// an endpoint that moved (a failover) even when the old address still answers.
    pub connection_max_lifetime: Duration,
    /// Replicas that must have an account before its registration is answered 201 (`WAIT`).
    pub wait_replicas: u32,
    pub key_prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveSettings {
    pub idle: Duration,
    pub interval: Duration,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Total attempts for idempotent operations, the first one included. 1 disables retries.
    pub max_attempts: u32,
    /// Base of the exponential backoff between attempts (full jitter, capped at one second).
    pub backoff: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive transport failures that open the breaker.
    pub failure_threshold: u32,
    /// How often the background probe tries Redis while the breaker is open.
    pub probe_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub max_attempts: u32,
    pub window: Duration,
    /// Number of reverse proxies in front of the service whose `X-Forwarded-For` entries are
    /// trusted. 0 means the socket peer is the client.
    pub trusted_proxy_hops: usize,
    /// IPv6 clients share one budget per network of this prefix length: one host usually
    /// holds a whole /64.
    pub ipv6_prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, from `RUST_LOG`.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A Redis URL whose password never reaches a log line or an error message: one node, or, for
/// cluster mode, several seed nodes separated by commas.
#[derive(Clone)]
pub struct RedisUrl {
    secret: SecretString,
    redacted: String,
}

impl RedisUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut shown = Vec::new();
        for node in raw.split(',').map(str::trim) {
            shown.push(Self::parse_node(node)?);
        }
        let schemes: Vec<bool> = shown.iter().map(|node| node.starts_with("rediss://")).collect();
        if schemes.windows(2).any(|pair| pair[0] != pair[1]) {
            return Err("expected every node to use the same scheme, redis:// or rediss://".to_owned());
        }
        Ok(Self { secret: SecretString::from(raw.to_owned()), redacted: shown.join(",") })
    }

    /// Checks one node's URL and gives it with its password hidden.
    fn parse_node(raw: &str) -> Result<String, String> {
        let url = url::Url::parse(raw).map_err(|_| "expected a URL such as redis://host:6379/0".to_owned())?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(format!("expected the redis:// or rediss:// scheme, got {}://", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("expected a host, as in redis://host:6379/0".to_owned());
        }
        let path = url.path().trim_start_matches('/');
        if !path.is_empty() && path.parse::<u32>().is_err() {
            return Err("expected a numeric database index after the host, as in redis://host:6379/0".to_owned());
        }
        let mut shown = url.clone();
        if url.password().is_some() {
            // `set_password` only fails for URLs that cannot have credentials; redis:// can.
            let _ = shown.set_password(Some("***"));
        }
        Ok(shown.to_string())
    }

    /// The URL with its password, for the Redis client only.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// Each node's URL with its password, for the Redis client only.
    pub fn expose_nodes(&self) -> impl Iterator<Item = &str> {
        self.secret.expose_secret().split(',').map(str::trim)
    }

    pub fn node_count(&self) -> usize {
        self.redacted.split(',').count()
    }

    pub fn uses_tls(&self) -> bool {
        self.redacted.starts_with("rediss://")
    }

    pub fn has_password(&self) -> bool {
        self.redacted.contains(":***@")
    }

    /// True when a node names a database other than 0, which Redis Cluster does not have.
    fn selects_a_database(&self) -> bool {
        self.redacted
            .split(',')
            .any(|node| url::Url::parse(node).is_ok_and(|url| !matches!(url.path().trim_start_matches('/'), "" | "0")))
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted)
    }
}

/// How Redis is deployed: one endpoint (standalone, or a high-availability pair behind one
/// address), or Redis Cluster with keys split over shards by hash slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisMode {
    Standalone,
    Cluster,
}

/// One variable that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub variable: &'static str,
    /// The offending value, already redacted where it may hold a secret.
    pub value: String,
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.expected)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.problems.len() == 1 { "" } else { "s" };
        write!(f, "invalid configuration ({} problem{plural})", self.problems.len())?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// The variables that time the backend's calls to Redis and its requests, by name.
pub mod timeout {
    pub const REDIS_OPERATION_TIMEOUT: &str = "REDIS_OPERATION_TIMEOUT";
    pub const REDIS_CONNECT_TIMEOUT: &str = "REDIS_CONNECT_TIMEOUT";
    pub const REDIS_BREAKER_PROBE_INTERVAL: &str = "REDIS_BREAKER_PROBE_INTERVAL";
    pub const REDIS_POOL_WAIT_TIMEOUT: &str = "REDIS_POOL_WAIT_TIMEOUT";
    pub const HTTP_REQUEST_TIMEOUT: &str = "HTTP_REQUEST_TIMEOUT";
}

impl Settings {
    /// The timeouts that tools timing themselves by the backend read: the backend publishes them
    /// in `/metrics`, and experiments write durations relative to them.
    pub fn timeouts(&self) -> [(&'static str, Duration); 5] {
        [
            (timeout::REDIS_OPERATION_TIMEOUT, self.redis.operation_timeout),
            (timeout::REDIS_CONNECT_TIMEOUT, self.redis.connect_timeout),
            (timeout::REDIS_BREAKER_PROBE_INTERVAL, self.redis.breaker.probe_interval),
            (timeout::REDIS_POOL_WAIT_TIMEOUT, self.redis.pool_wait_timeout),
            (timeout::HTTP_REQUEST_TIMEOUT, self.http.request_timeout),
        ]
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned()))
    }

    /// Reads settings through `lookup`, so that tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Reader { lookup: &lookup, problems: Vec::new() };
        let settings = Self {
            http: env.http(),
            redis: env.redis(),
            rate_limit: env.rate_limit(),
            hashing: env.hashing(),
            log: env.log(),
        };
        if env.problems.is_empty() { Ok(settings) } else { Err(ConfigError { problems: env.problems }) }
    }
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn http(&mut self) -> HttpSettings {
        HttpSettings {
            host: self.parsed("HOST", "0.0.0.0", "an IP address such as 0.0.0.0 or ::"),
            port: self.parsed("PORT", "8080", "a TCP port number between 0 and 65535"),
            request_timeout: self.duration(timeout::HTTP_REQUEST_TIMEOUT, Duration::from_secs(30), Bound::Positive),
            header_read_timeout: self.duration("HTTP_HEADER_READ_TIMEOUT", Duration::from_secs(10), Bound::Positive),
            idle_timeout: self.duration("HTTP_IDLE_TIMEOUT", Duration::from_mins(1), Bound::Positive),
            max_connections: self.ranged("HTTP_MAX_CONNECTIONS", 1024, 1..=1_000_000),
            shutdown_timeout: self.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(10), Bound::Positive),
        }
    }

    fn hashing(&mut self) -> HashingSettings {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        HashingSettings {
            workers: self.ranged("PASSWORD_HASH_WORKERS", cpus, 1..=64),
            queue_timeout: self.duration("PASSWORD_HASH_QUEUE_TIMEOUT", Duration::from_secs(2), Bound::Positive),
        }
    }

    fn redis(&mut self) -> RedisSettings {
        let keepalive_enabled = self.flag("REDIS_TCP_KEEPALIVE", true);
        let keepalive = KeepaliveSettings {
            idle: self.duration("REDIS_TCP_KEEPALIVE_IDLE", Duration::from_secs(30), Bound::WholeSeconds),
            interval: self.duration("REDIS_TCP_KEEPALIVE_INTERVAL", Duration::from_secs(10), Bound::WholeSeconds),
            count: self.ranged("REDIS_TCP_KEEPALIVE_COUNT", 3, 1..=127),
        };
        let tcp_user_timeout = self.duration("REDIS_TCP_USER_TIMEOUT", Duration::from_secs(15), Bound::ZeroDisables);
        let retry_on_timeout = self.flag("REDIS_RETRY_ON_TIMEOUT", true);
        let retry = RetrySettings {
            max_attempts: if retry_on_timeout { self.ranged("REDIS_RETRY_MAX_ATTEMPTS", 3, 1..=10) } else { 1 },
            backoff: self.duration("REDIS_RETRY_BACKOFF", Duration::from_millis(50), Bound::ZeroAllowed),
        };
        let hidden = |_: &str| "(not shown: may hold a password)".to_owned();
        let url = self.with("REDIS_URL", "redis://localhost:6379/0", RedisUrl::parse, hidden);
        let mode = self.with(
            "REDIS_MODE",
            "standalone",
            |raw| match raw.to_ascii_lowercase().as_str() {
                "standalone" => Ok(RedisMode::Standalone),
                "cluster" => Ok(RedisMode::Cluster),
                _ => Err("expected standalone or cluster".to_owned()),
            },
            str::to_owned,
        );
        let url_problem = match mode {
            RedisMode::Standalone if url.node_count() > 1 => {
                Some("several nodes are for REDIS_MODE=cluster; standalone takes one URL")
            }
            RedisMode::Cluster if url.selects_a_database() => {
                Some("Redis Cluster has only database 0: drop the /N after each host")
            }
            _ => None,
        };
        if let Some(expected) = url_problem {
            self.problems.push(Problem {
                variable: "REDIS_URL",
                value: "(not shown: may hold a password)".to_owned(),
                expected: expected.to_owned(),
            });
        }
        let password = self.optional("REDIS_PASSWORD").map(SecretString::from);
        if password.is_some() && url.has_password() {
            self.problems.push(Problem {
                variable: "REDIS_PASSWORD",
                value: "(not shown)".to_owned(),
                expected: "either REDIS_PASSWORD or a password in REDIS_URL, not both".to_owned(),
            });
        }
        RedisSettings {
            mode,
            url,
            password,
            tls_ca_file: self.optional("REDIS_TLS_CA_FILE").map(PathBuf::from),
            pool_max_size: self.ranged("REDIS_POOL_MAX_SIZE", 50, 1..=10_000),
            pool_wait_timeout: self.duration(timeout::REDIS_POOL_WAIT_TIMEOUT, Duration::from_secs(1), Bound::Positive),
            connect_timeout: self.duration(timeout::REDIS_CONNECT_TIMEOUT, Duration::from_secs(5), Bound::Positive),
            operation_timeout: self.duration(timeout::REDIS_OPERATION_TIMEOUT, Duration::from_secs(5), Bound::Positive),
            keepalive: keepalive_enabled.then_some(keepalive),
            tcp_user_timeout: (!tcp_user_timeout.is_zero()).then_some(tcp_user_timeout),
            retry,
            health_check_interval: self.duration(
                "REDIS_HEALTH_CHECK_INTERVAL",
                Duration::from_secs(30),
                Bound::Positive,
            ),
            breaker: BreakerSettings {
                failure_threshold: self.ranged("REDIS_BREAKER_FAILURE_THRESHOLD", 5, 1..=1_000),
                probe_interval: self.duration(
                    timeout::REDIS_BREAKER_PROBE_INTERVAL,
                    Duration::from_secs(1),
                    Bound::Positive,
                ),
            },
            connection_max_lifetime: self.duration(
                "REDIS_CONNECTION_MAX_LIFETIME",
                Duration::from_mins(5),
                Bound::Positive,
            ),
            wait_replicas: self.ranged("REDIS_WAIT_REPLICAS", 0, 0..=16),
            key_prefix: self.optional("REDIS_KEY_PREFIX").unwrap_or_else(|| "gift-genie:".to_owned()),
        }
    }

    fn rate_limit(&mut self) -> RateLimitSettings {
        RateLimitSettings {
            max_attempts: self.ranged("RATE_LIMIT_MAX_ATTEMPTS", 5, 1..=1_000_000),
            window: self.duration("RATE_LIMIT_WINDOW", Duration::from_mins(1), Bound::WholeSeconds),
            trusted_proxy_hops: self.ranged("TRUSTED_PROXY_HOPS", 0, 0..=16),
            ipv6_prefix: self.ranged("RATE_LIMIT_IPV6_PREFIX", 64, 1..=128),
        }
    }

    fn log(&mut self) -> LogSettings {
        let format = |raw: &str| match raw.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".to_owned()),
        };
        let filter = |raw: &str| {
            tracing_subscriber::EnvFilter::try_new(raw)
                .map(|_| raw.to_owned())
                .map_err(|_| "expected a tracing filter such as info or gift_genie_backend=debug".to_owned())
        };
        LogSettings {
            format: self.with("LOG_FORMAT", "text", format, str::to_owned),
            filter: self.with("RUST_LOG", "info", filter, str::to_owned),
        }
    }
}

/// What a duration setting accepts beyond the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// More than zero.
    Positive,
    /// Zero or more.
    ZeroAllowed,
    /// Zero or more, zero meaning off.
    ZeroDisables,
    /// A whole number of seconds, at least one.
    WholeSeconds,
}

/// Collects problems instead of stopping at the first one.
struct Reader<'a, F> {
    lookup: &'a F,
    problems: Vec<Problem>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn optional(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    /// Parses `variable` with `parse`, or the default when unset. `shown` renders a bad value for
    /// the error message, so that secrets can be withheld.
    fn with<T>(
        &mut self,
        variable: &'static str,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
        shown: impl Fn(&str) -> String,
    ) -> T {
        let raw = self.optional(variable);
        match parse(raw.as_deref().unwrap_or(default).trim()) {
            Ok(value) => value,
            Err(expected) => {
                self.problems.push(Problem { variable, value: shown(raw.as_deref().unwrap_or(default)), expected });
                // Startup fails anyway; the default only keeps the reader going to find more problems.
                parse(default).unwrap_or_else(|_| panic!("the default for {variable} must be valid"))
            }
        }
    }

    fn parsed<T: FromStr>(&mut self, variable: &'static str, default: &str, expected: &str) -> T {
        self.with(variable, default, |raw| raw.parse().map_err(|_| format!("expected {expected}")), str::to_owned)
    }

    fn ranged<T>(&mut self, variable: &'static str, default: T, range: std::ops::RangeInclusive<T>) -> T
    where
        T: FromStr + ToString + PartialOrd + fmt::Display + Copy,
    {
        let expected = format!("expected a whole number from {} to {}", range.start(), range.end());
        self.with(
            variable,
            &default.to_string(),
            |raw| raw.parse::<T>().ok().filter(|value| range.contains(value)).ok_or_else(|| expected.clone()),
            str::to_owned,
        )
    }

    fn flag(&mut self, variable: &'static str, default: bool) -> bool {
        self.with(
            variable,
            if default { "true" } else { "false" },
            |raw| match raw.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err("expected true or false".to_owned()),
            },
            str::to_owned,
        )
    }

    fn duration(&mut self, variable: &'static str, default: Duration, bound: Bound) -> Duration {
        let default = humantime::format_duration(default).to_string();
        self.with(variable, &default, |raw| parse_duration(raw, bound), str::to_owned)
    }
}

/// The longest duration any setting takes: a day. Longer is never meant, and would overflow the
/// arithmetic on instants that deadlines need.
pub(crate) const MAX_DURATION: Duration = Duration::from_hours(24);

/// Accepts `500ms`, `5s`, `1m 30s`, or a bare number of seconds such as `5` or `0.5`, the form the
/// Python settings used, within `bound` and at most `MAX_DURATION`. The error says what was
/// expected, in the words the backend uses when it refuses to start.
pub fn parse_duration(raw: &str, bound: Bound) -> Result<Duration, String> {
    let raw = raw.trim();
    let example = match bound {
        Bound::WholeSeconds => "expected a whole number of seconds such as 60 or 60s",
        Bound::ZeroAllowed | Bound::ZeroDisables => "expected a duration such as 5s, 500ms or 0",
        Bound::Positive => "expected a duration greater than zero, such as 5s or 500ms",
    };
    let parsed = match raw.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Duration::try_from_secs_f64(seconds).ok(),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(raw).ok(),
    }
    .ok_or_else(|| example.to_owned())?;
    let fits = match bound {
        Bound::Positive => !parsed.is_zero(),
        Bound::ZeroAllowed | Bound::ZeroDisables => true,
        Bound::WholeSeconds => parsed.as_secs() > 0 && parsed.subsec_nanos() == 0,
    };
    if !fits {
        return Err(example.to_owned());
    }
    if parsed > MAX_DURATION {
        return Err(format!("{example}, and at most 24h"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests;
