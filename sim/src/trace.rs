//! The trace of a run: every fault, every Redis command and every HTTP answer, with its
//! simulated time. A seed's trace is the same, byte for byte, every time it runs.
//!
//! Off, it records nothing, and callers skip formatting its lines (see [`Trace::is_on`]): a
//! sweep runs untraced, and a failing seed runs again, traced, to show what happened.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// Lines of the trace, each stamped with the simulated time since the run began. Clones share it.
#[derive(Debug, Clone)]
pub struct Trace {
    started: Instant,
    lines: Option<Arc<Mutex<Vec<String>>>>,
}

impl Trace {
    /// A trace whose clock starts now; `on`, it records.
    pub fn new(on: bool) -> Self {
        Self { started: Instant::now(), lines: on.then(Arc::default) }
    }

    pub fn is_on(&self) -> bool {
        self.lines.is_some()
    }

    pub fn line(&self, line: impl AsRef<str>) {
        let Some(lines) = &self.lines else { return };
        let at = self.started.elapsed();
        let line = format!("{:>5}.{:06} {}", at.as_secs(), at.subsec_micros(), line.as_ref());
        lines.lock().expect("no panic holds the trace").push(line);
    }

    /// The whole trace, one line per event.
    pub fn text(&self) -> String {
        let Some(lines) = &self.lines else { return String::new() };
        let lines = lines.lock().expect("no panic holds the trace");
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}
