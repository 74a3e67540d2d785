//! What plancheck prints: a text summary by default, JSON for machines, SARIF for code scanning,
//! GitHub workflow commands for inline annotations, and a readable diff when the plan's snapshot
//! differs from the expected one.

mod github;
mod sarif;
mod source;

use std::fmt::Write as _;

use serde::Serialize;

pub use github::github;
pub use sarif::sarif;
pub use source::{Location, SourceIndex};

use crate::policy::{Findings, POLICIES};
use crate::{Action, Plan, ResourceSnapshot, Violation};

#[derive(Debug, Serialize)]
pub struct Report {
    pub plan: String,
    pub format_version: String,
    pub terraform_version: Option<String>,
    pub resources: Vec<ResourceSnapshot>,
    pub violations: Vec<Violation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `None` when no expected snapshot was given.
    pub snapshot_matches: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_diff: Option<String>,
}

impl Report {
    /// `resources` is [`crate::snapshot`] when attributes are to be shown or compared, and
    /// [`crate::summary`] otherwise.
    pub fn new(path: &str, plan: &Plan<'_>, findings: Findings, resources: Vec<ResourceSnapshot>) -> Self {
        Self {
            plan: path.to_owned(),
            format_version: plan.format_version.clone(),
            terraform_version: plan.terraform_version.clone(),
            resources,
            violations: findings.violations,
            notes: findings.notes,
            snapshot_matches: None,
            snapshot_diff: None,
        }
    }

    /// Compares the snapshot with `expected` (JSON, or an insta `.snap` file).
    pub fn compare(&mut self, expected: &str) -> Result<(), String> {
        let body = strip_insta_header(expected);
        let expected: serde_json::Value =
            serde_json::from_str(body).map_err(|error| format!("the expected snapshot is not JSON: {error}"))?;
        let actual = serde_json::to_value(&self.resources).expect("a snapshot serialises");
        if expected == actual {
            self.snapshot_matches = Some(true);
        } else {
            let expected = serde_json::to_string_pretty(&expected).expect("JSON serialises");
            let actual = serde_json::to_string_pretty(&actual).expect("JSON serialises");
            let diff = similar::TextDiff::from_lines(&expected, &actual)
                .unified_diff()
                .context_radius(3)
                .header("expected", "plan")
                .to_string();
            self.snapshot_matches = Some(false);
            self.snapshot_diff = Some(diff);
        }
        Ok(())
    }

    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.snapshot_matches != Some(false)
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let version = self.terraform_version.as_deref().unwrap_or("unknown");
        let _ = writeln!(out, "plan {} (terraform {version}, format {})", self.plan, self.format_version);
        for resource in &self.resources {
            let marker = match resource.action {
                Action::Create => "+",
                Action::Update => "~",
                Action::Replace => "-/+",
                Action::Delete => "-",
                Action::Read => "<=",
                Action::NoOp => "=",
                Action::Forget | Action::CreateForget => "x",
                Action::Unknown => "?",
            };
            let _ = writeln!(out, "  {marker:>3} {:<13} {}", resource.action.label(), resource.address);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(out, "policies: {} checked, {} violated", POLICIES.len(), self.violations.len());
        for violation in &self.violations {
            let _ = writeln!(out, "  x {violation}");
            if !violation.path.is_empty() {
                let _ = writeln!(out, "      path: {}", violation.path.join(" → "));
            }
        }
        match (&self.snapshot_matches, &self.snapshot_diff) {
            (Some(true), _) => out.push_str("snapshot: matches the expected one\n"),
            (Some(false), Some(diff)) => {
                let _ = write!(out, "snapshot: differs from the expected one\n{diff}");
            }
            _ => {}
        }
        out.push_str(if self.passed() { "result: pass\n" } else { "result: FAIL\n" });
        out
    }
}

fn strip_insta_header(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else { return text };
    rest.split_once("\n---\n").map_or(text, |(_, body)| body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insta_header_is_skipped() {
        assert_eq!(strip_insta_header("---\nsource: x\n---\n[]\n"), "[]\n");
        assert_eq!(strip_insta_header("[]"), "[]");
    }
}
