//! What is watched apart from the load: `/health`, to time detection and recovery, and the
//! backend's memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::BackendClient;
use tokio::task::JoinHandle;

use crate::timeline::{HealthPoint, MemoryPoint};

/// Polls `/health` every 100 ms, apart from the load, to time detection and recovery.
pub(crate) struct HealthMonitor {
    points: Arc<Mutex<Vec<HealthPoint>>>,
    task: JoinHandle<()>,
}

impl HealthMonitor {
    pub(crate) fn start(base_url: &str, started: Instant) -> Self {
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

    pub(crate) fn stop(self) -> Vec<HealthPoint> {
        self.task.abort();
        self.points.lock().expect("health lock").clone()
    }
}

/// Where the backend's memory is read.
#[derive(Debug, Clone)]
pub(crate) enum MemorySource {
    /// A local stack's container, through the Docker stats API.
    Container(String),
    /// A deployed backend's `/metrics`.
    Metrics(BackendClient),
}

impl MemorySource {
    async fn read(&self) -> Option<u64> {
        match self {
            Self::Container(id) => e2e::containers::memory(id).await.ok(),
            Self::Metrics(backend) => {
                let metrics = backend.metrics().await.ok()?;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a byte count
                let bytes = metrics.value("process_resident_memory_bytes") as u64;
                (bytes > 0).then_some(bytes)
            }
        }
    }
}

/// Samples the backend's memory every 500 ms.
pub(crate) struct MemoryMonitor {
    points: Arc<Mutex<Vec<MemoryPoint>>>,
    task: JoinHandle<()>,
}

impl MemoryMonitor {
    pub(crate) fn start(source: MemorySource, started: Instant) -> Self {
        let points = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&points);
        let task = tokio::spawn(async move {
            loop {
                if let Some(bytes) = source.read().await {
                    sink.lock().expect("memory lock").push(MemoryPoint { at: started.elapsed(), bytes });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Self { points, task }
    }

    pub(crate) fn stop(self) -> Vec<MemoryPoint> {
        self.task.abort();
        self.points.lock().expect("memory lock").clone()
    }
}
