//! The command line: read a plan, judge it, print the report in the chosen format.
//!
//! Exit status: 0 when the plan is good, 1 on policy violations or a snapshot mismatch, 2 when
//! the input cannot be read or is not this project's plan.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::report::{Report, SourceIndex, github, sarif};
use crate::{Plan, PlanError, PolicyConfig, check, input, snapshot, summary};

pub const EXIT_VIOLATIONS: u8 = 1;
pub(crate) const EXIT_UNREADABLE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A summary for people (`human` is its former name).
    #[value(alias = "human")]
    Text,
    /// The report, resources with their attributes included.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// GitHub Actions workflow commands: inline annotations.
    Github,
}

#[derive(Debug, Parser)]
#[command(about = "Check a Terraform/OpenTofu plan (show -json) against the private-network migration's policies")]
pub struct Args {
    /// The plan, as printed by `terraform show -json PLAN` or `tofu show -json PLAN` (UTF-8, or
    /// UTF-16 as Windows PowerShell saves it).
    pub plan: PathBuf,
    /// An expected resource snapshot (JSON, or an insta .snap file) to compare the plan with.
    #[arg(long)]
    pub expect: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The directory of the Terraform sources: values built from locals, which a plan does not
    /// carry, are followed through them, and `sarif` and `github` point at each resource's block
    /// instead of at the plan file.
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<PathBuf>,
    /// An address whose destruction has been reviewed, Redis's included (the old cluster of a
    /// migration); may be repeated.
    #[arg(long = "allow-destroy", value_name = "ADDRESS")]
    pub allow_destroy: Vec<String>,
    /// Treat this resource type as stateful too; may be repeated.
    #[arg(long = "stateful-type", value_name = "TYPE")]
    pub stateful_type: Vec<String>,
    /// The private network's expected prefix length.
    #[arg(long, default_value_t = 22)]
    pub subnet_prefix: u8,
}

/// Runs plancheck, writing the report to `out` and problems to stderr; returns the exit status.
pub fn run(args: &Args, out: &mut dyn Write) -> u8 {
    match report(args) {
        Ok((text, passed)) => match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // A reader that stopped early (`| head -1`) has all it wants.
            Ok(()) | Err(_) if passed => 0,
            Ok(()) => EXIT_VIOLATIONS,
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => EXIT_VIOLATIONS,
            Err(error) => unreadable(&format!("cannot write the report: {error}")),
        },
        Err(problem) => unreadable(&problem),
    }
}

fn report(args: &Args) -> Result<(String, bool), String> {
    let path = args.plan.display().to_string();
    let bytes = std::fs::read(&args.plan).map_err(|error| format!("cannot read {path}: {error}"))?;
    let text = input::decode(bytes).map_err(|error| format!("{path}: {error}"))?;
    let plan = Plan::parse(&text).map_err(|error| format!("{path}: {error}"))?;
    if !plan.has_scaleway_resources() {
        return Err(format!("{path}: {}", PlanError::NotScaleway));
    }
    let sources = match &args.source_dir {
        Some(dir) => Some(
            crate::config::Sources::load(dir)
                .map_err(|error| format!("cannot read the sources in {}: {error}", dir.display()))?,
        ),
        None => None,
    };
    let mut config = PolicyConfig { subnet_prefix: args.subnet_prefix, sources, ..PolicyConfig::default() };
    config.allow_destroy.extend(args.allow_destroy.iter().cloned());
    config.stateful_types.extend(args.stateful_type.iter().cloned());

    let detailed = args.format == Format::Json || args.expect.is_some();
    let resources = if detailed { snapshot(&plan) } else { summary(&plan) };
    let mut report = Report::new(&path, &plan, check(&plan, &config), resources);
    if let Some(expected) = &args.expect {
        let expected = std::fs::read_to_string(expected)
            .map_err(|error| format!("cannot read {}: {error}", expected.display()))?;
        report.compare(&expected)?;
    }
    let sources = match &args.source_dir {
        Some(dir) => SourceIndex::load(dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?,
        None => SourceIndex::default(),
    };
    let text = match args.format {
        Format::Text => report.text(),
        Format::Json => serde_json::to_string_pretty(&report).expect("a report serialises") + "\n",
        Format::Sarif => sarif(&report, &sources) + "\n",
        Format::Github => github(&report, &sources),
    };
    Ok((text, report.passed()))
}

fn unreadable(problem: &str) -> u8 {
    eprintln!("plancheck: {problem}");
    EXIT_UNREADABLE
}
