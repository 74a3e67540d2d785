//! One seed's run: its scenario played against the backend on a fresh runtime whose clock is
//! paused (time moves only when every task waits), on this thread, and what the invariants
//! found.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::{self, Backend};
use crate::faults::Faults;
use crate::invariants::{Facts, PoolAtRest, Violation};
use crate::net::Net;
use crate::observed::{Observed, Request};
use crate::redis::{Redis, Shape};
use crate::scenario::{CLUSTER_NODES, Fault, Scenario, Topology};
use crate::trace::Trace;
use crate::workload::Workload;

/// What one seed's run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: Scenario,
    pub violations: Vec<Violation>,
    /// Anomalies in the history that a fault explains: losses after a failover without
    /// `REDIS_WAIT_REPLICAS`, or after a restart without the data.
    pub accepted: Vec<String>,
    /// The trace, when the run was traced.
    pub trace: String,
    pub requests: usize,
    /// Each command that reached Redis, in order, as its words: a log to replay.
    pub command_log: Vec<Vec<bytes::Bytes>>,
    /// Simulated time the run took.
    pub simulated: Duration,
    /// What the history's checker counted.
    pub history: history::Counts,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// How many commands reached Redis.
    pub fn commands(&self) -> usize {
        self.command_log.len()
    }

    /// The commands that run this seed again.
    pub fn replay(&self) -> String {
        let Scenario { seed, topology, forced, .. } = self.scenario;
        let run = format!("cargo run -p sim --release -- --seed {seed} --topology {}", topology.name());
        if forced { run } else { format!("{run}    or    SIM_SEED={seed} cargo test -p sim") }
    }

    /// What a failing seed shows: the scenario, each violation, the replay command and, when
    /// traced, the trace.
    pub fn report(&self) -> String {
        let mut report = format!("{}\n", self.scenario);
        for violation in &self.violations {
            let _ = writeln!(report, "  violated: {violation}");
        }
        for accepted in &self.accepted {
            let _ = writeln!(report, "  accepted: {accepted}");
        }
        let _ = writeln!(report, "replay: {}", self.replay());
        if !self.trace.is_empty() {
            let _ = write!(report, "trace:\n{}", self.trace);
        }
        report
    }
}

/// The pool's connections handed out, as `/metrics` shows them.
const POOL_IN_USE: &str = "gift_genie_redis_pool_in_use";
/// The pool's connections, as `/metrics` shows them.
const POOL_CONNECTIONS: &str = "gift_genie_redis_pool_connections";

/// The fewest connections `/metrics` shows checked out of the pool, read every few
/// milliseconds once no request runs, for as long as a breaker's probe (which, in a cluster,
/// takes a pooled connection for up to an operation timeout) could hold one at each reading.
async fn least_in_use(workload: &Workload, settings: &gift_genie_backend::config::Settings) -> Option<f64> {
    let redis = &settings.redis;
    let until = Instant::now() + (redis.operation_timeout + redis.breaker.probe_interval) * 2;
    let mut least: Option<f64> = None;
    loop {
        if let Some(in_use) = workload.metric(POOL_IN_USE).await {
            least = Some(least.map_or(in_use, |least| least.min(in_use)));
        }
        if least.is_some_and(|least| least <= 0.0) || Instant::now() >= until {
            return least;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long a connection may live and still be one of several a client opened at once to keep
/// one: redis-rs's cluster client closes the others within a few milliseconds.
const FLEETING: Duration = Duration::from_millis(50);

/// Salts that give the network's and Redis's draws seeds of their own.
const NET_SALT: u64 = 0x6e65_7477_6f72_6b00;
const REDIS_SALT: u64 = 0x7265_6469_7300_0000;

/// Runs a scenario that failed again, traced, to show what happened. A standalone or pair
/// scenario fails the same way every time; a cluster's need not (redis-rs's cluster client
/// draws its node choices from the operating system), so it runs up to `CLUSTER_RERUNS` times
/// for a traced run that fails. Gives the last run.
pub fn rerun_traced(scenario: &Scenario) -> Outcome {
    let runs = if scenario.topology == Topology::Cluster { CLUSTER_RERUNS } else { 1 };
    let mut outcome = run(scenario, true);
    for _ in 1..runs {
        if !outcome.passed() {
            break;
        }
        outcome = run(scenario, true);
    }
    outcome
}

/// Traced runs of a failing cluster scenario, at most, to see it fail again.
const CLUSTER_RERUNS: usize = 20;

/// Runs the seeds of `seeds` on `threads` threads, each on `topology` or the one it draws, and
/// hands each outcome to `each` as it comes, in no set order.
pub fn sweep(seeds: std::ops::Range<u64>, topology: Option<Topology>, threads: usize, each: impl Fn(Outcome) + Sync) {
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if seed >= seeds.end {
                        return;
                    }
                    each(run(&Scenario::draw(seed, topology), false));
                }
            });
        }
    });
}

