//! Statistics over a run: error rate and latency per phase, and how long the service took to
//! notice a fault and to recover from it.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::serde_millis::option_millis;
use crate::timeline::{FaultWindow, HealthPoint, Sample};

/// Error rate and latency of a set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub error_rate: f64,
    #[serde(rename = "p50_ms")]
    pub p50: f64,
    #[serde(rename = "p99_ms")]
    pub p99: f64,
}

impl Stats {
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Self {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds");
        let mut errors = 0;
        for sample in samples {
            histogram.saturating_record(u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX).max(1));
            errors += usize::from(sample.failed());
        }
        let requests = usize::try_from(histogram.len()).unwrap_or(usize::MAX);
        if requests == 0 {
            return Self::default();
        }
        #[allow(clippy::cast_precision_loss)] // counts and microseconds far below 2^52
        let millis = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
        #[allow(clippy::cast_precision_loss)]
        let error_rate = errors as f64 / requests as f64;
        Self { requests, errors, error_rate, p50: millis(0.50), p99: millis(0.99) }
    }

    pub fn percentile(samples: &[Sample], percentile: f64) -> Option<Duration> {
        if samples.is_empty() {
            return None;
        }
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds");
        for sample in samples {
            histogram.saturating_record(u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX).max(1));
        }
        Some(Duration::from_micros(histogram.value_at_quantile(percentile / 100.0)))
    }
}

/// The load split around the faults. `before` holds the requests answered before the first
/// injection began; `after` those sent once the last heal was done; `during` all the others,
/// including those in flight while a fault was being injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    pub before: Stats,
    pub during: Stats,
    pub after: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurements {
    /// From the first fault to `/health` first reporting Redis disconnected.
    #[serde(rename = "time_to_detect_ms", serialize_with = "option_millis")]
    pub time_to_detect: Option<Duration>,
    /// From the last heal to `/health` reporting Redis connected again.
    #[serde(rename = "time_to_recover_ms", serialize_with = "option_millis")]
    pub time_to_recover: Option<Duration>,
    pub requests: usize,
    pub phases: Phases,
}

/// Detection, recovery and per-phase statistics from what was recorded.
pub fn measure(windows: &[FaultWindow], health: &[HealthPoint], samples: &[Sample]) -> Measurements {
    let first_fault = windows.iter().map(|window| window.start).min();
    let first_injection = windows.iter().map(|window| window.requested).min();
    let last_heal =
        windows.iter().map(|window| window.end).collect::<Option<Vec<_>>>().and_then(|ends| ends.into_iter().max());
    let detected = first_fault
        .and_then(|start| health.iter().find(|point| point.at >= start && !point.connected).map(|point| point.at));
    let time_to_detect = first_fault.zip(detected).map(|(start, at)| at.saturating_sub(start));
    let time_to_recover = match (detected, last_heal) {
        (Some(detected), Some(heal)) => health
            .iter()
            .find(|point| point.at >= heal.max(detected) && point.connected)
            .map(|point| point.at.saturating_sub(heal)),
        _ => None,
    };
    let in_phase = |sample: &&Sample, phase: usize| {
        let phase_of = match (first_injection, last_heal) {
            (Some(injection), _) if sample.at + sample.latency < injection => 0,
            (Some(_), Some(end)) if sample.at > end => 2,
            (Some(_), _) => 1,
            (None, _) => 0,
        };
        phase_of == phase
    };
    let phases = Phases {
        before: Stats::of(samples.iter().filter(|s| in_phase(s, 0))),
        during: Stats::of(samples.iter().filter(|s| in_phase(s, 1))),
        after: Stats::of(samples.iter().filter(|s| in_phase(s, 2))),
    };
    Measurements { time_to_detect, time_to_recover, requests: samples.len(), phases }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn detection_and_recovery_are_timed_from_the_fault_window() {
        let windows =
            [FaultWindow { fault: "partition".to_owned(), requested: ms(1000), start: ms(1000), end: Some(ms(4000)) }];
        let health: Vec<HealthPoint> =
            [(900, true), (1100, true), (1300, false), (3900, false), (4100, false), (4600, true)]
                .into_iter()
                .map(|(at, connected)| HealthPoint { at: ms(at), connected })
                .collect();
        let samples: Vec<Sample> = [(500, Some(200)), (2000, Some(503)), (4500, Some(200))]
            .into_iter()
            .map(|(at, status)| Sample { at: ms(at), latency: ms(2), status })
            .collect();
        let measured = measure(&windows, &health, &samples);
        assert_eq!(measured.time_to_detect, Some(ms(300)));
        assert_eq!(measured.time_to_recover, Some(ms(600)));
        assert_eq!(
            (measured.phases.before.requests, measured.phases.during.errors, measured.phases.after.errors),
            (1, 1, 0)
        );
    }

    #[test]
    fn a_fault_the_service_never_noticed_has_no_detection_or_recovery_time() {
        let windows = [FaultWindow {
            fault: "latency 100ms".to_owned(),
            requested: ms(1000),
            start: ms(1000),
            end: Some(ms(2000)),
        }];
        let health = [HealthPoint { at: ms(1500), connected: true }];
        let measured = measure(&windows, &health, &[]);
        assert_eq!((measured.time_to_detect, measured.time_to_recover), (None, None));
    }

    #[test]
    fn requests_caught_by_a_slow_injection_count_as_during_not_before() {
        // Stopping Redis takes effect while the call that stops it is still running.
        let windows = [FaultWindow {
            fault: "redis-restart".to_owned(),
            requested: ms(1000),
            start: ms(1200),
            end: Some(ms(3000)),
        }];
        let samples: Vec<Sample> = [
            (900, 50, Some(200)), // answered before the injection began
            (980, 40, None),      // in flight when it began
            (1100, 2, Some(503)), // sent while it ran
            (3100, 2, Some(200)),
        ]
        .into_iter()
        .map(|(at, latency, status)| Sample { at: ms(at), latency: ms(latency), status })
        .collect();
        let phases = measure(&windows, &[], &samples).phases;
        assert_eq!((phases.before.requests, phases.before.errors), (1, 0));
        assert_eq!((phases.during.requests, phases.during.errors), (2, 2));
        assert_eq!((phases.after.requests, phases.after.errors), (1, 0));
    }

    fn sample(latency_ms: u64, status: Option<u16>) -> Sample {
        Sample { at: Duration::ZERO, latency: Duration::from_millis(latency_ms), status }
    }

    #[test]
    fn errors_are_server_errors_and_missing_answers_not_client_errors() {
        let stats = Stats::of(&[sample(1, Some(200)), sample(1, Some(429)), sample(1, Some(503)), sample(1, None)]);
        assert_eq!((stats.requests, stats.errors), (4, 2));
        assert!((stats.error_rate - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn percentiles_come_from_latencies() {
        let samples: Vec<Sample> = (1..=100).map(|ms| sample(ms, Some(200))).collect();
        let stats = Stats::of(&samples);
        assert!((stats.p50 - 50.0).abs() < 0.1, "{stats:?}");
        assert!((stats.p99 - 99.0).abs() < 0.1, "{stats:?}");
        assert_eq!(Stats::percentile(&samples, 90.0).map(|d| d.as_millis()), Some(90));
        assert_eq!(Stats::of(&[]), Stats::default());
    }
}
