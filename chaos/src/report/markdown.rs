//! A Markdown summary that fits a GitHub job summary.

use std::fmt::Write as _;

use super::seconds;
use crate::journal::{HistoryRecord, Journal, Status};

pub fn outcome(journal: &Journal) -> &'static str {
    match (journal.status, journal.deviated) {
        (Status::Completed, false) => "held",
        (Status::Completed, true) => "deviated",
        (Status::Aborted, _) => "aborted: steady state not met",
        (Status::Failed, _) => "failed to run",
        (Status::Interrupted, _) => "interrupted",
    }
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn ms(value: f64) -> String {
    format!("{value:.0} ms")
}

pub fn summary(journals: &[Journal]) -> String {
    let held = journals.iter().filter(|journal| journal.held()).count();
    let mut out = format!("## Chaos experiments: {held} of {} held\n\n", journals.len());
    out.push_str("| Experiment | Result | Detected | Recovered | Errors before / during / after | p99 before / during / after | Requests | History |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for journal in journals {
        let m = &journal.measurements;
        let p = &m.phases;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} / {} / {} | {} / {} / {} | {} | {} |",
            journal.experiment.title,
            outcome(journal),
            seconds(m.time_to_detect),
            seconds(m.time_to_recover),
            percent(p.before.error_rate),
            percent(p.during.error_rate),
            percent(p.after.error_rate),
            ms(p.before.p99),
            ms(p.during.p99),
            ms(p.after.p99),
            m.requests,
            journal.history.as_ref().map_or_else(|| "not checked".to_owned(), HistoryRecord::summary)
        );
    }
    let failing: Vec<&Journal> = journals.iter().filter(|journal| !journal.held()).collect();
    if !failing.is_empty() {
        out.push_str("\n### What did not hold\n\n");
        for journal in failing {
            let _ =
                writeln!(out, "**{}** ({}, target {}):", journal.experiment.title, outcome(journal), journal.target);
            for (phase, probe) in journal.probe_outcomes().filter(|(_, probe)| !probe.tolerance_met) {
                let _ = writeln!(out, "- {phase}: {}: {}", probe.name, probe.observed);
            }
            for (anomaly, at) in journal.anomalies() {
                let _ = writeln!(out, "- history, at {:.2} s: {anomaly}", at.as_secs_f64());
            }
            for activity in journal.failed_activities() {
                let _ = writeln!(
                    out,
                    "- {} {}: {}",
                    activity.kind,
                    activity.name,
                    activity.error.as_deref().unwrap_or_default()
                );
            }
            out.push('\n');
        }
    }
    out.push_str(
        "\nDetected: from the first fault to `/health` reporting Redis disconnected. Recovered: from the heal to `/health` \
         reporting connected again. Errors are 5xx answers and requests with no answer. History: the workload's \
         operations, checked for lost, stale, flipped and duplicate accounts, phantom conflicts and rate limits \
         exceeded (`<experiment>.history.jsonl`, `cargo run -p chaos -- check` reads it).\n",
    );
    out
}
