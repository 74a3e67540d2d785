//! Builds this workspace's binaries for the local images, so that `cargo test` on a fresh
//! checkout just works.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The workspace root: the parent of this crate.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("e2e lives inside the workspace").to_path_buf()
}

/// Builds `package`'s binary `bin` for each pair, and returns where each binary was written.
///
/// Runs the same `cargo` that runs the tests. Cargo's own locking makes concurrent test processes
/// wait for one build; once built, this is a no-op that takes a fraction of a second.
pub(crate) fn build_binaries(targets: &[(&str, &str)]) -> Result<HashMap<String, PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root()).args(["build", "--message-format=json-render-diagnostics", "--quiet"]);
    // Cargo describes the running test's package in the environment. Build scripts that watch
    // those variables (ring watches CARGO_MANIFEST_DIR) would rebuild half the dependency tree on
    // every test run, so the nested build sees the environment a shell would.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_for_the_test = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        if set_by_cargo_for_the_test {
            command.env_remove(&*name);
        }
    }
    for (package, bin) in targets {
        command.args(["-p", package, "--bin", bin]);
    }
    tracing::info!(?targets, "building workspace binaries for the e2e images");
    let output = command.output().map_err(|error| Error::CargoBuild(format!("cannot run cargo: {error}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        return Err(Error::CargoBuild(last));
    }
    let mut executables = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] == "compiler-artifact"
            && let (Some(name), Some(executable)) = (message["target"]["name"].as_str(), message["executable"].as_str())
        {
            executables.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    for (_, bin) in targets {
        if !executables.contains_key(*bin) {
            return Err(Error::CargoBuild(format!("cargo reported no executable for {bin}")));
        }
    }
    Ok(executables)
}

/// What a Docker build of this workspace needs: the manifest, the lock file, and the top-level
/// folder of every member (cargo refuses to load a workspace with a member missing).
pub(crate) fn build_context_entries() -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        workspace: Members,
    }
    #[derive(serde::Deserialize)]
    struct Members {
        members: Vec<String>,
    }

    let path = root().join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|error| Error::Setup(format!("cannot read {}: {error}", path.display())))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|error| Error::Setup(format!("cannot read {}: {error}", path.display())))?;
    let mut entries = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    for member in manifest.workspace.members {
        let top = member.split('/').next().unwrap_or(&member).to_owned();
        if !entries.contains(&top) {
            entries.push(top);
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_build_context_holds_every_member_once() {
        let entries = build_context_entries().unwrap();
        assert_eq!(
            entries,
            [
                "Cargo.toml",
                "Cargo.lock",
                "backend",
                "chaos",
                "chaos-proxy",
                "e2e",
                "history",
                "plancheck",
                "process-metrics",
                "settings",
                "sim",
                "testcontainers-toxiproxy",
                "testkit"
            ]
        );
    }
}
