//! Toxiproxy's JSON, read as Go's `encoding/json` reads it into Toxiproxy's structs, and written
//! as `json.Marshal` writes them.
//!
//! Toxiproxy validates almost nothing: a missing field keeps its default, `null` leaves a field
//! as it was, unknown fields are ignored, keys match case-insensitively, and only a value of the
//! wrong JSON type is refused, with Go's message. Clients rely on that leniency, so it is kept.

use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value};

use crate::engine::{Direction, Toxic, ToxicKind};
use crate::error::ApiError;

/// The first JSON value of a body, as `json.Decoder.Decode` reads it: what follows is ignored.
fn first_value(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::Deserializer::from_slice(body).into_iter::<Value>().next() {
        None => Err(ApiError::bad_request_body("EOF")),
        Some(Ok(value)) => Ok(value),
        Some(Err(error)) if error.is_eof() => Err(ApiError::bad_request_body("unexpected EOF")),
        Some(Err(error)) => Err(ApiError::bad_request_body(&error.to_string())),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `UnmarshalTypeError`: `json: cannot unmarshal number into Go struct field Proxy.name of
/// type string`.
fn type_error(value: &Value, go_struct: &str, field: &str, go_type: &str) -> ApiError {
    let found = json_type(value);
    ApiError::bad_request_body(&format!(
        "json: cannot unmarshal {found} into Go struct field {go_struct}.{field} of type {go_type}"
    ))
}

/// The same for a number that does not fit the field, which Go names with its text:
/// `cannot unmarshal number 1.5 into Go struct field LatencyToxic.attributes.latency of type int64`.
fn range_error(number: &Number, go_struct: &str, field: &str, go_type: &str) -> ApiError {
    ApiError::bad_request_body(&format!(
        "json: cannot unmarshal number {number} into Go struct field {go_struct}.{field} of type {go_type}"
    ))
}

/// The fields of a JSON object, looked up as Go does: an exact key first, then any case.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    go_struct: &'static str,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, go_struct: &'static str, go_value: &str) -> Result<Self, ApiError> {
        match value {
            Value::Object(object) => Ok(Self { object, go_struct }),
            other => Err(ApiError::bad_request_body(&format!(
                "json: cannot unmarshal {} into Go value of type {go_value}",
                json_type(other)
            ))),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object
            .get(key)
            .or_else(|| self.object.iter().find(|(name, _)| name.eq_ignore_ascii_case(key)).map(|(_, value)| value))
    }

    /// Overwrites `target` with the field, if present and not null.
    fn string(&self, key: &str, target: &mut String) -> Result<(), ApiError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(text)) => {
                target.clone_from(text);
                Ok(())
            }
            Some(other) => Err(type_error(other, self.go_struct, key, "string")),
        }
    }

    fn bool(&self, key: &str, target: &mut bool) -> Result<(), ApiError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Bool(flag)) => {
                *target = *flag;
                Ok(())
            }
            Some(other) => Err(type_error(other, self.go_struct, key, "bool")),
        }
    }

    fn f32(&self, key: &str, target: &mut f32) -> Result<(), ApiError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Number(number)) => {
                let wide = number.as_f64().unwrap_or(f64::INFINITY);
                if wide.abs() > f64::from(f32::MAX) {
                    return Err(range_error(number, self.go_struct, key, "float32"));
                }
                #[allow(clippy::cast_possible_truncation)] // the range is checked above; precision is float32's
                {
                    *target = wide as f32;
                }
                Ok(())
            }
            Some(other) => Err(type_error(other, self.go_struct, key, "float32")),
        }
    }

    /// An `int64` (or Go `int`) attribute: whole numbers only, as Go parses them.
    fn i64(&self, key: &str, target: &mut i64, path: &str) -> Result<(), ApiError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Number(number)) => {
                *target = number.as_i64().ok_or_else(|| range_error(number, self.go_struct, path, "int64"))?;
                Ok(())
            }
            Some(other) => Err(type_error(other, self.go_struct, path, "int64")),
        }
    }
}

/// A proxy's fields as the API takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyFields {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
}

impl ProxyFields {
    /// Decodes `body` over `self`, as Toxiproxy decodes a request over a struct holding the
    /// defaults (enabled for a new proxy, the current values for an update).
    pub fn decode(mut self, body: &[u8]) -> Result<Self, ApiError> {
        let value = first_value(body)?;
        self.decode_value(&value)?;
        Ok(self)
    }

