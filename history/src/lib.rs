//! What clients did, recorded as Jepsen records it, and what the record proves.
//!
//! A history is a list of operations ([`Op`]): each client operation is an `invoke` when it
//! starts, then an `ok`, a `fail` or an `info` (indeterminate) when it ends, with the client's
//! `process`, the function `f` (`register`, `read` or `limit`), a `value` and a `time`. [`Recorder`]
//! writes one as operations happen; [`jsonl`] reads and writes it as JSON lines, one operation
//! per line, the way Jepsen's own tools take an EDN history in JSON form.
//!
//! [`check()`] reads a history the way Jepsen's checkers do and reports every anomaly with the
//! operations involved: two acknowledged accounts for one email, an acknowledged account that a
//! final read cannot find, a read after an acknowledgement that does not find it, an account
//! that disappears and comes back, a conflict with nobody, and more allowed attempts in one
//! client's rate-limit window than the limit. The format is documented in `history/README.md`.

mod analysis;
pub mod check;
pub mod jsonl;
mod op;
mod recorder;

pub use analysis::{Analysis, Anomaly, AnomalyKind, Counts, Verdict};
pub use check::{Options, check};
pub use op::{Function, Op, OpType, RateLimitSeen, Value, attempt_outcome, read_outcome, registration_outcome};
pub use recorder::{FINAL_PROCESS, Pending, Recorder};
