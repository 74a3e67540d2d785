//! One operation of a history, with the fields of Jepsen's: `index`, `process`, `type`, `f`,
//! `value` and `time`.

use serde::{Deserialize, Serialize};

/// Where an operation is in its life: started, or ended one of three ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client started it.
    Invoke,
    /// It happened: a 201, a found or missing account, an attempt allowed.
    Ok,
    /// It certainly did not happen: a 409, 422 or 429, a read that failed.
    Fail,
    /// Nobody knows whether it happened: a 503, a timeout, a reset.
    Info,
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Registers an account for an email.
    Register,
    /// Reads an account: by id, as the API does, or, for a final read, by email.
    Read,
    /// An attempt that exists only to press on the rate limit.
    Limit,
}

/// What a client saw of the rate limit on an answer: the `RateLimit-Policy` and `RateLimit`
/// headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitSeen {
    /// Attempts a window allows (`q`).
    pub limit: u64,
    /// The window's length (`w`), in milliseconds.
    pub window_ms: u64,
    /// Attempts left in this window after this one (`r`).
    pub remaining: u64,
    /// Until this window resets (`t`, rounded up to whole seconds), in milliseconds.
    pub reset_ms: u64,
}

/// An operation's value: what it was about and, once it ended, what came of it. Absent fields
/// are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Value {
    /// The account's email: a registration's, or a final read's by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The account's id: an acknowledged registration's, a read's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Whose rate-limit budget the attempt spends: the client's address as the service sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// A read's outcome: whether the account exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
    /// A read made once every fault has healed, to learn what survived.
    #[serde(rename = "final", default, skip_serializing_if = "std::ops::Not::not")]
    pub final_read: bool,
    /// The HTTP status of the answer, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no definite answer: a timeout, a reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the answer said of the rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSeen>,
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// Its place in the history, from 0.
    pub index: u64,
    /// The client that ran it; a client runs one operation at a time.
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub f: Function,
    pub value: Value,
    /// Nanoseconds since the history began.
    pub time: u64,
}

/// What an answer to a registration means: 201 `ok`; 409, 422 and 429 `fail`; anything else, or
/// no answer (`None`), `info`.
pub fn registration_outcome(status: Option<u16>) -> OpType {
    match status {
        Some(201) => OpType::Ok,
        Some(409 | 422 | 429) => OpType::Fail,
        _ => OpType::Info,
    }
}

/// What an answer to a rate-limit attempt means: 429 `fail` (refused); a 5xx or no answer
/// `info`; any other answer `ok`, since the attempt was counted before anything else.
pub fn attempt_outcome(status: Option<u16>) -> OpType {
    match status {
        Some(429) => OpType::Fail,
        Some(500..) | None => OpType::Info,
        Some(_) => OpType::Ok,
    }
}

/// What an answer to a read means: 200 (found) and 404 (missing) `ok`; anything else, or no
/// answer, `fail`.
pub fn read_outcome(status: Option<u16>) -> OpType {
    match status {
        Some(200 | 404) => OpType::Ok,
        _ => OpType::Fail,
    }
}

impl RateLimitSeen {
    /// From an answer's `RateLimit-Policy` (`"register";q=5;w=60`) and `RateLimit`
    /// (`"register";r=4;t=60`) headers, when both are there and readable.
    pub fn from_headers(policy: Option<&str>, state: Option<&str>) -> Option<Self> {
        let parameter = |header: Option<&str>, name: &str| -> Option<u64> {
            header?.split(';').find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        Some(Self {
            limit: parameter(policy, "q")?,
            window_ms: parameter(policy, "w")?.saturating_mul(1000),
            remaining: parameter(state, "r")?,
            reset_ms: parameter(state, "t")?.saturating_mul(1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_onto_the_histories_types() {
        assert_eq!(registration_outcome(Some(201)), OpType::Ok);
        assert_eq!(registration_outcome(Some(409)), OpType::Fail);
        assert_eq!(registration_outcome(Some(503)), OpType::Info);
        assert_eq!(registration_outcome(None), OpType::Info);
        assert_eq!(attempt_outcome(Some(422)), OpType::Ok, "counted, then refused for its body");
        assert_eq!(attempt_outcome(Some(429)), OpType::Fail);
        assert_eq!(read_outcome(Some(404)), OpType::Ok);
        assert_eq!(read_outcome(Some(503)), OpType::Fail);
    }

    #[test]
    fn the_rate_limit_is_read_from_the_answers_headers() {
        let seen = RateLimitSeen::from_headers(Some("\"register\";q=5;w=60"), Some("\"register\";r=4;t=59"));
        assert_eq!(seen, Some(RateLimitSeen { limit: 5, window_ms: 60_000, remaining: 4, reset_ms: 59_000 }));
        assert_eq!(RateLimitSeen::from_headers(None, Some("\"register\";r=4;t=59")), None);
    }
}
