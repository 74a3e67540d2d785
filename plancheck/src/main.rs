//! plancheck: validates a Terraform or OpenTofu plan for the Redis private-network migration.
//!
//! ```text
//! terraform plan -out plan.bin && terraform show -json plan.bin > plan.json
//! cargo run -p plancheck -- plan.json [--expect SNAPSHOT] [--format text|json|sarif|github]
//! ```
//!
//! Exit status: 0 when the plan is good, 1 on policy violations or a snapshot mismatch, 2 when
//! the input cannot be read or is not this project's plan.

use std::process::ExitCode;

use clap::Parser as _;
use plancheck::cli::{Args, run};

fn main() -> ExitCode {
    let args = Args::parse();
    ExitCode::from(run(&args, &mut std::io::stdout().lock()))
}
