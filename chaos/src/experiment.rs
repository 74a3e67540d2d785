//! Experiment files: TOML, described by `experiment.schema.json`, validated in full before anything
//! starts. Errors name the file, the field and the problem.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use e2e::{BackendConfig, Fault, Topology};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as `500ms`, `5s` or `1m 30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(Self)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a duration such as 500ms, 5s or 1m 30s")))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration such as 500ms, 5s or 1m 30s",
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+(\\s*[0-9]+(\\.[0-9]+)?\\s*[a-zµ]+)*\\s*$"
        })
    }
}

/// One chaos experiment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// What the experiment shows, in a few words.
    pub title: String,
    /// What is done and what should be seen.
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// How to start the local stack. Ignored with --target-url.
    #[serde(default)]
    pub stack: StackSpec,
    /// The steady stream of requests that runs during the whole experiment.
    #[serde(default)]
    pub load: LoadSpec,
    /// What must hold before the method, and again after the rollbacks.
    pub steady_state: SteadyState,
    /// Faults, waits and probes, in order.
    pub method: Vec<Step>,
    /// Always run: after the method, on failure, on error and on Ctrl-C. Every fault still
    /// active is healed in any case.
    #[serde(default)]
    pub rollbacks: Vec<Rollback>,
    #[serde(default)]
    pub recovery: Recovery,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    #[serde(default)]
    pub topology: TopologySpec,
    /// Backend environment variables for this experiment, such as `REDIS_OPERATION_TIMEOUT`.
    #[serde(default)]
    pub backend: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TopologySpec {
    /// The backend reaches Redis through the fault proxy.
    #[default]
    ThroughProxy,
    /// The backend reaches Redis directly (for the ip-filter fault).
    Direct,
    /// A primary and its replica behind the proxy, as a high-availability endpoint (for the
    /// failover fault).
    Ha,
    /// Redis Cluster, three primaries each with a replica (for the primary-loss, shard-filter
    /// and reshard faults).
    Cluster,
}

impl TopologySpec {
    /// The name experiment files use.
    pub fn name(self) -> &'static str {
        match self {
            Self::ThroughProxy => "through-proxy",
            Self::Direct => "direct",
            Self::Ha => "ha",
            Self::Cluster => "cluster",
        }
    }
}

impl From<TopologySpec> for Topology {
    fn from(spec: TopologySpec) -> Self {
        match spec {
            TopologySpec::ThroughProxy => Self::ThroughProxy,
            TopologySpec::Direct => Self::Direct,
            TopologySpec::Ha => Self::Ha,
            TopologySpec::Cluster => Self::Cluster,
        }
    }
}

