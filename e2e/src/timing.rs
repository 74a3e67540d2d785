//! Durations that experiments and faults write: fixed (`2s`), or relative to the backend's own
//! timeouts (`2 * REDIS_OPERATION_TIMEOUT`, `RECOVERY_BOUND + 2s`), so that an experiment means
//! the same against the local stack's short timeouts and against a deployed backend's long ones.
//!
//! A relative timing is resolved against [`Timeouts`] before it is used: the local stack knows
//! the settings it gives its backend, and a deployed backend publishes its own in `/metrics`
//! (`gift_genie_setting_seconds`).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use gift_genie_settings::{Bound, Settings, parse_duration, timeout};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::backend::Metrics;

/// A setting a relative timing can name: the backend's own variables, and one bound derived from
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Setting {
    OperationTimeout,
    ConnectTimeout,
    ProbeInterval,
    PoolWaitTimeout,
    RequestTimeout,
    /// How long the breaker's probe can take to notice that Redis is back: a probe interval, a
    /// connect and an operation.
    RecoveryBound,
}

impl Setting {
    /// Every setting a timing can name, by the name it is written with.
    pub const ALL: [Self; 6] = [
        Self::OperationTimeout,
        Self::ConnectTimeout,
        Self::ProbeInterval,
        Self::PoolWaitTimeout,
        Self::RequestTimeout,
        Self::RecoveryBound,
    ];

    /// The backend's variable, as experiments write it and `/metrics` labels it.
    pub fn name(self) -> &'static str {
        match self {
            Self::OperationTimeout => timeout::REDIS_OPERATION_TIMEOUT,
            Self::ConnectTimeout => timeout::REDIS_CONNECT_TIMEOUT,
            Self::ProbeInterval => timeout::REDIS_BREAKER_PROBE_INTERVAL,
            Self::PoolWaitTimeout => timeout::REDIS_POOL_WAIT_TIMEOUT,
            Self::RequestTimeout => timeout::HTTP_REQUEST_TIMEOUT,
            Self::RecoveryBound => "RECOVERY_BOUND",
        }
    }

    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|setting| setting.name() == name)
    }
}

/// The backend's timeouts that timings are relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    #[serde(rename = "operation_timeout_ms", serialize_with = "millis")]
    pub operation: Duration,
    #[serde(rename = "connect_timeout_ms", serialize_with = "millis")]
    pub connect: Duration,
    #[serde(rename = "probe_interval_ms", serialize_with = "millis")]
    pub probe_interval: Duration,
    #[serde(rename = "pool_wait_timeout_ms", serialize_with = "millis")]
    pub pool_wait: Duration,
    #[serde(rename = "request_timeout_ms", serialize_with = "millis")]
    pub request: Duration,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with hands over a reference
fn millis<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
}

/// The metric family a backend publishes its timeouts in, labelled by `setting`.
pub(crate) const SETTINGS_METRIC: &str = "gift_genie_setting_seconds";

impl Timeouts {
    /// The timeouts of a backend started with `settings`.
    pub fn of(settings: &Settings) -> Self {
        Self {
            operation: settings.redis.operation_timeout,
            connect: settings.redis.connect_timeout,
            probe_interval: settings.redis.breaker.probe_interval,
            pool_wait: settings.redis.pool_wait_timeout,
            request: settings.http.request_timeout,
        }
    }

    /// The timeouts a deployed backend publishes in `/metrics`, or the settings it does not.
    pub fn published(metrics: &Metrics) -> Result<Self, Vec<&'static str>> {
        let mut missing = Vec::new();
        let mut read = |setting: Setting| {
            let series = format!("{SETTINGS_METRIC}{{setting=\"{}\"}}", setting.name());
            let value = metrics.get(&series).and_then(|seconds| Duration::try_from_secs_f64(seconds).ok());
            if value.is_none() {
                missing.push(setting.name());
            }
            value.unwrap_or_default()
        };
        let timeouts = Self {
            operation: read(Setting::OperationTimeout),
            connect: read(Setting::ConnectTimeout),
            probe_interval: read(Setting::ProbeInterval),
            pool_wait: read(Setting::PoolWaitTimeout),
            request: read(Setting::RequestTimeout),
        };
        if missing.is_empty() { Ok(timeouts) } else { Err(missing) }
    }

    pub fn get(&self, setting: Setting) -> Duration {
        match setting {
            Setting::OperationTimeout => self.operation,
            Setting::ConnectTimeout => self.connect,
            Setting::ProbeInterval => self.probe_interval,
            Setting::PoolWaitTimeout => self.pool_wait,
            Setting::RequestTimeout => self.request,
            Setting::RecoveryBound => self.probe_interval + self.connect + self.operation,
        }
    }
}

