//! The chaos runner: experiment files, tolerances and reports offline, and short experiments
//! against a real local stack.

mod cli;
mod end_to_end;
mod experiments;
mod reports;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `chaos` binary from the crate's folder, as a user in it would.
pub fn chaos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaos")).current_dir(crate_dir()).args(args).output().expect("the runner starts")
}

/// The journal the runner wrote for experiment `name` in `dir`.
pub fn journal(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.journal.json"))).unwrap()).unwrap()
}