impl From<Topology> for TopologySpec {
    fn from(topology: Topology) -> Self {
        match topology {
            Topology::ThroughProxy => Self::ThroughProxy,
            Topology::Direct => Self::Direct,
            Topology::Ha => Self::Ha,
            Topology::Cluster => Self::Cluster,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Path requested with GET.
    #[serde(default = "default_load_path")]
    pub path: String,
    /// Requests per second.
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Requests in flight at most.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// How long the load runs before the steady state is first checked.
    #[serde(default = "default_warmup")]
    pub warmup: HumanDuration,
}

fn default_load_path() -> String {
    "/health".to_owned()
}
fn default_rate() -> u32 {
    10
}
fn default_concurrency() -> u32 {
    4
}
fn default_warmup() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}

impl Default for LoadSpec {
    fn default() -> Self {
        Self {
            path: default_load_path(),
            rate: default_rate(),
            concurrency: default_concurrency(),
            warmup: default_warmup(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SteadyState {
    pub title: String,
    pub probes: Vec<Probe>,
}

/// A check with a tolerance.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Probe {
    /// One request, judged by its status, JSON fields and latency.
    Http {
        name: String,
        path: String,
        /// Expected status code.
        #[serde(default)]
        status: Option<u16>,
        /// Expected values of top-level JSON fields of the answer.
        #[serde(default)]
        json: BTreeMap<String, serde_json::Value>,
        /// Slowest acceptable answer.
        #[serde(default)]
        max_latency: Option<HumanDuration>,
    },
    /// A latency percentile of the load's answers over the last `window`.
    Latency { name: String, percentile: f64, max: HumanDuration, window: HumanDuration },
    /// The share of the load's requests that failed (5xx or no answer) over the last `window`.
    ErrorRate { name: String, max: f64, window: HumanDuration },
}

impl Probe {
    pub fn name(&self) -> &str {
        match self {
            Self::Http { name, .. } | Self::Latency { name, .. } | Self::ErrorRate { name, .. } => name,
        }
    }
}

/// A fault, as experiment files name it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultSpec {
    Partition,
    Blackhole,
    IpFilter,
    Latency {
        latency: HumanDuration,
    },
    SlowClose {
        delay: HumanDuration,
    },
    /// `rate` in KB/s.
    Bandwidth {
        rate: u64,
    },
    ResetPeer {
        timeout: HumanDuration,
    },
    RedisRestart,
    /// `clients` registrations at once, every second, whose clients hang up 10 ms after sending.
    HangUpBurst {
        clients: u32,
    },
    /// `connections` connections that send half a request head and wait.
    SlowClients {
        connections: u32,
    },
    /// `requests` requests with invented methods on invented paths.
    MethodFlood {
        requests: u32,
    },
    /// `requests` registrations whose body of `bytes` is over the limit, each written in full
    /// before the answer is read.
    OversizedBodies {
        requests: u32,
        bytes: usize,
    },
    /// The high-availability pair fails over; healing fails back.
    Failover,
    /// The cluster's first shard loses its primary; healing starts it again.
    PrimaryLoss,
    /// The IP filter on the cluster's first shard's primary only.
    ShardFilter,
    /// `slots` slots move between two shards under load; healing moves them back.
    Reshard {
        slots: u32,
    },
}

impl From<&FaultSpec> for Fault {
    fn from(spec: &FaultSpec) -> Self {
        match spec {
            FaultSpec::Partition => Self::Partition,
            FaultSpec::Blackhole => Self::Blackhole,
            FaultSpec::IpFilter => Self::IpFilter,
            FaultSpec::Latency { latency } => Self::Latency(latency.0),
            FaultSpec::SlowClose { delay } => Self::SlowClose(delay.0),
            FaultSpec::Bandwidth { rate } => Self::Bandwidth(*rate),
            FaultSpec::ResetPeer { timeout } => Self::ResetPeer(timeout.0),
            FaultSpec::RedisRestart => Self::RedisRestart,
            FaultSpec::HangUpBurst { clients } => Self::HangUpBurst { clients: *clients },
            FaultSpec::SlowClients { connections } => Self::SlowClients { connections: *connections },
            FaultSpec::MethodFlood { requests } => Self::MethodFlood { requests: *requests },
            FaultSpec::OversizedBodies { requests, bytes } => {
                Self::OversizedBodies { requests: *requests, bytes: *bytes }
            }
            FaultSpec::Failover => Self::Failover,
            FaultSpec::PrimaryLoss => Self::PrimaryLoss,
            FaultSpec::ShardFilter => Self::ShardFilter,
            FaultSpec::Reshard { slots } => Self::Reshard { slots: *slots },
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    Inject {
        fault: FaultSpec,
    },
    Heal {
        fault: FaultSpec,
    },
    Wait {
        duration: HumanDuration,
    },
    /// Checks a probe during the method. With `within`, polls until it holds or time runs out;
    /// the time it took is reported.
    Probe {
        probe: Probe,
        #[serde(default)]
        within: Option<HumanDuration>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Rollback {
    /// Heals every fault still active.
    HealAll,
    Heal {
        fault: FaultSpec,
    },
    /// Toxiproxy's POST /reset: every proxy enabled, every toxic removed.
    ResetProxy,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// How long the steady state may take to come back after the rollbacks.
    #[serde(default = "default_recovery_timeout")]
    pub timeout: HumanDuration,
    /// How long the load keeps running once it is back, before the steady state is checked for
    /// the last time: a recovery has to last to count.
    #[serde(default = "default_observe")]
    pub observe: HumanDuration,
}

fn default_recovery_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_observe() -> HumanDuration {
    HumanDuration(Duration::from_secs(3))
}

impl Default for Recovery {
    fn default() -> Self {
        Self { timeout: default_recovery_timeout(), observe: default_observe() }
    }
}

/// What is wrong with an experiment file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidExperiment {
    pub file: String,
    /// A dotted path such as `method[2].fault.latency`, or `line 4, column 1` for syntax errors.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for InvalidExperiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.problem)
    }
}

/// Where the experiment will run, for checks that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    LocalStack,
    Remote,
}

impl Experiment {
    /// Parses and validates `text`, read from `file`.
    pub fn parse(file: &str, text: &str, target: TargetKind) -> Result<Self, Vec<InvalidExperiment>> {
        let syntax_error = |error: toml::de::Error| {
            let field = error.span().map_or_else(|| "document".to_owned(), |span| location(text, span.start));
            vec![InvalidExperiment { file: file.to_owned(), field, problem: error.message().trim().to_owned() }]
        };
        let deserializer = toml::Deserializer::parse(text).map_err(syntax_error)?;
        let experiment: Self = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let field = error.path().to_string();
            let inner = error.into_inner();
            // Inside arrays of tables toml reports the whole array's span, which would point at the
            // wrong entry: the path alone is precise there.
            let location = inner.span().filter(|_| !field.contains('[')).map(|span| location(text, span.start));
            let field = match (field.as_str(), location) {
                (".", Some(location)) => location,
                (".", None) => "document".to_owned(),
                (_, Some(location)) => format!("{field} ({location})"),
                (_, None) => field,
            };
            vec![InvalidExperiment { file: file.to_owned(), field, problem: inner.message().trim().to_owned() }]
        })?;
        let problems = experiment.problems(target);
        if problems.is_empty() {
            Ok(experiment)
        } else {
            Err(problems
                .into_iter()
                .map(|(field, problem)| InvalidExperiment { file: file.to_owned(), field, problem })
                .collect())
        }
    }

    pub fn load(path: &Path, target: TargetKind) -> Result<Self, Vec<InvalidExperiment>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            vec![InvalidExperiment {
                file: file.clone(),
                field: "file".to_owned(),
                problem: format!("cannot read it: {error}"),
            }]
        })?;
        Self::parse(&file, &text, target)
    }

    /// Checks what the types cannot: ranges, references between steps, and what the target allows.
    fn problems(&self, target: TargetKind) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.title.trim().is_empty() {
            problems.push(("title".to_owned(), "must not be empty".to_owned()));
        }
        if self.load.rate == 0 || self.load.rate > 1000 {
            problems.push((
                "load.rate".to_owned(),
                format!("must be 1 to 1000 requests per second, got {}", self.load.rate),
            ));
        }
        if self.load.concurrency == 0 || self.load.concurrency > 256 {
            problems.push(("load.concurrency".to_owned(), format!("must be 1 to 256, got {}", self.load.concurrency)));
        }
        if let Err(problem) = self.backend_config().validate() {
            problems.push(("stack.backend".to_owned(), problem));
        }
        if !self.load.path.starts_with('/') {
            problems.push(("load.path".to_owned(), format!("must start with /, got {:?}", self.load.path)));
        }
        if self.steady_state.probes.is_empty() {
            problems.push(("steady_state.probes".to_owned(), "needs at least one probe".to_owned()));
        }
        for (index, probe) in self.steady_state.probes.iter().enumerate() {
            problems.extend(probe_problems(probe, &format!("steady_state.probes[{index}]")));
        }
        if self.method.is_empty() {
            problems.push(("method".to_owned(), "needs at least one step".to_owned()));
        }
        let mut active: Vec<&FaultSpec> = Vec::new();
        for (index, step) in self.method.iter().enumerate() {
            let field = format!("method[{index}]");
            match step {
                Step::Inject { fault } => {
                    problems.extend(fault_problems(fault, &format!("{field}.fault"), self.stack.topology, target));
                    if active.contains(&fault) {
                        problems.push((
                            format!("{field}.fault"),
                            "is already active: heal it before injecting it again".to_owned(),
                        ));
                    }
                    active.push(fault);
                }
                Step::Heal { fault } => match active.iter().position(|candidate| *candidate == fault) {
                    Some(position) => {
                        active.remove(position);
                    }
                    None => problems
                        .push((format!("{field}.fault"), "heals a fault that no earlier step injected".to_owned())),
                },
                Step::Wait { duration } if duration.0.is_zero() => {
                    problems.push((format!("{field}.duration"), "must be longer than zero".to_owned()));
                }
                Step::Wait { .. } => {}
                Step::Probe { probe, within } => {
                    problems.extend(probe_problems(probe, &format!("{field}.probe")));
                    if within.is_some_and(|within| within.0.is_zero()) {
                        problems.push((format!("{field}.within"), "must be longer than zero".to_owned()));
                    }
                }
            }
        }
        for (index, rollback) in self.rollbacks.iter().enumerate() {
            if let Rollback::Heal { fault } = rollback {
                problems.extend(fault_problems(
                    fault,
                    &format!("rollbacks[{index}].fault"),
                    self.stack.topology,
                    target,
                ));
            }
        }
        if self.recovery.timeout.0.is_zero() {
            problems.push(("recovery.timeout".to_owned(), "must be longer than zero".to_owned()));
        }
        problems
    }

    /// The backend's settings for a local stack: the fast test timeouts, with this experiment's
    /// `stack.backend` on top.
    pub fn backend_config(&self) -> BackendConfig {
        self.stack.backend.iter().fold(BackendConfig::fast(), |config, (key, value)| config.set(key, value.clone()))
    }

    /// The faults the method injects, in order.
    pub fn faults(&self) -> impl Iterator<Item = &FaultSpec> {
        self.method.iter().filter_map(|step| match step {
            Step::Inject { fault } => Some(fault),
            _ => None,
        })
    }
}

