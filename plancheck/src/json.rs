//! JSON values read from a plan's raw text, within bounds.
//!
//! A plan is parsed once into borrowed slices ([`RawValue`]): `serde_json` skips a value without
//! recursion, so neither depth nor size costs anything until a value is needed. A needed value is
//! parsed on its own, nested at most `MAX_DEPTH` levels (deeper parts become a marker), so that
//! no later recursion, rendering or dropping, can overflow the stack. Numbers beyond 64-bit
//! integers and finite doubles, which Terraform prints in full (`1e400` as 401 digits), are kept
//! exactly, as their decimal text.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// `serde_json`'s own recursion limit: values are read this deep, and no deeper.
pub(crate) const MAX_DEPTH: usize = 128;

/// What stands for the part of a value nested deeper than [`MAX_DEPTH`].
pub(crate) const TOO_DEEP: &str = "(nested more than 128 levels deep)";

/// The JSON type of `raw`, as a message names it.
pub fn type_name(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

pub fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// The members of an object, or `None` when `raw` is not one.
pub fn members(raw: &RawValue) -> Option<BTreeMap<String, &RawValue>> {
    raw.get().starts_with('{').then(|| serde_json::from_str(raw.get()).ok()).flatten()
}

/// The items of an array, or `None` when `raw` is not one.
pub fn items(raw: &RawValue) -> Option<Vec<&RawValue>> {
    raw.get().starts_with('[').then(|| serde_json::from_str(raw.get()).ok()).flatten()
}

/// One member of an object, or one item of an array when `key` is an index.
pub fn child<'a>(raw: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    match raw.get().as_bytes().first() {
        Some(b'{') => members(raw)?.remove(key),
        Some(b'[') => items(raw)?.get(key.parse::<usize>().ok()?).copied(),
        _ => None,
    }
}

/// The value `raw` holds, within the bounds above.
pub fn to_value(raw: &RawValue) -> Value {
    // The common case in one pass. Values too deep fail it; numbers past 64 bits would pass as
    // rounded doubles, so text with a run of 19 or more digits takes the careful path too.
    if has_long_digit_run(raw.get()) {
        return bounded(raw, MAX_DEPTH);
    }
    serde_json::from_str(raw.get()).unwrap_or_else(|_| bounded(raw, MAX_DEPTH))
}

fn has_long_digit_run(text: &str) -> bool {
    let mut run = 0;
    text.bytes().any(|byte| {
        run = if byte.is_ascii_digit() { run + 1 } else { 0 };
        run >= 19
    })
}

fn bounded(raw: &RawValue, depth_left: usize) -> Value {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{' | b'[') if depth_left == 0 => Value::String(TOO_DEEP.to_owned()),
        Some(b'{') => Value::Object(
            members(raw)
                .unwrap_or_default()
                .into_iter()
                .map(|(key, item)| (key, bounded(item, depth_left - 1)))
                .collect(),
        ),
        Some(b'[') => {
            Value::Array(items(raw).unwrap_or_default().into_iter().map(|item| bounded(item, depth_left - 1)).collect())
        }
        Some(b'-' | b'0'..=b'9') => number(text),
        _ => serde_json::from_str(text).unwrap_or(Value::Null),
    }
}

/// A number as exactly as JSON can hold it, or its text when no `Number` can.
fn number(text: &str) -> Value {
    if let Ok(integer) = text.parse::<i64>() {
        return integer.into();
    }
    if let Ok(integer) = text.parse::<u64>() {
        return integer.into();
    }
    let fractional = text.contains(['.', 'e', 'E']);
    match text.parse::<f64>().ok().filter(|float| fractional && float.is_finite()).and_then(Number::from_f64) {
        Some(float) => Value::Number(float),
        None => Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn numbers_beyond_64_bits_or_f64_keep_their_digits() {
        let huge = format!("1{}", "0".repeat(400));
        assert_eq!(
            to_value(&raw(&format!("[{huge}, 1.5, 18446744073709551616, -3]"))),
            serde_json::json!([huge, 1.5, "18446744073709551616", -3])
        );
        assert_eq!(to_value(&raw("1e400")), Value::String("1e400".to_owned()));
    }

    #[test]
    fn a_value_deeper_than_the_limit_is_cut_with_a_marker() {
        let depth = MAX_DEPTH + 50;
        let value = to_value(&raw(&format!("{}{}", "[".repeat(depth), "]".repeat(depth))));
        let mut level = &value;
        let mut levels = 0;
        while let Value::Array(items) = level {
            level = &items[0];
            levels += 1;
        }
        assert_eq!(levels, MAX_DEPTH);
        assert_eq!(level, &Value::String(TOO_DEEP.to_owned()));
    }

    #[test]
    fn children_are_found_by_key_and_by_index() {
        let document = raw(r#"{"a": [{"b": 1}, {"b": 2}]}"#);
        let second = child(child(&document, "a").unwrap(), "1").unwrap();
        assert_eq!(child(second, "b").unwrap().get(), "2");
        assert!(child(&document, "missing").is_none());
        assert_eq!(type_name(child(&document, "a").unwrap()), "an array");
    }
}