/// One term of a timing: a duration, or a setting times a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Term {
    Fixed(Duration),
    /// `factor` in thousandths, so that `1.5 * X` stays exact.
    Relative {
        per_mille: u64,
        setting: Setting,
    },
}

/// A duration as an experiment writes it: a sum of terms, each a duration in the backend's
/// grammar (`500ms`, `2s`, `1m 30s`, bare seconds) or a setting with an optional factor
/// (`REDIS_OPERATION_TIMEOUT`, `2 * REDIS_OPERATION_TIMEOUT`, `1.5*RECOVERY_BOUND`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timing {
    text: String,
    terms: Vec<Term>,
    /// The duration, once known: at once for a fixed timing, after [`Self::resolve`] otherwise.
    value: Option<Duration>,
}

/// Why a timing cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    #[error(
        "{0:?} is not a duration such as 500ms, 5s or 1m 30s, nor one relative to a timeout such as 2 * REDIS_OPERATION_TIMEOUT ({1})"
    )]
    Unreadable(String, String),
}

impl Timing {
    pub fn fixed(value: Duration) -> Self {
        Self {
            text: humantime::format_duration(value).to_string(),
            terms: vec![Term::Fixed(value)],
            value: Some(value),
        }
    }

    pub fn parse(text: &str) -> Result<Self, TimingError> {
        let unreadable = |why: &str| TimingError::Unreadable(text.to_owned(), why.to_owned());
        let mut terms = Vec::new();
        for raw in text.split('+').map(str::trim) {
            if raw.is_empty() {
                return Err(unreadable("a term is empty"));
            }
            terms.push(parse_term(raw).map_err(|why| unreadable(&why))?);
        }
        let value = terms.iter().try_fold(Duration::ZERO, |sum, term| match term {
            Term::Fixed(value) => Some(sum + *value),
            Term::Relative { .. } => None,
        });
        Ok(Self { text: text.trim().to_owned(), terms, value })
    }

    /// True when the timing names a setting, and so needs [`Self::resolve`] before use.
    pub fn is_relative(&self) -> bool {
        self.terms.iter().any(|term| matches!(term, Term::Relative { .. }))
    }

    /// Fixes the timing's value against the backend's `timeouts`.
    pub fn resolve(&mut self, timeouts: &Timeouts) {
        let total = self.terms.iter().fold(Duration::ZERO, |sum, term| {
            sum + match *term {
                Term::Fixed(value) => value,
                Term::Relative { per_mille, setting } => {
                    timeouts.get(setting).saturating_mul(u32::try_from(per_mille).unwrap_or(u32::MAX)) / 1000
                }
            }
        });
        self.value = Some(total);
    }

    /// The duration. A relative timing must have been resolved: experiments are resolved as a
    /// whole before they run.
    pub fn get(&self) -> Duration {
        self.value.unwrap_or_else(|| panic!("the timing {:?} was used before it was resolved", self.text))
    }

    /// The duration, if known yet.
    pub fn known(&self) -> Option<Duration> {
        self.value
    }

    /// As it was written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn parse_term(raw: &str) -> Result<Term, String> {
    let (factor, name) = match raw.split_once('*') {
        Some((factor, name)) => (Some(factor.trim()), name.trim()),
        None => (None, raw),
    };
    if let Some(setting) = Setting::named(name) {
        let per_mille = match factor {
            None => 1000,
            Some(factor) => parse_factor(factor)?,
        };
        return Ok(Term::Relative { per_mille, setting });
    }
    if factor.is_some() || name.chars().next().is_some_and(char::is_alphabetic) {
        let names: Vec<&str> = Setting::ALL.iter().map(|setting| setting.name()).collect();
        return Err(format!("{name} is not one of {}", names.join(", ")));
    }
    parse_duration(raw, Bound::ZeroAllowed).map(Term::Fixed)
}

