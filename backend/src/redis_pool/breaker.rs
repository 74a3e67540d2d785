//! A circuit breaker, so that requests fail fast while Redis is unreachable.
//!
//! Closed: calls go through; consecutive unavailability errors are counted and any success resets
//! the count. Open: calls fail at once with [`RedisError::CircuitOpen`] while a background probe
//! (driven by `RedisPool`) tries Redis on a fresh connection every probe interval. Half-open: a
//! probe is in flight; calls still fail fast. A successful probe closes the breaker.
//!
//! Letting live traffic act as the half-open trial would make some user pay the full timeout on
//! every probe; the background probe pays it instead.
//!
//! There is one breaker per shard ([`Breakers`]): in cluster mode a shard that is down fails
//! fast while the others keep answering.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::metrics::{RedisMetrics, StateLabels};

use super::RedisError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    const ALL: [Self; 3] = [Self::Closed, Self::Open, Self::HalfOpen];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    last_cause: String,
    opened_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    inner: Mutex<Inner>,
    failure_threshold: u32,
    metrics: RedisMetrics,
    shard: String,
}

/// What a failure did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tripped {
    /// This failure opened the breaker; the caller must start the probe.
    Now,
    No,
}

impl Breaker {
    pub(crate) fn new(failure_threshold: u32, metrics: RedisMetrics, shard: &str) -> Self {
        let breaker = Self {
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                last_cause: String::new(),
                opened_at: None,
            }),
            failure_threshold,
            metrics,
            shard: shard.to_owned(),
        };
        breaker.publish(BreakerState::Closed);
        breaker
    }

    pub(crate) fn shard(&self) -> &str {
        &self.shard
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// Lets a call through, or explains why not.
    pub(crate) fn admit(&self) -> Result<(), RedisError> {
        let inner = self.lock();
        match inner.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open | BreakerState::HalfOpen => {
                Err(RedisError::CircuitOpen { failures: inner.consecutive_failures, cause: inner.last_cause.clone() })
            }
        }
    }

    pub(crate) fn record_success(&self) {
        let mut inner = self.lock();
        if inner.state == BreakerState::Closed {
            inner.consecutive_failures = 0;
        }
    }

    pub(crate) fn record_failure(&self, error: &RedisError) -> Tripped {
        let mut inner = self.lock();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        inner.last_cause = error.to_string();
        if inner.state == BreakerState::Closed && inner.consecutive_failures >= self.failure_threshold {
            inner.state = BreakerState::Open;
            inner.opened_at = Some(Instant::now());
            drop(inner);
            self.metrics.breaker_opened.inc();
            self.publish(BreakerState::Open);
            tracing::error!(cause = %error, shard = self.shard, threshold = self.failure_threshold, "redis failed repeatedly; opening the circuit breaker");
            return Tripped::Now;
        }
        Tripped::No
    }

    pub(crate) fn probe_started(&self) {
        self.transition(BreakerState::Open, BreakerState::HalfOpen);
    }

    pub(crate) fn probe_failed(&self, error: &RedisError) {
        let mut inner = self.lock();
        inner.last_cause = error.to_string();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        drop(inner);
        self.transition(BreakerState::HalfOpen, BreakerState::Open);
    }

    pub(crate) fn probe_succeeded(&self) {
        let opened_at = {
            let mut inner = self.lock();
            inner.state = BreakerState::Closed;
            inner.consecutive_failures = 0;
            inner.opened_at.take()
        };
        self.publish(BreakerState::Closed);
        let open_for = opened_at.map(|at| at.elapsed());
        tracing::info!(?open_for, shard = self.shard, "redis answered the probe; closing the circuit breaker");
    }

    fn transition(&self, from: BreakerState, to: BreakerState) {
        let mut inner = self.lock();
        if inner.state == from {
            inner.state = to;
            drop(inner);
            self.publish(to);
        }
    }

    fn publish(&self, current: BreakerState) {
        for state in BreakerState::ALL {
            self.metrics
                .breaker_state
                .get_or_create(&StateLabels { shard: self.shard.clone(), state: state.label() })
                .set(i64::from(state == current));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("breaker lock is never poisoned: no code panics while holding it")
    }

    /// Takes the breaker's series out of the metrics: its shard is gone.
    fn unpublish(&self) {
        for state in BreakerState::ALL {
            self.metrics.breaker_state.remove(&StateLabels { shard: self.shard.clone(), state: state.label() });
        }
    }
}

