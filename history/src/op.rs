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
