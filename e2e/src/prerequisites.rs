//! Checks that fail with one line saying what is missing and how to get it.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Finds `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// A host binary that goes into a locally built image.
pub(crate) fn host_binary(program: &str, package: &str) -> Result<PathBuf> {
    which(program).ok_or_else(|| Error::Prerequisite {
        what: format!("{program} is not on PATH"),
        fix: format!(
            "install it (sudo apt-get install -y {package}), or set E2E_IMAGES=registry on a machine that can pull images"
        ),
    })
}

/// The Docker engine answers.
pub async fn docker(docker: &bollard::Docker) -> Result<()> {
    docker.ping().await.map(drop).map_err(|error| Error::Prerequisite {
        what: format!("no Docker engine answers ({error})"),
        fix: "start one (sudo dockerd &, or Docker Desktop), or point DOCKER_HOST at it".to_owned(),
    })
}
