//! Plays a schedule of faults onto the network and Redis. Faults overlap: the link is partitioned
//! while any partition lasts, held while any hold does, and the strongest latency, loss, delay
//! and reply loss of those in force apply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::net::{LinkMode, Net};
use crate::redis::{HOST, Redis};
use crate::scenario::{Fault, Scheduled};

/// The faults in force.
#[derive(Default)]
struct InForce {
    faults: Vec<(u64, Fault)>,
    next: u64,
}

/// Applies and heals faults.
#[derive(Clone)]
pub(crate) struct Faults {
    net: Net,
    redis: Redis,
    in_force: Arc<Mutex<InForce>>,
}

impl Faults {
    pub(crate) fn new(net: &Net, redis: &Redis) -> Self {
        Self { net: net.clone(), redis: redis.clone(), in_force: Arc::default() }
    }

    /// Plays `schedule` from `started`; bursts are the workload's, and are left out.
    pub(crate) fn play(&self, started: Instant, schedule: &[Scheduled]) {
        for scheduled in schedule.iter().copied() {
            if matches!(scheduled.fault, Fault::Burst(_)) {
                continue;
            }
            let faults = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(started + scheduled.at).await;
                faults.run(scheduled.fault, scheduled.lasts).await;
            });
        }
    }

    async fn run(&self, fault: Fault, lasts: Duration) {
        match fault {
            Fault::Crash { keep_data } => {
                self.redis.crash(keep_data);
                tokio::time::sleep(lasts).await;
                self.redis.restart();
            }
            Fault::Failover => self.redis.failover(lasts).await,
            _ => {
                let id = {
                    let mut in_force = self.lock();
                    in_force.next += 1;
                    let id = in_force.next;
                    in_force.faults.push((id, fault));
                    id
                };
                self.apply();
                tokio::time::sleep(lasts).await;
                self.lock().faults.retain(|(other, _)| *other != id);
                self.apply();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InForce> {
        self.in_force.lock().expect("no panic holds the faults")
    }

    /// Sets the link and the server to what the faults in force make them.
    fn apply(&self) {
        let faults: Vec<Fault> = self.lock().faults.iter().map(|(_, fault)| *fault).collect();
        let any = |wanted: Fault| faults.contains(&wanted);
        let mode = if any(Fault::Partition) {
            LinkMode::Partitioned
        } else if any(Fault::Hold) {
            LinkMode::Held
        } else {
            LinkMode::Up
        };
        let most = |value: fn(Fault) -> Option<f64>| faults.iter().copied().filter_map(value).reduce(f64::max);
        let latency =
            most(|fault| if let Fault::Latency(latency) = fault { Some(latency.as_secs_f64()) } else { None });
        let loss = most(|fault| if let Fault::Loss(loss) = fault { Some(loss) } else { None });
        let slow = most(|fault| if let Fault::Slow(delay) = fault { Some(delay.as_secs_f64()) } else { None });
        let lost_replies = most(|fault| if let Fault::LoseReplies(chance) = fault { Some(chance) } else { None });
        self.net.set_mode(HOST, mode);
        self.net.set_latency(HOST, latency.map_or(Duration::ZERO, Duration::from_secs_f64));
        self.net.set_loss(HOST, loss.unwrap_or(0.0));
        self.redis.set_slow(slow.map(Duration::from_secs_f64));
        self.redis.set_lose_replies(lost_replies);
    }
}
