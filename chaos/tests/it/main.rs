//! The chaos runner: experiment files, tolerances and reports offline, and short experiments
//! against a real local stack.

mod end_to_end;
mod experiments;
mod reports;

use std::path::PathBuf;

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
