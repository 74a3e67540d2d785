//! Toxics with typed attributes, in Toxiproxy's JSON form.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which way a toxic acts: on data from the client to the upstream, or back downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }
}

/// A toxic's type and attributes. Durations travel as Toxiproxy's whole milliseconds (the
/// slicer's delay as microseconds); finer parts are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "attributes", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Each chunk is delayed by `latency`, plus or minus up to `jitter`.
    Latency {
        #[serde(with = "millis")]
        latency: Duration,
        #[serde(with = "millis", default)]
        jitter: Duration,
    },
    /// Data trickles at `rate` KB/s.
    Bandwidth { rate: u64 },
    /// The close of the connection is held back by `delay`.
    SlowClose {
        #[serde(with = "millis")]
        delay: Duration,
    },
    /// No data flows; the connection closes after `timeout`, or is held forever with zero.
    Timeout {
        #[serde(with = "millis")]
        timeout: Duration,
    },
    /// The connection is reset (TCP RST) `timeout` after data first flows.
    ResetPeer {
        #[serde(with = "millis")]
        timeout: Duration,
    },
    /// Data is cut into slices of `average_size` ± `size_variation` bytes, `delay` apart.
    Slicer {
        average_size: u64,
        #[serde(default)]
        size_variation: u64,
        #[serde(with = "micros", default)]
        delay: Duration,
    },
    /// The connection closes after `bytes` bytes.
    LimitData { bytes: u64 },
    /// Data passes untouched.
    Noop {},
}

/// The toxic types this client speaks, by Toxiproxy's names: one per [`ToxicKind`] variant.
pub const TOXIC_TYPES: [&str; 8] =
    ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop"];

impl ToxicKind {
    /// Toxiproxy's name for the type, as in `slow_close`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Bandwidth { .. } => "bandwidth",
            Self::SlowClose { .. } => "slow_close",
            Self::Timeout { .. } => "timeout",
            Self::ResetPeer { .. } => "reset_peer",
            Self::Slicer { .. } => "slicer",
            Self::LimitData { .. } => "limit_data",
            Self::Noop {} => "noop",
        }
    }
}

/// A toxic: its name, the stream it acts on, the share of connections it affects, and what it
/// does. Built with the constructors below, which follow Toxiproxy's defaults: downstream,
/// toxicity 1, and the name `<type>_<stream>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    pub name: String,
    pub stream: Stream,
    /// From 0 to 1: each new connection is affected with this probability.
    pub toxicity: f32,
    #[serde(flatten)]
    pub kind: ToxicKind,
}

impl Toxic {
    pub fn new(kind: ToxicKind) -> Self {
        let name = default_name(&kind, Stream::Downstream);
        Self { name, stream: Stream::Downstream, toxicity: 1.0, kind }
    }

    pub fn latency(latency: Duration) -> Self {
        Self::new(ToxicKind::Latency { latency, jitter: Duration::ZERO })
    }

    /// Stops all data; with [`Duration::ZERO`] the connection is held open forever.
    pub fn timeout(timeout: Duration) -> Self {
        Self::new(ToxicKind::Timeout { timeout })
    }

    pub fn bandwidth(kilobytes_per_second: u64) -> Self {
        Self::new(ToxicKind::Bandwidth { rate: kilobytes_per_second })
    }

    pub fn slow_close(delay: Duration) -> Self {
        Self::new(ToxicKind::SlowClose { delay })
    }

    pub fn reset_peer(timeout: Duration) -> Self {
        Self::new(ToxicKind::ResetPeer { timeout })
    }

    pub fn limit_data(bytes: u64) -> Self {
        Self::new(ToxicKind::LimitData { bytes })
    }

    /// Acts on `stream`; a default name follows the stream.
    #[must_use]
    pub fn on(mut self, stream: Stream) -> Self {
        if self.name == default_name(&self.kind, self.stream) {
            self.name = default_name(&self.kind, stream);
        }
        self.stream = stream;
        self
    }

    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Affects each new connection with probability `toxicity` (0 to 1).
    #[must_use]
    pub fn with_toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }
}

fn default_name(kind: &ToxicKind, stream: Stream) -> String {
    format!("{}_{}", kind.type_name(), stream.as_str())
}

/// Durations as a whole number of some unit, as Toxiproxy's attributes carry them.
mod whole {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, unit: Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_nanos() / unit.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
        unit: Duration,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(|count| unit.saturating_mul(u32::try_from(count).unwrap_or(u32::MAX)))
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` passes fields by reference
    pub(super) fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        super::whole::serialize(value, Duration::from_millis(1), serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        super::whole::deserialize(deserializer, Duration::from_millis(1))
    }
}

mod micros {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` passes fields by reference
    pub(super) fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        super::whole::serialize(value, Duration::from_micros(1), serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        super::whole::deserialize(deserializer, Duration::from_micros(1))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_toxic_is_written_as_toxiproxy_reads_it() {
        let toxic = Toxic::latency(Duration::from_millis(250)).on(Stream::Upstream).with_toxicity(0.5);
        assert_eq!(
            serde_json::to_value(&toxic).unwrap(),
            json!({"name": "latency_upstream", "stream": "upstream", "toxicity": 0.5, "type": "latency",
                   "attributes": {"latency": 250, "jitter": 0}})
        );
    }

    #[test]
    fn a_toxic_is_read_back_from_toxiproxy_answers() {
        let answer = json!({"attributes": {"average_size": 10, "size_variation": 2, "delay": 1500},
                            "name": "slices", "type": "slicer", "stream": "downstream", "toxicity": 1});
        let toxic: Toxic = serde_json::from_value(answer).unwrap();
        assert_eq!(
            toxic.kind,
            ToxicKind::Slicer { average_size: 10, size_variation: 2, delay: Duration::from_micros(1500) }
        );
        let noop: Toxic = serde_json::from_value(
            json!({"attributes": {}, "name": "n", "type": "noop", "stream": "upstream", "toxicity": 1}),
        )
        .unwrap();
        assert_eq!(noop.kind, ToxicKind::Noop {});
    }

    #[test]
    fn every_kind_is_listed_by_its_name() {
        let kinds = [
            ToxicKind::Latency { latency: Duration::ZERO, jitter: Duration::ZERO },
            ToxicKind::Bandwidth { rate: 0 },
            ToxicKind::SlowClose { delay: Duration::ZERO },
            ToxicKind::Timeout { timeout: Duration::ZERO },
            ToxicKind::ResetPeer { timeout: Duration::ZERO },
            ToxicKind::Slicer { average_size: 0, size_variation: 0, delay: Duration::ZERO },
            ToxicKind::LimitData { bytes: 0 },
            ToxicKind::Noop {},
        ];
        let names: Vec<&str> = kinds.iter().map(ToxicKind::type_name).collect();
        assert_eq!(names, TOXIC_TYPES);
    }

    #[test]
    fn a_chosen_name_survives_a_change_of_stream() {
        let toxic = Toxic::timeout(Duration::ZERO).named("blackhole").on(Stream::Upstream);
        assert_eq!(toxic.name, "blackhole");
        assert_eq!(Toxic::bandwidth(1).on(Stream::Upstream).name, "bandwidth_upstream");
    }
}