    fn decode_value(&mut self, value: &Value) -> Result<(), ApiError> {
        let fields = Fields::of(value, "Proxy", "toxiproxy.Proxy")?;
        fields.string("name", &mut self.name)?;
        fields.string("listen", &mut self.listen)?;
        fields.string("upstream", &mut self.upstream)?;
        fields.bool("enabled", &mut self.enabled)
    }

    /// The body of `POST /populate`: proxies with `enabled` defaulting to true, checked for a
    /// name and an upstream before any is created.
    pub(crate) fn decode_list(body: &[u8]) -> Result<Vec<Self>, ApiError> {
        let value = first_value(body)?;
        let Value::Array(items) = &value else {
            return Err(ApiError::bad_request_body(&format!(
                "json: cannot unmarshal {} into Go value of type []toxiproxy.Proxy",
                json_type(&value)
            )));
        };
        let mut proxies = Vec::with_capacity(items.len());
        for item in items {
            let mut proxy = Self { name: String::new(), listen: String::new(), upstream: String::new(), enabled: true };
            proxy.decode_value(item)?;
            proxies.push(proxy);
        }
        for (index, proxy) in proxies.iter().enumerate() {
            if proxy.name.is_empty() {
                return Err(ApiError::missing_field(&format!("name at proxy {}", index + 1)));
            }
            if proxy.upstream.is_empty() {
                return Err(ApiError::missing_field(&format!("upstream at proxy {}", index + 1)));
            }
        }
        Ok(proxies)
    }
}

/// A toxic request as Toxiproxy's first decoding pass reads it: everything but the attributes,
/// which are read once the type is known.
#[derive(Debug, Clone)]
pub(crate) struct ToxicRequest {
    pub name: String,
    pub kind: String,
    /// As given: Toxiproxy matches it case-insensitively but keeps the caller's spelling.
    pub stream: String,
    pub direction: Direction,
    pub toxicity: f32,
    attributes: Option<Value>,
}

impl ToxicRequest {
    /// Reads a new toxic: downstream and fully toxic by default, named `<type>_<stream>`.
    pub(crate) fn decode(body: &[u8]) -> Result<Self, ApiError> {
        let value = first_value(body)?;
        let fields = Fields::of(&value, "ToxicWrapper", "toxics.ToxicWrapper")?;
        let mut request = Self {
            name: String::new(),
            kind: String::new(),
            stream: "downstream".to_owned(),
            direction: Direction::Downstream,
            toxicity: 1.0,
            attributes: None,
        };
        fields.string("name", &mut request.name)?;
        fields.string("type", &mut request.kind)?;
        fields.string("stream", &mut request.stream)?;
        fields.f32("toxicity", &mut request.toxicity)?;
        match fields.get("attributes") {
            None | Some(Value::Null) => {}
            Some(attributes @ Value::Object(_)) => request.attributes = Some(attributes.clone()),
            Some(other) => return Err(type_error(other, "ToxicWrapper", "attributes", "toxics.NoopToxic")),
        }
        request.direction = match request.stream.to_lowercase().as_str() {
            "downstream" => Direction::Downstream,
            "upstream" => Direction::Upstream,
            _ => return Err(ApiError::invalid_stream()),
        };
        if request.name.is_empty() {
            request.name = format!("{}_{}", request.kind, request.stream);
        }
        if ToxicKind::zero(&request.kind).is_none() {
            return Err(ApiError::invalid_toxic_type());
        }
        Ok(request)
    }

    /// The toxic, its attributes read over their zero values.
    pub(crate) fn into_toxic(self) -> Result<Toxic, ApiError> {
        let zero = ToxicKind::zero(&self.kind).ok_or_else(ApiError::invalid_toxic_type)?;
        let kind = read_attributes(&zero, self.attributes.as_ref())?;
        Ok(Toxic { name: self.name, kind, toxicity: self.toxicity })
    }
}

/// The body of a toxic update: attributes and toxicity read over the current ones.
pub(crate) fn decode_toxic_update(current: &Toxic, body: &[u8]) -> Result<Toxic, ApiError> {
    let value = first_value(body)?;
    let fields = Fields::of(
        &value,
        "",
        "struct { Attributes interface {} \"json:\\\"attributes\\\"\"; Toxicity float32 \"json:\\\"toxicity\\\"\" }",
    )?;
    let mut toxicity = current.toxicity;
    fields.f32("toxicity", &mut toxicity)?;
    let kind = read_attributes(&current.kind, fields.get("attributes"))?;
    Ok(Toxic { name: current.name.clone(), kind, toxicity })
}

