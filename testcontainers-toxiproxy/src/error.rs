/// Why a call to Toxiproxy failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No answer: the server is down, unreachable, or timed out.
    #[error("toxiproxy did not answer {request}: {source}")]
    Http { request: String, source: reqwest::Error },
    /// Toxiproxy refused the call. `message` is its own, such as `proxy not found`.
    #[error("toxiproxy answered {status} to {request}: {message}")]
    Api { request: String, status: u16, message: String },
    /// An answer that does not have the shape Toxiproxy 2.x gives.
    #[error("toxiproxy's answer to {request} is not what its API returns: {detail}")]
    Unexpected { request: String, detail: String },
    /// The container's control port could not be read.
    #[error("cannot find toxiproxy's control port: {0}")]
    Container(#[from] testcontainers::TestcontainersError),
}

impl Error {
    /// The HTTP status of a refused call, as in `Some(404)` for an unknown proxy.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
