//! What the runner shows while it works: a spinner on a terminal, plain lines otherwise (CI logs).

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    spinner: Option<ProgressBar>,
    label: String,
}

impl Progress {
    pub fn start(label: &str) -> Self {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed:>3}] {prefix}: {msg}").expect("a valid template"),
            );
            spinner.set_prefix(label.to_owned());
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        });
        Self { spinner, label: label.to_owned() }
    }

    /// A silent progress, for tests.
    pub fn hidden() -> Self {
        Self { spinner: Some(ProgressBar::hidden()), label: String::new() }
    }

    pub fn phase(&self, message: &str) {
        match &self.spinner {
            Some(spinner) => spinner.set_message(message.to_owned()),
            None => eprintln!("chaos: {}: {message}", self.label),
        }
    }

    /// Leaves a line behind, above the spinner.
    pub fn finish(&self, line: &str) {
        match &self.spinner {
            Some(spinner) => spinner.finish_with_message(line.to_owned()),
            None => eprintln!("chaos: {}: {line}", self.label),
        }
    }
}