/// Decodes `attributes` over `kind`, field by field, as Go decodes into the toxic's struct.
fn read_attributes(kind: &ToxicKind, attributes: Option<&Value>) -> Result<ToxicKind, ApiError> {
    let Some(attributes @ Value::Object(_)) = attributes else {
        return match attributes {
            None | Some(Value::Null) => Ok(kind.clone()),
            Some(other) => Err(type_error(other, "", "attributes", "interface {}")),
        };
    };
    let go_struct = kind.go_struct();
    let fields = Fields::of(attributes, go_struct, go_struct)?;
    let mut kind = kind.clone();
    for (key, target) in kind.attributes_mut() {
        fields.i64(key, target, &format!("attributes.{key}"))?;
    }
    Ok(kind)
}

/// A proxy as the API shows it, fields in Toxiproxy's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyView {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<ToxicView>,
}

/// A toxic as the API shows it, fields in Toxiproxy's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToxicView {
    pub attributes: Attributes,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stream: String,
    #[serde(serialize_with = "go_float32")]
    pub toxicity: f32,
}

impl ToxicView {
    pub fn new(toxic: &Toxic, stream: &str) -> Self {
        Self {
            attributes: Attributes(toxic.kind.clone()),
            name: toxic.name.clone(),
            kind: toxic.kind.type_name(),
            stream: stream.to_owned(),
            toxicity: toxic.toxicity,
        }
    }
}

/// A toxic's attributes, in the order of its Go struct's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes(pub ToxicKind);

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let fields = self.0.attributes();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in fields {
            map.serialize_entry(key, &value)?;
        }
        map.end()
    }
}

/// A float32 as Go's `json.Marshal` writes it: `1` for one, `0.25`, `1e-7`.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with hands over a reference
fn go_float32<S: Serializer>(value: &f32, serializer: S) -> Result<S::Ok, S::Error> {
    #[allow(clippy::cast_possible_truncation)] // only whole values of modest size take this path
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return serializer.serialize_i64(*value as i64);
    }
    let text = if value.abs() < 1e-6 || value.abs() >= 1e21 { format!("{value:e}") } else { format!("{value}") };
    let number: Number = text.parse().map_err(serde::ser::Error::custom)?;
    number.serialize(serializer)
}

