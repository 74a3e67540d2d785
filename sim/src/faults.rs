//! Plays a schedule of faults onto the network and Redis. Faults overlap: the link is partitioned
//! while any partition lasts, held while any hold does, and the strongest latency, loss, delay
//! and reply loss of those in force apply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::net::{LinkMode, Net};
use crate::redis::Redis;
use crate::redis::cluster::Migration;
use crate::scenario::{Fault, Scheduled};

/// The faults in force, each with the node it aims at (every node when `None`).
#[derive(Default)]
struct InForce {
    faults: Vec<(u64, Fault, Option<usize>)>,
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
                faults.run(scheduled).await;
            });
        }
    }

    async fn run(&self, Scheduled { fault, lasts, node, .. }: Scheduled) {
        match fault {
            Fault::Crash { keep_data } => {
                self.redis.crash(node, keep_data);
                tokio::time::sleep(lasts).await;
                self.redis.restart(node);
            }
            Fault::Failover => self.redis.failover(lasts).await,
            Fault::SlotMove { from, to, percent } => {
                // A share of the first range the node owns now.
                let Some((first, last)) = self.redis.slot_ranges(from).first().copied() else { return };
                let size = (u32::from(last - first + 1) * u32::from(percent)).div_ceil(100);
                let last = first.saturating_add(u16::try_from(size).unwrap_or(u16::MAX)).saturating_sub(1).min(last);
                self.redis.move_slots(Migration { first, last, from, to }, lasts).await;
            }
            _ => {
                let id = {
                    let mut in_force = self.lock();
                    in_force.next += 1;
                    let id = in_force.next;
                    in_force.faults.push((id, fault, node));
                    id
                };
                self.apply();
                tokio::time::sleep(lasts).await;
                self.lock().faults.retain(|(other, ..)| *other != id);
                self.apply();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InForce> {
        self.in_force.lock().expect("no panic holds the faults")
    }

    /// Sets each link and the server to what the faults in force make them.
    fn apply(&self) {
        let in_force: Vec<(Fault, Option<usize>)> =
            self.lock().faults.iter().map(|(_, fault, node)| (*fault, *node)).collect();
        for (index, host) in self.redis.hosts().iter().enumerate() {
            let faults: Vec<Fault> = in_force
                .iter()
                .filter(|(_, node)| node.is_none_or(|node| node == index))
                .map(|(fault, _)| *fault)
                .collect();
            let mode = if faults.contains(&Fault::Partition) {
                LinkMode::Partitioned
            } else if faults.contains(&Fault::Hold) {
                LinkMode::Held
            } else {
                LinkMode::Up
            };
            let latency = strongest(&faults, |fault| {
                if let Fault::Latency(latency) = fault { Some(latency.as_secs_f64()) } else { None }
            });
            let loss = strongest(&faults, |fault| if let Fault::Loss(loss) = fault { Some(loss) } else { None });
            self.net.set_mode(host, mode);
            self.net.set_latency(host, latency.map_or(Duration::ZERO, Duration::from_secs_f64));
            self.net.set_loss(host, loss.unwrap_or(0.0));
        }
        let faults: Vec<Fault> = in_force.iter().map(|(fault, _)| *fault).collect();
        let slow =
            strongest(&faults, |fault| if let Fault::Slow(delay) = fault { Some(delay.as_secs_f64()) } else { None });
        let lost_replies =
            strongest(&faults, |fault| if let Fault::LoseReplies(chance) = fault { Some(chance) } else { None });
        self.redis.set_slow(slow.map(Duration::from_secs_f64));
        self.redis.set_lose_replies(lost_replies);
    }
}

/// The strongest of the faults' `value`s, if any has one.
fn strongest(faults: &[Fault], value: fn(Fault) -> Option<f64>) -> Option<f64> {
    faults.iter().copied().filter_map(value).reduce(f64::max)
}