/// Runs `scenario`, traced or not.
pub fn run(scenario: &Scenario, traced: bool) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(simulate(scenario, traced))
}

async fn simulate(scenario: &Scenario, traced: bool) -> Outcome {
    let seed = scenario.seed;
    let trace = Trace::new(traced);
    let net = Net::new(trace.clone(), seed ^ NET_SALT);
    let shape = match scenario.topology {
        Topology::Standalone => Shape::Standalone,
        Topology::Pair => Shape::Pair { lag: scenario.replication_lag },
        Topology::Cluster => Shape::Cluster { nodes: CLUSTER_NODES },
    };
    let redis = Redis::start(&net, &trace, shape, seed ^ REDIS_SALT);
    let settings = backend::settings(scenario);
    let Backend { router, metrics } = Backend::build(settings.clone(), &net, seed);
    // A cluster's breakers are per shard: the standalone breaker's watch does not apply.
    let observed = Observed::new(metrics, scenario.topology != Topology::Cluster);
    observed.watch(&net);
    let _backend_log = tracing::subscriber::set_default(observed.backend_log());
    let started = observed.started();
    Faults::new(&net, &redis).play(started, &scenario.faults);
    let bursts: Vec<(Instant, u32)> = scenario
        .faults
        .iter()
        .filter_map(|scheduled| match scheduled.fault {
            Fault::Burst(requests) => Some((started + scheduled.at, requests)),
            _ => None,
        })
        .collect();
    let workload = Workload::new(router, settings.http.request_timeout, &observed, &trace, seed);
    workload.run(started + scenario.duration(), &bursts).await;
    let in_use_at_rest = least_in_use(&workload, &settings).await;
    let pool_at_rest = PoolAtRest {
        shown: workload.metric(POOL_CONNECTIONS).await,
        open: net.client_streams_open(),
        breaker_closed: observed.breaker_closed(),
    };
    let history = workload.finish(&redis);
    let requests: Vec<Request> = observed.requests();
    let arrivals = redis.take_arrivals();
    let judgement = Facts {
        scenario,
        settings: &settings,
        started,
        requests: &requests,
        arrivals: &arrivals,
        refusing: &redis.refusing(),
        most_connections: &if scenario.topology == Topology::Cluster {
            net.most_client_streams_held(FLEETING)
        } else {
            net.most_client_streams()
        },
        connections_made: net.connections_made(),
        history: &history,
        in_use_at_rest,
        pool_at_rest,
        cuts: &observed.cuts(),
        openings: &observed.openings(),
        seen: observed.violations(),
    }
    .judge();
    Outcome {
        scenario: scenario.clone(),
        violations: judgement.violations,
        accepted: judgement.accepted,
        trace: trace.text(),
        requests: requests.len(),
        command_log: arrivals
            .into_iter()
            .map(|arrival| std::iter::once(bytes::Bytes::from(arrival.name)).chain(arrival.args).collect())
            .collect(),
        simulated: Instant::now() - started,
        history: judgement.analysis.counts,
    }
}