/// A factor such as `2` or `1.5`, in thousandths; never zero.
fn parse_factor(raw: &str) -> Result<u64, String> {
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |text: &str| text.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 3 {
        return Err(format!("the factor {raw} is not a number such as 2 or 1.5"));
    }
    let whole: u64 = whole.parse().map_err(|_| format!("the factor {raw} is too large"))?;
    let fraction: u64 = format!("{fraction:0<3}").parse().unwrap_or(0);
    match whole.checked_mul(1000).and_then(|thousandths| thousandths.checked_add(fraction)) {
        Some(0) => Err("a factor of zero makes no time".to_owned()),
        Some(per_mille) => Ok(per_mille),
        None => Err(format!("the factor {raw} is too large")),
    }
}

impl From<Duration> for Timing {
    fn from(value: Duration) -> Self {
        Self::fixed(value)
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_relative(), self.value) {
            (true, Some(value)) => write!(f, "{value:?} ({})", self.text),
            (true, None) => f.write_str(&self.text),
            (false, _) => write!(f, "{:?}", self.get()),
        }
    }
}

impl<'de> Deserialize<'de> for Timing {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Timing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl JsonSchema for Timing {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration such as 500ms, 5s or 1m 30s, or a sum of them and of the backend's timeouts, each with an optional factor: 2 * REDIS_OPERATION_TIMEOUT, RECOVERY_BOUND + 2s. The names are REDIS_OPERATION_TIMEOUT, REDIS_CONNECT_TIMEOUT, REDIS_BREAKER_PROBE_INTERVAL, REDIS_POOL_WAIT_TIMEOUT, HTTP_REQUEST_TIMEOUT and RECOVERY_BOUND (a probe interval, a connect and an operation).",
            "minLength": 1
        })
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            operation: Duration::from_secs(5),
            connect: Duration::from_secs(4),
            probe_interval: Duration::from_secs(1),
            pool_wait: Duration::from_secs(1),
            request: Duration::from_secs(30),
        }
    }

    #[rstest]
    #[case::fixed("2s", Duration::from_secs(2))]
    #[case::bare_seconds_as_the_backend_reads_them("0.5", Duration::from_millis(500))]
    #[case::a_setting("REDIS_OPERATION_TIMEOUT", Duration::from_secs(5))]
    #[case::a_multiple("2 * REDIS_OPERATION_TIMEOUT", Duration::from_secs(10))]
    #[case::a_fraction("1.5*REDIS_CONNECT_TIMEOUT", Duration::from_secs(6))]
    #[case::a_sum("RECOVERY_BOUND + 2s", Duration::from_secs(12))]
    #[case::terms_in_any_order("500ms + HTTP_REQUEST_TIMEOUT", Duration::from_millis(30_500))]
    fn a_timing_resolves_against_the_backends_timeouts(#[case] text: &str, #[case] expected: Duration) {
        let mut timing = Timing::parse(text).unwrap();
        timing.resolve(&timeouts());
        assert_eq!(timing.get(), expected);
    }

    #[test]
    fn a_fixed_timing_needs_no_timeouts_and_a_relative_one_does() {
        assert_eq!(Timing::parse("1m 30s").unwrap().known(), Some(Duration::from_secs(90)));
        let relative = Timing::parse("2 * REDIS_OPERATION_TIMEOUT").unwrap();
        assert!(relative.is_relative());
        assert_eq!(relative.known(), None);
    }

    #[rstest]
    #[case::unknown_setting("2 * REDIS_TIMEOUT", "REDIS_TIMEOUT is not one of REDIS_OPERATION_TIMEOUT")]
    #[case::zero_factor("0 * REDIS_OPERATION_TIMEOUT", "a factor of zero makes no time")]
    #[case::not_a_duration("soon", "soon is not one of")]
    #[case::empty_term("2s +", "a term is empty")]
    #[case::beyond_a_day("25h", "at most 24h")]
    fn a_timing_that_cannot_be_read_says_why(#[case] text: &str, #[case] expected: &str) {
        let error = Timing::parse(text).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }

    #[test]
    fn a_backend_publishes_its_timeouts_in_its_metrics() {
        let lines: Vec<String> = Setting::ALL
            .iter()
            .filter(|setting| **setting != Setting::RecoveryBound)
            .map(|setting| format!("{SETTINGS_METRIC}{{setting=\"{}\"}} 2.5", setting.name()))
            .collect();
        let text = lines.join("\n");
        let timeouts = Timeouts::published(&Metrics::parse(&text)).unwrap();
        assert_eq!(timeouts.get(Setting::RecoveryBound), Duration::from_millis(7500));
        let missing = Timeouts::published(&Metrics::parse("")).unwrap_err();
        assert_eq!(missing.len(), 5, "{missing:?}");
    }
}
