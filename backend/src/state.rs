//! What every handler shares: the Redis pool, the stores built on it, metrics and settings.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::redis_pool::{RedisPool, SetupError};
use crate::users::UserStore;

/// Shared by every handler; clones are cheap.
#[derive(Clone, Debug)]
pub struct AppState {
    pub redis: RedisPool,
    pub users: UserStore,
    pub registration_limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    /// One password hash at a time per core: more would only add memory, not throughput.
    pub password_hashing: Arc<Semaphore>,
}

impl AppState {
    pub fn new(settings: Settings) -> Result<Self, SetupError> {
        let metrics = Arc::new(Metrics::new());
        let redis = RedisPool::new(settings.redis.clone(), metrics.redis.clone())?;
        Ok(Self {
            users: UserStore::new(redis.clone()),
            registration_limiter: RateLimiter::new(redis.clone(), settings.rate_limit, "register"),
            redis,
            metrics,
            settings: Arc::new(settings),
            password_hashing: Arc::new(Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from))),
        })
    }
}
