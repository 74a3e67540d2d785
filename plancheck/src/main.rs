//! plancheck: validates a Terraform or OpenTofu plan for the Redis private-network migration.
//!
//! ```text
//! terraform plan -out plan.bin && terraform show -json plan.bin > plan.json
//! cargo run -p plancheck -- plan.json [--expect SNAPSHOT] [--format json]
//! ```
//!
//! Exit status: 0 when the plan is good, 1 on policy violations or a snapshot mismatch, 2 when
//! the input cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use plancheck::report::Report;
use plancheck::{Plan, PolicyConfig, check};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Parser)]
#[command(about = "Check a Terraform/OpenTofu plan (show -json) against the private-network migration's policies")]
struct Args {
    /// The plan, as printed by `terraform show -json PLAN` or `tofu show -json PLAN`.
    plan: PathBuf,
    /// An expected resource snapshot (JSON, or an insta .snap file) to compare the plan with.
    #[arg(long)]
    expect: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// An address whose destruction has been reviewed; may be repeated.
    #[arg(long = "allow-destroy", value_name = "ADDRESS")]
    allow_destroy: Vec<String>,
    /// Treat this resource type as stateful too; may be repeated.
    #[arg(long = "stateful-type", value_name = "TYPE")]
    stateful_type: Vec<String>,
    /// The private network's expected prefix length.
    #[arg(long, default_value_t = 22)]
    subnet_prefix: u8,
}

const EXIT_VIOLATIONS: u8 = 1;
const EXIT_UNREADABLE: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    let path = args.plan.display().to_string();
    let text = match std::fs::read_to_string(&args.plan) {
        Ok(text) => text,
        Err(error) => return unreadable(&format!("cannot read {path}: {error}")),
    };
    let plan = match Plan::parse(&text) {
        Ok(plan) => plan,
        Err(error) => return unreadable(&format!("{path}: {error}")),
    };
    let mut config = PolicyConfig { subnet_prefix: args.subnet_prefix, ..PolicyConfig::default() };
    config.allow_destroy.extend(args.allow_destroy);
    config.stateful_types.extend(args.stateful_type);

    let mut report = Report::new(&path, &plan, check(&plan, &config));
    if let Some(expected) = &args.expect {
        let compared = std::fs::read_to_string(expected)
            .map_err(|error| format!("cannot read {}: {error}", expected.display()))
            .and_then(|text| report.compare(&text));
        if let Err(problem) = compared {
            return unreadable(&problem);
        }
    }
    match args.format {
        Format::Human => print!("{}", report.human()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).expect("a report serialises")),
    }
    if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_VIOLATIONS) }
}

fn unreadable(problem: &str) -> ExitCode {
    eprintln!("plancheck: {problem}");
    ExitCode::from(EXIT_UNREADABLE)
}
