//! The JSON shapes of Toxiproxy 2.12's API, and their validation.

use noxious::toxic::{StreamDirection, Toxic, ToxicKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Longest delay any toxic may ask for: a day. Larger values would overflow timers and are never
/// what a test means.
const MAX_MILLIS: u64 = 86_400_000;
/// Fastest bandwidth cap, in KB/s (a terabyte per second): beyond it the limit is meaningless.
const MAX_RATE: u64 = 1_000_000_000;

/// The toxic types this server knows, as Toxiproxy spells them.
pub const TOXIC_TYPES: [&str; 8] =
    ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop"];

/// A proxy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyView {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<ToxicView>,
}

/// A toxic as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToxicView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stream: &'static str,
    pub toxicity: f32,
    pub attributes: Value,
}

impl From<&Toxic> for ToxicView {
    fn from(toxic: &Toxic) -> Self {
        let attributes = match serde_json::to_value(toxic.kind) {
            Ok(Value::Object(mut tagged)) => tagged.remove("attributes").unwrap_or_else(|| Value::Object(Map::new())),
            _ => Value::Object(Map::new()),
        };
        Self {
            name: toxic.name.clone(),
            kind: toxic.kind.get_name(),
            stream: stream_name(toxic.direction),
            toxicity: toxic.toxicity,
            attributes,
        }
    }
}

pub fn stream_name(direction: StreamDirection) -> &'static str {
    match direction {
        StreamDirection::Upstream => "upstream",
        StreamDirection::Downstream => "downstream",
    }
}

/// The body of `POST /proxies` and one element of `POST /populate`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProxyInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub listen: String,
    #[serde(default)]
    pub upstream: String,
    pub enabled: Option<bool>,
}

/// The body of `PATCH /proxies/{proxy}`: absent fields keep their current value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProxyPatch {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub enabled: Option<bool>,
}

/// The body of `POST /proxies/{proxy}/toxics`.
#[derive(Debug, Clone, Deserialize)]
pub struct ToxicInput {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub stream: Option<String>,
    pub toxicity: Option<f32>,
    #[serde(default)]
    pub attributes: Option<Value>,
}

/// The body of `PATCH /proxies/{proxy}/toxics/{toxic}`: attributes are merged into the current
/// ones, as Toxiproxy decodes the body over a copy of the toxic.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ToxicPatch {
    pub toxicity: Option<f32>,
    pub attributes: Option<Value>,
}

/// Parses a request body, naming the problem as Toxiproxy does: `bad request body: ...`.
pub fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| ApiError::bad_request_body(&error.to_string()))
}

/// `host:port`, with Go's `:port` shorthand for every interface.
pub fn normalize_listen(listen: &str) -> String {
    if listen.is_empty() {
        "127.0.0.1:0".to_owned()
    } else if listen.starts_with(':') {
        format!("0.0.0.0{listen}")
    } else {
        listen.to_owned()
    }
}

impl ToxicInput {
    /// Turns the request into a toxic for the engine, or says what is wrong with it.
    pub fn into_toxic(self) -> Result<Toxic, ApiError> {
        let direction = match self.stream.as_deref().unwrap_or("downstream") {
            "upstream" => StreamDirection::Upstream,
            "downstream" => StreamDirection::Downstream,
            _ => return Err(ApiError::invalid_stream()),
        };
        if !TOXIC_TYPES.contains(&self.kind.as_str()) {
            return Err(ApiError::invalid_toxic_type(&self.kind));
        }
        let toxicity = check_toxicity(self.toxicity.unwrap_or(1.0))?;
        let kind = toxic_kind(&self.kind, self.attributes.unwrap_or_else(|| Value::Object(Map::new())))?;
        let name = if self.name.is_empty() { format!("{}_{}", self.kind, stream_name(direction)) } else { self.name };
        Ok(Toxic { kind, name, toxicity, direction })
    }
}

impl ToxicPatch {
    /// Applies the patch to a copy of `current`.
    pub fn apply(self, current: &Toxic) -> Result<Toxic, ApiError> {
        let mut attributes = ToxicView::from(current).attributes;
        if let (Value::Object(existing), Some(Value::Object(changes))) = (&mut attributes, self.attributes) {
            existing.extend(changes);
        }
        let kind = toxic_kind(current.kind.get_name(), attributes)?;
        let toxicity = check_toxicity(self.toxicity.unwrap_or(current.toxicity))?;
        Ok(Toxic { kind, toxicity, ..current.clone() })
    }
}

fn check_toxicity(toxicity: f32) -> Result<f32, ApiError> {
    if (0.0..=1.0).contains(&toxicity) {
        Ok(toxicity)
    } else {
        Err(ApiError::bad_request_body(&format!("toxicity must be between 0 and 1, got {toxicity}")))
    }
}

