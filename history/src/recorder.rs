//! Writing a history as operations happen, from any number of tasks.

use std::sync::Mutex;

use tokio::time::Instant;

use crate::op::{Function, Op, OpType, Value};

/// A history being written. Times come from tokio's clock, so that a history recorded in
/// simulated time is as repeatable as the simulation.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    ops: Mutex<Vec<Op>>,
}

/// An operation that was invoked and has not ended.
#[derive(Debug)]
#[must_use = "an invoked operation must be completed, or the history says it never ended"]
pub struct Pending {
    process: u64,
    f: Function,
    value: Value,
    /// The invoke's time, in nanoseconds since the history began.
    pub invoked_at: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// The process that reads every account back once the faults have healed, numbered above any
/// client's.
pub const FINAL_PROCESS: u64 = 1_000_000;

impl Recorder {
    pub fn new() -> Self {
        Self { started: Instant::now(), ops: Mutex::new(Vec::new()) }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn push(&self, process: u64, kind: OpType, f: Function, value: Value) -> u64 {
        let mut ops = self.ops.lock().expect("history lock");
        let time = self.now();
        let index = ops.len() as u64;
        ops.push(Op { index, process, kind, f, value, time });
        time
    }

    /// Records that `process` starts `f` on `value`.
    pub fn invoke(&self, process: u64, f: Function, value: Value) -> Pending {
        let invoked_at = self.push(process, OpType::Invoke, f, value.clone());
        Pending { process, f, value, invoked_at }
    }

    /// Records that the final reader starts reading back what `value` names.
    pub fn invoke_final_read(&self, value: Value) -> Pending {
        self.invoke(FINAL_PROCESS, Function::Read, Value { final_read: true, ..value })
    }

    /// Records how `pending` ended. `outcome`'s fields are added to the invoke's.
    pub fn complete(&self, pending: Pending, kind: OpType, outcome: Value) {
        let Pending { process, f, value, .. } = pending;
        let merged = Value {
            email: outcome.email.or(value.email),
            id: outcome.id.or(value.id),
            client: outcome.client.or(value.client),
            found: outcome.found,
            final_read: value.final_read || outcome.final_read,
            status: outcome.status,
            error: outcome.error,
            rate_limit: outcome.rate_limit,
        };
        self.push(process, kind, f, merged);
    }

    /// The history so far.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().expect("history lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_is_an_invoke_then_its_completion_with_the_invokes_fields() {
        let recorder = Recorder::new();
        let pending =
            recorder.invoke(3, Function::Register, Value { email: Some("a@example.com".into()), ..Value::default() });
        recorder.complete(pending, OpType::Ok, Value { id: Some("u1".into()), status: Some(201), ..Value::default() });
        let ops = recorder.ops();
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].index, ops[0].kind, ops[1].index, ops[1].kind), (0, OpType::Invoke, 1, OpType::Ok));
        assert_eq!(ops[1].value.email.as_deref(), Some("a@example.com"));
        assert_eq!(ops[1].value.id.as_deref(), Some("u1"));
        assert!(ops[1].time >= ops[0].time);
    }
}