/// JSON as Go's `json.Marshal` writes it: compact, with `<`, `>`, `&`, U+2028 and U+2029
/// escaped, so that a name holding them reads back the same in every client.
pub(crate) fn go_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).expect("API views serialise");
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text;
    }
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::engine::toxics::{Latency, Slicer, Timeout};

    fn toxic(body: &Value) -> Result<Toxic, ApiError> {
        ToxicRequest::decode(body.to_string().as_bytes())?.into_toxic()
    }

    #[rstest]
    #[case::null_attributes(json!({"type": "latency", "attributes": null}))]
    #[case::empty_attributes(json!({"type": "latency", "attributes": {}}))]
    #[case::no_attributes(json!({"type": "latency"}))]
    #[case::unknown_attributes(json!({"type": "latency", "attributes": {"lag": 5}}))]
    fn missing_attributes_are_zero_values_as_in_toxiproxy(#[case] body: Value) {
        assert_eq!(toxic(&body).unwrap().kind, ToxicKind::from(Latency { latency: 0, jitter: 0 }));
    }

    #[test]
    fn a_toxic_takes_toxiproxys_defaults_and_keeps_the_callers_spelling_of_the_stream() {
        let request = ToxicRequest::decode(br#"{"type": "bandwidth", "stream": "UPSTREAM"}"#).unwrap();
        assert_eq!((request.name.as_str(), request.direction), ("bandwidth_UPSTREAM", Direction::Upstream));
        let defaults = ToxicRequest::decode(br#"{"type": "noop"}"#).unwrap();
        assert_eq!(
            (defaults.name.as_str(), defaults.stream.as_str(), defaults.toxicity),
            ("noop_downstream", "downstream", 1.0)
        );
    }

    #[test]
    fn keys_match_in_any_case_and_what_follows_the_first_value_is_ignored() {
        let request =
            ToxicRequest::decode(br#"{"Type": "timeout", "NAME": "t", "attributes": {"Timeout": 7}} trailing"#)
                .unwrap();
        assert_eq!(request.name, "t");
        assert_eq!(request.into_toxic().unwrap().kind, ToxicKind::from(Timeout { timeout: 7 }));
    }

    #[rstest]
    #[case::empty_body("", "bad request body: EOF")]
    #[case::string_for_a_number(
        r#"{"type": "latency", "attributes": {"latency": "fast"}}"#,
        "bad request body: json: cannot unmarshal string into Go struct field LatencyToxic.attributes.latency of type int64"
    )]
    #[case::fraction_for_an_integer(
        r#"{"type": "latency", "attributes": {"latency": 1.5}}"#,
        "bad request body: json: cannot unmarshal number 1.5 into Go struct field LatencyToxic.attributes.latency of type int64"
    )]
    #[case::number_for_a_name(
        r#"{"type": "latency", "name": 5}"#,
        "bad request body: json: cannot unmarshal number into Go struct field ToxicWrapper.name of type string"
    )]
    #[case::not_an_object(
        "[1]",
        "bad request body: json: cannot unmarshal array into Go value of type toxics.ToxicWrapper"
    )]
    #[case::bad_stream(
        r#"{"type": "latency", "stream": "sideways"}"#,
        "stream was invalid, can be either upstream or downstream"
    )]
    #[case::explicitly_empty_stream(
        r#"{"type": "latency", "stream": ""}"#,
        "stream was invalid, can be either upstream or downstream"
    )]
    #[case::unknown_type(r#"{"type": "explode"}"#, "invalid toxic type")]
    fn what_toxiproxy_refuses_is_refused_with_its_message(#[case] body: &str, #[case] expected: &str) {
        let error = ToxicRequest::decode(body.as_bytes()).and_then(ToxicRequest::into_toxic).unwrap_err();
        assert_eq!(error.message, expected);
    }

    #[test]
    fn out_of_range_values_are_accepted_as_toxiproxy_accepts_them() {
        let slicer =
            toxic(&json!({"type": "slicer", "toxicity": 1.5, "attributes": {"average_size": 4, "size_variation": 9}}))
                .unwrap();
        assert_eq!(slicer.kind, ToxicKind::from(Slicer { average_size: 4, size_variation: 9, delay: 0 }));
        assert!((slicer.toxicity - 1.5).abs() < f32::EPSILON);
        assert_eq!(
            toxic(&json!({"type": "latency", "attributes": {"latency": -5}})).unwrap().kind,
            ToxicKind::from(Latency { latency: -5, jitter: 0 })
        );
    }

    #[test]
    fn an_update_merges_over_the_current_toxic() {
        let current =
            toxic(&json!({"type": "latency", "toxicity": 0.5, "attributes": {"latency": 100, "jitter": 10}})).unwrap();
        let updated = decode_toxic_update(&current, br#"{"attributes": {"latency": 500}}"#).unwrap();
        assert_eq!(updated.kind, ToxicKind::from(Latency { latency: 500, jitter: 10 }));
        assert!((updated.toxicity - 0.5).abs() < f32::EPSILON);
        let nulled = decode_toxic_update(&current, br#"{"attributes": null, "toxicity": null}"#).unwrap();
        assert_eq!(nulled, current);
    }

    #[test]
    fn views_are_written_as_json_marshal_writes_them() {
        let toxic =
            toxic(&json!({"name": "a<b", "type": "latency", "toxicity": 0.2, "attributes": {"latency": 1}})).unwrap();
        assert_eq!(
            go_json(&ToxicView::new(&toxic, "downstream")),
            r#"{"attributes":{"latency":1,"jitter":0},"name":"a\u003cb","type":"latency","stream":"downstream","toxicity":0.2}"#
        );
        let whole = Toxic { toxicity: 1.0, ..toxic.clone() };
        assert!(go_json(&ToxicView::new(&whole, "downstream")).ends_with(r#""toxicity":1}"#));
    }

    #[test]
    fn a_populate_list_is_checked_for_names_and_upstreams_before_anything_is_created() {
        let error = ProxyFields::decode_list(br#"[{"name": "one", "upstream": "x:1"}, {"name": ""}]"#).unwrap_err();
        assert_eq!(error.message, "missing required field: name at proxy 2");
        let proxies = ProxyFields::decode_list(br#"[{"name": "one", "upstream": "x:1"}]"#).unwrap();
        assert!(proxies[0].enabled, "enabled by default");
    }
}
