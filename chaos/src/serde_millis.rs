//! Durations as whole milliseconds in reports, the unit people read them in.

use std::time::Duration;

use serde::Serializer;

pub(crate) fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

#[allow(clippy::ref_option)] // serde's serialize_with hands over a reference to the field
pub(crate) fn option_millis<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => millis(duration, serializer),
        None => serializer.serialize_none(),
    }
}
