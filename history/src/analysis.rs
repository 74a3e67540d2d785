//! What a check found: a verdict, each anomaly with the operations involved, and counts, as
//! Jepsen's checkers report.

use std::fmt;

use serde::Serialize;

/// Whether the history is one the service may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No anomaly, and every acknowledged account was read at the end.
    Valid,
    /// At least one anomaly beyond what was declared acceptable.
    Invalid,
    /// No anomaly, but some acknowledged accounts were never read at the end: their fate is not
    /// known.
    Unknown,
}

/// The kinds of anomaly, each a promise the service broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// Two acknowledged accounts, two ids, for one email.
    DuplicateAccount,
    /// An acknowledged account that the final read does not find.
    Lost,
    /// A final read finds an account for an email that nobody tried to register.
    UnexpectedAccount,
    /// A read that started after the account's 201 did not find it.
    StaleRead,
    /// An account read as found, then as missing, though it exists at the end.
    Flip,
    /// A 409 for an email that no other client was registering or had registered.
    PhantomConflict,
    /// More attempts allowed in one client's rate-limit window than its limit.
    RateLimitExceeded,
}

impl AnomalyKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::DuplicateAccount => "duplicate-account",
            Self::Lost => "lost",
            Self::UnexpectedAccount => "unexpected-account",
            Self::StaleRead => "stale-read",
            Self::Flip => "flip",
            Self::PhantomConflict => "phantom-conflict",
            Self::RateLimitExceeded => "rate-limit-exceeded",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One anomaly: its kind, the indices of the operations that show it, and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// Indices of the invoke and completion operations involved, in order.
    pub ops: Vec<u64>,
    /// When it shows, in nanoseconds since the history began: the last of its operations.
    pub time: u64,
    pub message: String,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ops: Vec<String> = self.ops.iter().map(u64::to_string).collect();
        write!(f, "{}: {} (operations {})", self.kind, self.message, ops.join(", "))
    }
}

/// What the history holds, by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub operations: u64,
    /// Registrations answered 201.
    pub acknowledged: u64,
    /// Acknowledged accounts that the final read does not find.
    pub lost: u64,
    /// Registrations whose outcome was unknown and that the final read finds.
    pub recovered: u64,
    /// Accounts the final read finds that no registration asked for.
    pub unexpected: u64,
    /// Acknowledged accounts that no final read covered.
    pub unchecked: u64,
    /// Indeterminate operations (`info`).
    pub indeterminate: u64,
    /// Rate-limit attempts allowed, and refused with 429.
    pub allowed: u64,
    pub refused: u64,
}

/// A check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Analysis {
    pub verdict: Verdict,
    /// Anomalies that break the verdict.
    pub anomalies: Vec<Anomaly>,
    /// Anomalies within what the options declared acceptable (losses in a failover without
    /// `REDIS_WAIT_REPLICAS`): counted and listed, not failed.
    pub accepted: Vec<Anomaly>,
    pub counts: Counts,
}

impl Analysis {
    pub fn is_valid(&self) -> bool {
        self.verdict == Verdict::Valid
    }
}

impl fmt::Display for Analysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(f, "verdict: {}", serde_json::to_value(self.verdict).unwrap_or_default().as_str().unwrap_or("?"))?;
        writeln!(
            f,
            "operations: {}, acknowledged: {}, lost: {}, recovered: {}, unexpected: {}, unchecked: {}, indeterminate: {}, rate-limit attempts allowed: {}, refused: {}",
            c.operations,
            c.acknowledged,
            c.lost,
            c.recovered,
            c.unexpected,
            c.unchecked,
            c.indeterminate,
            c.allowed,
            c.refused
        )?;
        for anomaly in &self.anomalies {
            writeln!(f, "anomaly {anomaly}")?;
        }
        for anomaly in &self.accepted {
            writeln!(f, "accepted {anomaly}")?;
        }
        Ok(())
    }
}