/// The breakers of every shard, made on first use.
#[derive(Debug)]
pub(crate) struct Breakers {
    failure_threshold: u32,
    metrics: RedisMetrics,
    by_shard: Mutex<HashMap<String, Arc<Breaker>>>,
}

impl Breakers {
    pub(crate) fn new(failure_threshold: u32, metrics: RedisMetrics) -> Self {
        Self { failure_threshold, metrics, by_shard: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn of(&self, shard: &str) -> Arc<Breaker> {
        let mut by_shard = self.by_shard.lock().expect("breakers lock");
        Arc::clone(
            by_shard
                .entry(shard.to_owned())
                .or_insert_with(|| Arc::new(Breaker::new(self.failure_threshold, self.metrics.clone(), shard))),
        )
    }

    /// Drops the breaker of a shard that no longer exists (its slots moved to another primary).
    pub(crate) fn forget(&self, shard: &str) {
        if let Some(breaker) = self.by_shard.lock().expect("breakers lock").remove(shard) {
            breaker.unpublish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn timeout() -> RedisError {
        RedisError::CommandTimeout { operation: "ping", timeout: std::time::Duration::from_millis(5) }
    }

    fn breaker(threshold: u32) -> Breaker {
        Breaker::new(threshold, Metrics::new().redis, "primary")
    }

    #[test]
    fn breaker_opens_only_after_the_threshold_of_consecutive_failures() {
        let breaker = breaker(3);
        assert_eq!(breaker.record_failure(&timeout()), Tripped::No);
        assert_eq!(breaker.record_failure(&timeout()), Tripped::No);
        assert!(breaker.admit().is_ok());
        assert_eq!(breaker.record_failure(&timeout()), Tripped::Now);
        assert_eq!(breaker.state(), BreakerState::Open);
        let refused = breaker.admit().expect_err("an open breaker refuses calls");
        assert!(refused.to_string().contains("timed out"), "the refusal names the last cause: {refused}");
    }

    #[test]
    fn a_success_resets_the_count_of_consecutive_failures() {
        let breaker = breaker(2);
        breaker.record_failure(&timeout());
        breaker.record_success();
        assert_eq!(breaker.record_failure(&timeout()), Tripped::No);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn only_a_successful_probe_closes_an_open_breaker() {
        let breaker = breaker(1);
        breaker.record_failure(&timeout());
        breaker.probe_started();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.admit().is_err(), "half-open still fails fast");
        breaker.probe_failed(&timeout());
        assert_eq!(breaker.state(), BreakerState::Open);
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Open, "a late success from an old call does not close it");
        breaker.probe_started();
        breaker.probe_succeeded();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn breaker_state_is_published_as_one_hot_gauges() {
        let metrics = Metrics::new();
        let breaker = Breaker::new(1, metrics.redis.clone(), "primary");
        breaker.record_failure(&timeout());
        let text = metrics.encode();
        assert!(text.contains("gift_genie_redis_breaker_state{shard=\"primary\",state=\"open\"} 1"), "{text}");
        assert!(text.contains("gift_genie_redis_breaker_state{shard=\"primary\",state=\"closed\"} 0"), "{text}");
    }

    #[test]
    fn each_shard_has_its_own_breaker() {
        let metrics = Metrics::new();
        let breakers = Breakers::new(1, metrics.redis.clone());
        breakers.of("10.0.0.1:6379").record_failure(&timeout());
        assert!(breakers.of("10.0.0.1:6379").admit().is_err());
        assert!(breakers.of("10.0.0.2:6379").admit().is_ok(), "a shard that is down leaves the others alone");
        breakers.forget("10.0.0.1:6379");
        assert!(breakers.of("10.0.0.1:6379").admit().is_ok(), "a forgotten shard starts afresh");
        assert!(!metrics.encode().contains("state=\"open\"} 1"));
    }
}
