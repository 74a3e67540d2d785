//! The table the runner prints when it is done: one line per experiment.

use std::fmt::Write as _;

use super::markdown::outcome;
use super::seconds;
use crate::journal::Journal;

pub fn table(journals: &[Journal]) -> String {
    let mut out = format!(
        "{:<56} {:<30} {:>9} {:>10} {:>24} {:>9}\n",
        "experiment", "result", "detected", "recovered", "errors before/during/after", "requests"
    );
    for journal in journals {
        let m = &journal.measurements;
        let errors = format!(
            "{:.0}% / {:.0}% / {:.0}%",
            m.phases.before.error_rate * 100.0,
            m.phases.during.error_rate * 100.0,
            m.phases.after.error_rate * 100.0
        );
        let title: String = journal.experiment.title.chars().take(55).collect();
        let _ = writeln!(
            out,
            "{title:<56} {:<30} {:>9} {:>10} {errors:>24} {:>9}",
            outcome(journal),
            seconds(m.time_to_detect),
            seconds(m.time_to_recover),
            m.requests
        );
    }
    out
}
