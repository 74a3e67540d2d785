//! A steady stream of requests during an experiment, and what users saw.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::experiment::LoadSpec;
use crate::timeline::Sample;

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
    pub(crate) fn recent(&self, window: Duration, now: Duration) -> Vec<Sample> {
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
