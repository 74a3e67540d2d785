//! Gift Genie's backend: registration behind a Redis-backed rate limit, with a Redis client that
//! keeps answering, quickly and truthfully, when the network to Redis misbehaves.
//!
//! Binaries and tests start it through [`startup::App`].

pub mod deadline;
mod hashing;
pub mod metrics;
mod rate_limit;
pub mod redis_pool;
mod registration;
mod routes;
mod server;
pub mod sources;
pub mod startup;
mod state;
pub mod telemetry;
pub mod users;

/// The settings, read and bounded by their own crate, which the harnesses share.
pub use gift_genie_settings as config;

/// The Lua scripts the service runs, by name, as it sends them: for the simulation's Redis,
/// which runs each natively, known by its SHA1.
pub fn lua_scripts() -> [(&'static str, &'static str); 3] {
    [("rate_limit", rate_limit::SCRIPT), ("create_user", users::CREATE_SCRIPT), ("undo_user", users::UNDO_SCRIPT)]
}

/// Installs the process-wide rustls crypto provider that `rediss://` connections use. Idempotent.
pub fn install_tls_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
