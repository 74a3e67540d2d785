use std::path::PathBuf;

/// Everything that can stop the harness. Messages are one line and say what to do about missing
/// prerequisites.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing prerequisite: {what}; {fix}")]
    Prerequisite { what: String, fix: String },
    #[error("building the workspace binaries failed: {0}")]
    CargoBuild(String),
    #[error("cannot inspect {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("testcontainers: {0}")]
    Container(#[from] testcontainers::TestcontainersError),
    #[error(transparent)]
    Toxiproxy(#[from] testcontainers_toxiproxy::Error),
    #[error("the backend did not answer {request}: {source}")]
    Http { request: String, source: reqwest::Error },
    #[error("command in container {container} failed ({command}): {output}")]
    Exec { container: String, command: String, output: String },
    #[error("{0}")]
    Setup(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<testkit::wait::NotDone> for Error {
    fn from(error: testkit::wait::NotDone) -> Self {
        Self::Setup(error.to_string())
    }
}

impl From<testkit::cluster::ShapeError> for Error {
    fn from(error: testkit::cluster::ShapeError) -> Self {
        Self::Setup(error.0)
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