/// Reads `attributes` for a toxic of type `kind` and checks their ranges.
fn toxic_kind(kind: &str, attributes: Value) -> Result<ToxicKind, ApiError> {
    let mut tagged = Map::new();
    tagged.insert("type".to_owned(), Value::String(kind.to_owned()));
    if kind != "noop" {
        tagged.insert("attributes".to_owned(), attributes);
    }
    let parsed: ToxicKind = serde_json::from_value(Value::Object(tagged))
        .map_err(|error| ApiError::bad_request_body(&format!("{kind} attributes: {error}")))?;
    let too_long = |name: &str, value: u64| {
        (value > MAX_MILLIS)
            .then(|| format!("{kind} attribute {name} must be at most {MAX_MILLIS} (one day), got {value}"))
    };
    let problem = match parsed {
        ToxicKind::Latency { latency, jitter } => too_long("latency", latency).or_else(|| too_long("jitter", jitter)),
        ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => too_long("timeout", timeout),
        ToxicKind::SlowClose { delay } => too_long("delay", delay),
        ToxicKind::Bandwidth { rate } => {
            (rate > MAX_RATE).then(|| format!("bandwidth attribute rate must be at most {MAX_RATE} KB/s, got {rate}"))
        }
        ToxicKind::Slicer { average_size, size_variation, delay } => {
            if average_size == 0 {
                Some("slicer attribute average_size must be at least 1".to_owned())
            } else if size_variation >= average_size {
                Some(format!(
                    "slicer attribute size_variation must be smaller than average_size ({size_variation} >= {average_size})"
                ))
            } else if delay > MAX_MILLIS * 1000 {
                Some(format!(
                    "slicer attribute delay must be at most {} microseconds (one day), got {delay}",
                    MAX_MILLIS * 1000
                ))
            } else {
                None
            }
        }
        ToxicKind::LimitData { .. } | ToxicKind::Noop => None,
    };
    match problem {
        Some(problem) => Err(ApiError::bad_request_body(&problem)),
        None => Ok(parsed),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn toxic(body: Value) -> Result<Toxic, ApiError> {
        serde_json::from_value::<ToxicInput>(body).unwrap().into_toxic()
    }

    #[test]
    fn a_toxic_defaults_to_downstream_full_toxicity_and_a_type_stream_name() {
        let toxic = toxic(json!({"type": "latency", "attributes": {"latency": 100}})).unwrap();
        assert_eq!(toxic.name, "latency_downstream");
        assert_eq!(toxic.direction, StreamDirection::Downstream);
        assert!((toxic.toxicity - 1.0).abs() < f32::EPSILON);
        assert_eq!(toxic.kind, ToxicKind::Latency { latency: 100, jitter: 0 });
    }

    #[test]
    fn a_toxic_is_shown_with_toxiproxy_field_names() {
        let shown = ToxicView::from(
            &toxic(json!({"type": "timeout", "stream": "upstream", "toxicity": 0.5, "attributes": {"timeout": 0}}))
                .unwrap(),
        );
        assert_eq!(
            serde_json::to_value(shown).unwrap(),
            json!({"name": "timeout_upstream", "type": "timeout", "stream": "upstream", "toxicity": 0.5, "attributes": {"timeout": 0}})
        );
    }

    #[rstest]
    #[case::unknown_type(json!({"type": "explode"}), "invalid toxic type")]
    #[case::missing_type(json!({"attributes": {"latency": 1}}), "invalid toxic type")]
    #[case::bad_stream(json!({"type": "latency", "stream": "sideways", "attributes": {"latency": 1}}), "stream was invalid")]
    #[case::missing_attribute(json!({"type": "latency", "attributes": {}}), "missing field `latency`")]
    #[case::negative_attribute(json!({"type": "timeout", "attributes": {"timeout": -1}}), "invalid value")]
    #[case::attribute_of_wrong_type(json!({"type": "bandwidth", "attributes": {"rate": "fast"}}), "invalid type")]
    #[case::toxicity_above_one(json!({"type": "latency", "toxicity": 1.5, "attributes": {"latency": 1}}), "toxicity must be between 0 and 1")]
    #[case::toxicity_below_zero(json!({"type": "latency", "toxicity": -0.1, "attributes": {"latency": 1}}), "toxicity must be between 0 and 1")]
    #[case::latency_over_a_day(json!({"type": "latency", "attributes": {"latency": 86_400_001}}), "at most 86400000")]
    #[case::slicer_of_zero(json!({"type": "slicer", "attributes": {"average_size": 0}}), "average_size must be at least 1")]
    #[case::slicer_variation_too_big(json!({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4}}), "must be smaller than average_size")]
    fn a_bad_toxic_is_refused_with_a_message_that_names_the_problem(#[case] body: Value, #[case] expected: &str) {
        let error = toxic(body).unwrap_err();
        assert!(error.message.contains(expected), "{}", error.message);
    }

    #[test]
    fn a_patch_merges_attributes_and_keeps_name_type_and_stream() {
        let current =
            toxic(json!({"name": "slow", "type": "latency", "attributes": {"latency": 100, "jitter": 10}})).unwrap();
        let patch: ToxicPatch = serde_json::from_value(json!({"attributes": {"latency": 500}})).unwrap();
        let updated = patch.apply(&current).unwrap();
        assert_eq!(updated.kind, ToxicKind::Latency { latency: 500, jitter: 10 });
        assert_eq!(updated.name, "slow");
    }

    #[rstest]
    #[case::empty("", "127.0.0.1:0")]
    #[case::go_shorthand(":26379", "0.0.0.0:26379")]
    #[case::explicit("localhost:1234", "localhost:1234")]
    fn listen_addresses_accept_go_forms(#[case] given: &str, #[case] expected: &str) {
        assert_eq!(normalize_listen(given), expected);
    }
}
