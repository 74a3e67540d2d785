//! What a seed draws: the Redis deployment, whether registrations wait for a replica, and the
//! fault schedule, with each fault's start, length and attributes. Faults overlap freely,
//! except that Redis restarts and failovers (faults of the server itself) take turns.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::backend::OPERATION_TIMEOUT;

/// How Redis is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    /// One node.
    Standalone,
    /// A primary and a replica behind one address, as Scaleway's high-availability endpoint.
    Pair,
    /// Three primaries sharing the slots (`REDIS_MODE=cluster`).
    Cluster,
}

impl Topology {
    pub const ALL: [Self; 3] = [Self::Standalone, Self::Pair, Self::Cluster];

    pub fn name(self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Pair => "pair",
            Self::Cluster => "cluster",
        }
    }
}

/// Nodes of a simulated cluster.
pub const CLUSTER_NODES: usize = 3;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The link to Redis drops everything: connections die without a word, connects hang.
    Partition,
    /// The link holds everything, then delivers it: a blackhole that heals.
    Hold,
    /// Latency added each way.
    Latency(Duration),
    /// Packets lost, each with this chance; TCP retransmits them.
    Loss(f64),
    /// Redis crashes, and restarts when the fault ends, with its data or without.
    Crash { keep_data: bool },
    /// Every reply waits this long, longer than an operation may.
    Slow(Duration),
    /// After a write is applied, its reply is lost with this chance, and its connection goes
    /// silent.
    LoseReplies(f64),
    /// The pair fails over: the primary is demoted at once, the replica promoted when the fault
    /// ends.
    Failover,
    /// This many requests at once, more than the pool holds.
    Burst(u32),
    /// A share of one cluster node's slots moves to another node, key by key, then for good.
    SlotMove { from: usize, to: usize, percent: u16 },
}

impl Fault {
    /// Whether Redis answers no command at all while it lasts.
    pub fn is_outage(self) -> bool {
        match self {
            Self::Partition | Self::Hold | Self::Crash { .. } | Self::Slow(_) => true,
            // A round trip longer than an attempt may take.
            Self::Latency(latency) => latency * 2 >= OPERATION_TIMEOUT,
            Self::Loss(_) | Self::LoseReplies(_) | Self::Failover | Self::Burst(_) | Self::SlotMove { .. } => false,
        }
    }

    /// Whether it may lose acknowledged data, or counted attempts, through no fault of the
    /// backend's.
    pub fn loses_data(self, wait_replicas: u32) -> bool {
        match self {
            Self::Crash { keep_data } => !keep_data,
            Self::Failover => wait_replicas == 0,
            _ => false,
        }
    }

    /// Faults of the server itself, which take turns.
    fn is_of_the_server(self) -> bool {
        matches!(self, Self::Crash { .. } | Self::Failover | Self::SlotMove { .. })
    }

    /// Whether it may aim at one cluster node.
    fn aims(self) -> bool {
        matches!(self, Self::Partition | Self::Hold | Self::Latency(_) | Self::Loss(_) | Self::Crash { .. })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partition => write!(f, "partition"),
            Self::Hold => write!(f, "hold"),
            Self::Latency(latency) => write!(f, "latency +{}ms", latency.as_millis()),
            Self::Loss(chance) => write!(f, "loss {:.0}%", chance * 100.0),
            Self::Crash { keep_data: true } => write!(f, "crash (data kept)"),
            Self::Crash { keep_data: false } => write!(f, "crash (data lost)"),
            Self::Slow(delay) => write!(f, "slow replies +{}ms", delay.as_millis()),
            Self::LoseReplies(chance) => write!(f, "replies to writes lost {:.0}%", chance * 100.0),
            Self::Failover => write!(f, "failover"),
            Self::Burst(requests) => write!(f, "burst of {requests} requests"),
            Self::SlotMove { from, to, percent } => {
                write!(f, "{percent}% of node {}'s slots move to node {}", from + 1, to + 1)
            }
        }
    }
}

/// A fault at its time, and, on a cluster, the node it aims at (every node when `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduled {
    /// From the start of the run.
    pub at: Duration,
    pub lasts: Duration,
    pub fault: Fault,
    pub node: Option<usize>,
}

impl Scheduled {
    pub fn ends(&self) -> Duration {
        self.at + self.lasts
    }

    /// Whether Redis answers no command at all while it lasts: every node is out.
    pub fn is_outage(&self) -> bool {
        self.fault.is_outage() && self.node.is_none()
    }
}

/// The workload runs at least this long, and this long after the last fault heals.
const LEAST_RUN: Duration = Duration::from_secs(10);
const AFTER_HEAL: Duration = Duration::from_secs(3);

/// Everything one seed decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub seed: u64,
    pub topology: Topology,
    /// `REDIS_WAIT_REPLICAS`: 0 or, with a replica, 1.
    pub wait_replicas: u32,
    /// The replica's lag behind the primary.
    pub replication_lag: Duration,
    pub faults: Vec<Scheduled>,
    /// Whether the topology was forced rather than drawn.
    pub forced: bool,
}

