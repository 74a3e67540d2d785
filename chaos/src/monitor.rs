//! `/health`, polled apart from the load, to time detection and recovery.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::BackendClient;
use tokio::task::JoinHandle;

use crate::timeline::HealthPoint;

/// Polls `/health` every 100 ms, apart from the load, to time detection and recovery.
pub struct HealthMonitor {
    points: Arc<Mutex<Vec<HealthPoint>>>,
    task: JoinHandle<()>,
}

impl HealthMonitor {
    pub fn start(base_url: &str, started: Instant) -> Self {
        let points = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&points);
        let backend = BackendClient::with_timeout(base_url, Duration::from_secs(10));
        let task = tokio::spawn(async move {
            loop {
                let connected = backend.health().await.is_ok_and(|answer| {
                    (200..300).contains(&answer.status) && answer.field("redis_status") == "connected"
                });
                // Stamped when the answer arrives: that is when a monitor would know.
                sink.lock().expect("health lock").push(HealthPoint { at: started.elapsed(), connected });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { points, task }
    }

    pub fn stop(self) -> Vec<HealthPoint> {
        self.task.abort();
        self.points.lock().expect("health lock").clone()
    }
}
