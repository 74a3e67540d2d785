//! plancheck against the Terraform in `infra/`, synthetic plans for each failure mode, real plan
//! JSON from the local terraform binary, and the command line. No Docker, no credentials.

mod cli;
mod reach;
mod shapes;
mod terraform;

use std::path::{Path, PathBuf};

/// This crate's folder: the command-line tests run plancheck from here.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root, which holds `infra/`.
pub fn workspace() -> PathBuf {
    crate_dir().parent().expect("plancheck lives inside the workspace").to_path_buf()
}

/// A plan from `tests/fixtures/plans`.
pub fn fixture(name: &str) -> PathBuf {
    crate_dir().join("tests/fixtures/plans").join(name)
}
