//! One deadline per request, passed down to every Redis call and retry it makes, so that no
//! combination of attempts, backoffs and waits for a connection can outlast the request.

use std::time::Duration;

use tokio::time::Instant;

const FAR_FUTURE: Duration = Duration::from_hours(30 * 365 * 24);

/// The instant by which a piece of work must be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// `timeout` from now. Settings bound durations to a day; should one not be, the deadline is
    /// as far away as the clock allows rather than a panic.
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        // The monotonic clock counts from boot: thirty years from now always fits.
        Self(now.checked_add(timeout).unwrap_or_else(|| now + FAR_FUTURE))
    }

    pub fn instant(self) -> Instant {
        self.0
    }

    /// Time left; zero once passed.
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn has_passed(self) -> bool {
        self.remaining().is_zero()
    }

    /// The earlier of this deadline and `timeout` from now: the budget of one step of the work.
    #[must_use]
    pub fn within(self, timeout: Duration) -> Self {
        self.min(Self::after(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_timeout_gives_a_far_deadline_instead_of_a_panic() {
        let deadline = Deadline::after(Duration::MAX);
        assert!(deadline.remaining() > Duration::from_hours(365 * 24));
    }

    #[test]
    fn a_step_never_outlasts_its_deadline() {
        let deadline = Deadline::after(Duration::from_millis(100));
        assert_eq!(deadline.within(Duration::from_secs(5)), deadline);
        assert!(deadline.within(Duration::from_millis(10)) < deadline);
    }

    #[test]
    fn a_passed_deadline_has_nothing_left() {
        let deadline = Deadline::after(Duration::ZERO);
        assert!(deadline.has_passed());
        assert_eq!(deadline.remaining(), Duration::ZERO);
    }
}
