//! Where the service draws randomness (ids, attempt ids, retry jitter, salts) and reads the wall
//! clock (`created_at`): the operating system in production; a seed and simulated time in the
//! deterministic simulation, so that one seed replays byte for byte. Every timer and deadline
//! already reads tokio's clock, which the simulation drives.

use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use uuid::Uuid;

/// Randomness and the wall clock, shared by everything that needs them.
#[derive(Debug)]
pub struct Sources {
    rng: Mutex<StdRng>,
    /// The wall clock: the system's, or a fixed instant plus tokio's elapsed time.
    epoch: Option<(Timestamp, tokio::time::Instant)>,
}

impl Sources {
    /// The operating system's randomness and clock.
    pub fn from_os() -> Self {
        Self { rng: Mutex::new(StdRng::from_os_rng()), epoch: None }
    }

    /// Randomness from `seed`, and a wall clock that starts at `epoch` and moves with tokio's
    /// clock.
    pub fn seeded(seed: u64, epoch: Timestamp) -> Self {
        Self { rng: Mutex::new(StdRng::seed_from_u64(seed)), epoch: Some((epoch, tokio::time::Instant::now())) }
    }

    fn with<T>(&self, draw: impl FnOnce(&mut StdRng) -> T) -> T {
        draw(&mut self.rng.lock().expect("no panic while drawing"))
    }

    /// A random (version 4) UUID.
    pub fn uuid(&self) -> Uuid {
        let bytes = self.with(rand::Rng::random::<[u8; 16]>);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A duration drawn uniformly from zero to `ceiling`, both included.
    pub fn up_to(&self, ceiling: Duration) -> Duration {
        if ceiling.is_zero() {
            return ceiling;
        }
        self.with(|rng| rng.random_range(Duration::ZERO..=ceiling))
    }

    /// Random bytes, for salts.
    pub fn fill(&self, bytes: &mut [u8]) {
        self.with(|rng| rng.fill(bytes));
    }

    /// The wall clock.
    pub fn now(&self) -> Timestamp {
        match self.epoch {
            Some((epoch, started)) => {
                let elapsed = jiff::SignedDuration::try_from(started.elapsed()).unwrap_or(jiff::SignedDuration::MAX);
                epoch.checked_add(elapsed).unwrap_or(Timestamp::MAX)
            }
            None => Timestamp::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_values_every_time() {
        let epoch: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let (first, second) = (Sources::seeded(7, epoch), Sources::seeded(7, epoch));
        assert_eq!(first.uuid(), second.uuid());
        assert_eq!(first.up_to(Duration::from_secs(1)), second.up_to(Duration::from_secs(1)));
        assert_eq!(first.uuid().get_version_num(), 4);
        assert_ne!(Sources::from_os().uuid(), Sources::from_os().uuid());
    }

    #[tokio::test(start_paused = true)]
    async fn a_seeded_wall_clock_moves_with_tokios_clock() {
        let epoch: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let sources = Sources::seeded(1, epoch);
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(sources.now().to_string(), "2026-01-01T00:01:30Z");
    }
}