impl Scenario {
    /// The scenario of `seed`, on its own topology or on `topology`.
    pub fn draw(seed: u64, topology: Option<Topology>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let drawn = Topology::ALL[rng.random_range(0..Topology::ALL.len())];
        let topology = topology.unwrap_or(drawn);
        // Only the pair has a replica to wait for.
        let wait_replicas = u32::from(topology == Topology::Pair && rng.random_bool(0.5));
        let replication_lag = Duration::from_millis(rng.random_range(1..=100));
        let mut faults: Vec<Scheduled> = Vec::new();
        for _ in 0..rng.random_range(1..=5) {
            let fault = draw_fault(&mut rng, topology);
            let at = Duration::from_millis(rng.random_range(500..=6_500));
            let lasts = Duration::from_millis(rng.random_range(200..=3_500));
            let node = (topology == Topology::Cluster && fault.aims() && rng.random_bool(0.7))
                .then(|| rng.random_range(0..CLUSTER_NODES));
            let candidate = Scheduled { at, lasts, fault, node };
            let clashes = |other: &Scheduled| {
                fault.is_of_the_server()
                    && other.fault.is_of_the_server()
                    && candidate.at < other.ends()
                    && other.at < candidate.ends()
            };
            if !faults.iter().any(clashes) {
                faults.push(candidate);
            }
        }
        faults.sort_by_key(|scheduled| scheduled.at);
        Self { seed, topology, wait_replicas, replication_lag, faults, forced: topology != drawn }
    }

    /// When the last fault heals.
    pub fn healed_at(&self) -> Duration {
        self.faults.iter().map(Scheduled::ends).max().unwrap_or_default()
    }

    /// How long the workload runs.
    pub fn duration(&self) -> Duration {
        LEAST_RUN.max(self.healed_at() + AFTER_HEAL)
    }

    /// Whether any fault may lose acknowledged data through no fault of the backend's.
    pub fn loses_data(&self) -> bool {
        self.faults.iter().any(|scheduled| scheduled.fault.loses_data(self.wait_replicas))
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {} on {}", self.seed, self.topology.name())?;
        if self.topology == Topology::Pair {
            write!(f, " (lag {}ms, REDIS_WAIT_REPLICAS={})", self.replication_lag.as_millis(), self.wait_replicas)?;
        }
        for scheduled in &self.faults {
            write!(
                f,
                "\n  {:>5}ms +{:>4}ms {}",
                scheduled.at.as_millis(),
                scheduled.lasts.as_millis(),
                scheduled.fault
            )?;
            if let Some(node) = scheduled.node {
                write!(f, " on node {}", node + 1)?;
            }
        }
        Ok(())
    }
}

fn draw_fault(rng: &mut StdRng, topology: Topology) -> Fault {
    // Eight kinds everywhere; the pair fails over, a cluster moves slots.
    let kind = rng.random_range(0..if topology == Topology::Standalone { 8 } else { 9 });
    if kind == 8 && topology == Topology::Cluster {
        let from = rng.random_range(0..CLUSTER_NODES);
        let to = (from + rng.random_range(1..CLUSTER_NODES)) % CLUSTER_NODES;
        return Fault::SlotMove { from, to, percent: rng.random_range(5..50) };
    }
    match kind {
        0 => Fault::Partition,
        1 => Fault::Hold,
        2 => Fault::Latency(Duration::from_millis(rng.random_range(20..=400))),
        3 => Fault::Loss(rng.random_range(0.05..0.5)),
        4 => Fault::Crash { keep_data: rng.random_bool(0.5) },
        5 => Fault::Slow(OPERATION_TIMEOUT.mul_f64(rng.random_range(1.2..3.0))),
        6 => Fault::LoseReplies(rng.random_range(0.1..0.6)),
        7 => Fault::Burst(rng.random_range(8..=24)),
        _ => Fault::Failover,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_scenario_every_time() {
        for seed in 0..50 {
            assert_eq!(Scenario::draw(seed, None), Scenario::draw(seed, None));
        }
    }

    #[test]
    fn faults_of_the_server_never_overlap_and_standalone_never_fails_over() {
        for seed in 0..500 {
            let scenario = Scenario::draw(seed, None);
            let server: Vec<&Scheduled> =
                scenario.faults.iter().filter(|scheduled| scheduled.fault.is_of_the_server()).collect();
            for pair in server.windows(2) {
                assert!(pair[0].ends() <= pair[1].at, "seed {seed}: {scenario}");
            }
            if scenario.topology != Topology::Pair {
                assert!(!scenario.faults.iter().any(|scheduled| scheduled.fault == Fault::Failover), "seed {seed}");
            }
            if scenario.topology != Topology::Cluster {
                assert!(scenario.faults.iter().all(|scheduled| scheduled.node.is_none()), "seed {seed}");
            }
        }
    }
}