fn probe_problems(probe: &Probe, field: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if probe.name().trim().is_empty() {
        problems.push((format!("{field}.name"), "must not be empty".to_owned()));
    }
    match probe {
        Probe::Http { path, status, .. } => {
            if !path.starts_with('/') {
                problems.push((format!("{field}.path"), format!("must start with /, got {path:?}")));
            }
            if status.is_some_and(|status| !(100..=599).contains(&status)) {
                problems.push((
                    format!("{field}.status"),
                    format!("must be an HTTP status from 100 to 599, got {}", status.unwrap_or_default()),
                ));
            }
        }
        Probe::Latency { percentile, window, .. } => {
            if !(*percentile > 0.0 && *percentile <= 100.0) {
                problems.push((
                    format!("{field}.percentile"),
                    format!("must be above 0 and at most 100, got {percentile}"),
                ));
            }
            if window.0.is_zero() {
                problems.push((format!("{field}.window"), "must be longer than zero".to_owned()));
            }
        }
        Probe::ErrorRate { max, window, .. } => {
            if !(0.0..=1.0).contains(max) {
                problems.push((format!("{field}.max"), format!("is a share of requests, from 0 to 1, got {max}")));
            }
            if window.0.is_zero() {
                problems.push((format!("{field}.window"), "must be longer than zero".to_owned()));
            }
        }
    }
    problems
}

fn fault_problems(spec: &FaultSpec, field: &str, topology: TopologySpec, target: TargetKind) -> Vec<(String, String)> {
    let fault = Fault::from(spec);
    let mut problems = Vec::new();
    if target == TargetKind::Remote && !fault.works_remotely() {
        problems.push((field.to_owned(), format!("{fault} needs the local stack; it cannot run against --target-url")));
    } else if target == TargetKind::LocalStack && !fault.runs_in(topology.into()) {
        let needed = TopologySpec::from(fault.topology()).name();
        problems.push((field.to_owned(), format!("{fault} needs stack.topology = \"{needed}\"")));
    }
    problems
}

/// `line L, column C` of a byte offset.
fn location(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// The JSON schema of experiment files, as published in `chaos/experiment.schema.json`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Experiment)).expect("a schema serialises")
}
