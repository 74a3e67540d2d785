//! Probes and their tolerances.

use std::time::{Duration, Instant};

use e2e::BackendClient;
use serde::Serialize;
use serde_json::Value;

use crate::experiment::Probe;
use crate::load::Load;
use crate::stats::Stats;
use crate::timeline::Sample;

/// What one probe saw, and whether that was within its tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeOutcome {
    pub name: String,
    pub tolerance_met: bool,
    /// What was observed, for people.
    pub observed: String,
    /// How long the probe was polled before its tolerance held (probes with `within`).
    #[serde(
        rename = "took_ms",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serde_millis::option_millis"
    )]
    pub took: Option<Duration>,
}

/// Judges one HTTP answer against an `http` probe's tolerance.
pub(crate) fn judge_http(probe: &Probe, status: Option<u16>, body: &Value, latency: Duration) -> (bool, String) {
    let Probe::Http { status: expected_status, json, max_latency, .. } = probe else {
        unreachable!("judge_http is only called for http probes")
    };
    let Some(status) = status else {
        return (false, format!("no answer after {}", millis(latency)));
    };
    let mut problems = Vec::new();
    if let Some(expected) = expected_status
        && *expected != status
    {
        problems.push(format!("status {status}, expected {expected}"));
    }
    for (field, expected) in json {
        let actual = body.get(field).unwrap_or(&Value::Null);
        if actual != expected {
            problems.push(format!("{field} = {actual}, expected {expected}"));
        }
    }
    if let Some(max) = max_latency
        && latency > max.get()
    {
        problems.push(format!("took {}, at most {} allowed", millis(latency), millis(max.get())));
    }
    if problems.is_empty() {
        (true, format!("status {status} in {}", millis(latency)))
    } else {
        (false, problems.join("; "))
    }
}

/// Judges a latency percentile of the load's samples.
pub(crate) fn judge_latency(percentile: f64, max: Duration, samples: &[Sample]) -> (bool, String) {
    match Stats::percentile(samples, percentile) {
        None => (false, "no requests in the window".to_owned()),
        Some(observed) => (
            observed <= max,
            format!("p{percentile} {} over {} requests (at most {})", millis(observed), samples.len(), millis(max)),
        ),
    }
}

/// Judges the share of failed requests among the load's samples.
pub(crate) fn judge_error_rate(max: f64, samples: &[Sample]) -> (bool, String) {
    if samples.is_empty() {
        return (false, "no requests in the window".to_owned());
    }
    let stats = Stats::of(samples);
    (
        stats.error_rate <= max,
        format!(
            "{:.1}% errors ({} of {}; at most {:.1}%)",
            stats.error_rate * 100.0,
            stats.errors,
            stats.requests,
            max * 100.0
        ),
    )
}

pub fn millis(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

/// Runs probes against a base URL and the running load.
pub(crate) struct Prober<'a> {
    pub backend: &'a BackendClient,
    pub load: &'a Load,
    pub started: Instant,
}

impl Prober<'_> {
    pub(crate) async fn check(&self, probe: &Probe) -> ProbeOutcome {
        let (tolerance_met, observed) = match probe {
            Probe::Http { path, .. } => {
                let sent = Instant::now();
                match self.backend.get(path).await {
                    Ok(answer) => judge_http(probe, Some(answer.status), &answer.body, answer.elapsed),
                    Err(_) => judge_http(probe, None, &Value::Null, sent.elapsed()),
                }
            }
            Probe::Latency { percentile, max, window, .. } => {
                judge_latency(*percentile, max.get(), &self.load.recent(window.get(), self.started.elapsed()))
            }
            Probe::ErrorRate { max, window, .. } => {
                judge_error_rate(*max, &self.load.recent(window.get(), self.started.elapsed()))
            }
        };
        ProbeOutcome { name: probe.name().to_owned(), tolerance_met, observed, took: None }
    }

    /// Polls until the tolerance holds or `within` runs out.
    pub(crate) async fn poll(&self, probe: &Probe, within: Duration) -> ProbeOutcome {
        let started = Instant::now();
        loop {
            let mut outcome = self.check(probe).await;
            if outcome.tolerance_met {
                outcome.took = Some(started.elapsed());
                return outcome;
            }
            if started.elapsed() >= within {
                outcome.observed = format!("still {} after {}", outcome.observed, millis(within));
                return outcome;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use e2e::Timing;

    fn http(status: Option<u16>, json: &[(&str, Value)], max_latency_ms: Option<u64>) -> Probe {
        Probe::Http {
            name: "health".to_owned(),
            path: "/health".to_owned(),
            status,
            json: json.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<BTreeMap<_, _>>(),
            max_latency: max_latency_ms.map(|ms| Timing::fixed(Duration::from_millis(ms))),
        }
    }

    #[rstest]
    #[case::all_good(Some(200), json!({"redis_status": "connected"}), 10, true, "status 200 in 10 ms")]
    #[case::wrong_status(Some(503), json!({"redis_status": "connected"}), 10, false, "status 503, expected 200")]
    #[case::wrong_field(Some(200), json!({"redis_status": "disconnected"}), 10, false, "redis_status = \"disconnected\", expected \"connected\"")]
    #[case::missing_field(Some(200), json!({}), 10, false, "redis_status = null")]
    #[case::too_slow(Some(200), json!({"redis_status": "connected"}), 900, false, "took 900 ms, at most 500 ms allowed")]
    #[case::no_answer(None, Value::Null, 30_000, false, "no answer after 30000 ms")]
    fn an_http_probe_checks_status_fields_and_latency(
        #[case] status: Option<u16>,
        #[case] body: Value,
        #[case] latency_ms: u64,
        #[case] met: bool,
        #[case] observed: &str,
    ) {
        let probe = http(Some(200), &[("redis_status", json!("connected"))], Some(500));
        let (tolerance_met, text) = judge_http(&probe, status, &body, Duration::from_millis(latency_ms));
        assert_eq!(tolerance_met, met, "{text}");
        assert!(text.starts_with(observed), "{text}");
    }

    fn samples(latencies_ms: &[u64], statuses: &[Option<u16>]) -> Vec<Sample> {
        latencies_ms
            .iter()
            .zip(statuses)
            .map(|(ms, status)| Sample { at: Duration::ZERO, latency: Duration::from_millis(*ms), status: *status })
            .collect()
    }

    #[test]
    fn a_latency_percentile_is_within_or_over_its_maximum() {
        let window = samples(&[10, 20, 30, 40, 1000], &[Some(200); 5]);
        assert!(judge_latency(50.0, Duration::from_millis(50), &window).0);
        let (met, observed) = judge_latency(99.0, Duration::from_millis(500), &window);
        assert!(!met);
        assert!(observed.starts_with("p99 1000 ms over 5 requests"), "{observed}");
        assert_eq!(judge_latency(99.0, Duration::from_secs(1), &[]), (false, "no requests in the window".to_owned()));
    }

    #[test]
    fn an_error_rate_counts_server_errors_and_missing_answers() {
        let window = samples(&[1, 1, 1, 1], &[Some(200), Some(429), Some(503), None]);
        assert_eq!(judge_error_rate(0.5, &window), (true, "50.0% errors (2 of 4; at most 50.0%)".to_owned()));
        assert!(!judge_error_rate(0.25, &window).0);
    }
}
