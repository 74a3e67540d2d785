//! What every handler shares: the Redis pool, the stores built on it, metrics and settings.

use std::sync::Arc;

use crate::config::Settings;
use crate::hashing::PasswordHasher;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::redis_pool::{RedisPool, SetupError};
use crate::users::UserStore;

/// Shared by every handler; clones are cheap.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub redis: RedisPool,
    pub users: UserStore,
    pub registration_limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    pub password_hasher: PasswordHasher,
}

/// Why the state could not be built. Nothing here touches the network.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Redis(#[from] SetupError),
    #[error("cannot start the password hashing workers: {0}")]
    HashingWorkers(#[source] std::io::Error),
}

impl AppState {
    pub(crate) fn new(settings: Settings) -> Result<Self, StateError> {
        let metrics = Arc::new(Metrics::new());
        metrics.publish_settings(&settings);
        let redis = RedisPool::new(settings.redis.clone(), metrics.redis.clone())?;
        let password_hasher =
            PasswordHasher::start(settings.hashing, metrics.hashing.clone()).map_err(StateError::HashingWorkers)?;
        Ok(Self {
            users: UserStore::new(redis.clone()),
            registration_limiter: RateLimiter::new(redis.clone(), settings.rate_limit, "register"),
            redis,
            metrics,
            settings: Arc::new(settings),
            password_hasher,
        })
    }
}
