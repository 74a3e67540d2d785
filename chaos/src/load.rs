//! A steady stream of requests during an experiment, and what users saw.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::experiment::LoadSpec;

/// One request of the load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// When it was sent, from the start of the experiment.
    #[serde(rename = "at_ms", serialize_with = "crate::serde_millis::millis")]
    pub at: Duration,
    #[serde(rename = "latency_ms", serialize_with = "crate::serde_millis::millis")]
    pub latency: Duration,
    /// The status, or `None` when no answer came (connection error or client timeout).
    pub status: Option<u16>,
}

impl Sample {
    /// What users count as a failure: no answer, or a server error. 4xx are the service working.
    pub fn failed(&self) -> bool {
        self.status.is_none_or(|status| status >= 500)
    }
}

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

/// The running load: samples accumulate until it is stopped.
pub struct Load {
    samples: Arc<Mutex<Vec<Sample>>>,
    dispatcher: JoinHandle<()>,
}

impl Load {
    /// Sends GET `base_url + spec.path` at `spec.rate` per second, at most `spec.concurrency` in
    /// flight; a request that would exceed that is skipped and counted as a failure, as a user
    /// whose request cannot even be sent would see it.
    pub fn start(base_url: &str, spec: &LoadSpec, started: Instant) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let url = format!("{}{}", base_url.trim_end_matches('/'), spec.path);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        let in_flight = Arc::new(Semaphore::new(spec.concurrency as usize));
        let interval = Duration::from_secs(1) / spec.rate;
        let sink = Arc::clone(&samples);
        let dispatcher = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let at = started.elapsed();
                let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                    sink.lock().expect("samples lock").push(Sample { at, latency: Duration::ZERO, status: None });
                    continue;
                };
                let (client, url, sink) = (client.clone(), url.clone(), Arc::clone(&sink));
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let status = client.get(&url).send().await.ok().map(|response| response.status().as_u16());
                    sink.lock().expect("samples lock").push(Sample { at, latency: sent.elapsed(), status });
                    drop(permit);
                });
            }
        });
        Self { samples, dispatcher }
    }

    /// The samples sent in the last `window`.
    pub fn recent(&self, window: Duration, now: Duration) -> Vec<Sample> {
        let since = now.saturating_sub(window);
        self.samples.lock().expect("samples lock").iter().filter(|sample| sample.at >= since).copied().collect()
    }

    /// Stops sending; answers still in flight are dropped.
    pub fn stop(self) -> Vec<Sample> {
        self.dispatcher.abort();
        let mut samples = self.samples.lock().expect("samples lock").clone();
        samples.sort_by_key(|sample| sample.at);
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
