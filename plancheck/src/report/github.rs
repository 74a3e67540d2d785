//! GitHub Actions workflow commands: an error annotation per violation and a notice per note,
//! placed on the resource's block when the sources are known.

use std::fmt::Write as _;

use super::{Report, SourceIndex};

pub fn github(report: &Report, sources: &SourceIndex) -> String {
    let mut out = String::new();
    for violation in &report.violations {
        let location = sources.find(&violation.address);
        let file = location.map_or_else(|| report.plan.clone(), |l| l.file.clone());
        let line = location.map_or(1, |l| l.line);
        let mut message = format!("{} ({}): {}", violation.address, violation.attribute, violation.reason);
        if !violation.path.is_empty() {
            let _ = write!(message, "\npath: {}", violation.path.join(" → "));
        }
        let _ = writeln!(
            out,
            "::error file={},line={line},title={}::{}",
            property(&file),
            property(violation.policy),
            data(&message)
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "::notice file={},title=plancheck::{}", property(&report.plan), data(note));
    }
    let _ = writeln!(
        out,
        "plancheck: {} violation{} in {}",
        report.violations.len(),
        if report.violations.len() == 1 { "" } else { "s" },
        report.plan
    );
    out
}

/// A command's message, escaped as the runner unescapes it.
fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A command's property value, which also ends at `,` and `:`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_properties_are_escaped() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
