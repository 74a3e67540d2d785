//! Experiment files: TOML, described by `experiment.schema.json`, validated in full before anything
//! starts. Errors name the file, the field and the problem.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use e2e::{BackendConfig, Fault, Timeouts, Timing, Topology};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// The clients whose operations are recorded as a history and checked: registrations, reads
    /// and rate-limit attempts.
    #[serde(default)]
    pub workload: WorkloadSpec,
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
    /// The Redis topology: `through-proxy` (the default), `direct` (for the IP filter), `ha` (a
    /// primary and its replica behind one address, for failovers) or `cluster` (three
    /// primaries, each with a replica, for the cluster faults).
    #[serde(default)]
    pub topology: Topology,
    /// Backend environment variables for this experiment, such as `REDIS_OPERATION_TIMEOUT`.
    #[serde(default)]
    pub backend: BTreeMap<String, String>,
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
    pub warmup: Timing,
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
fn default_warmup() -> Timing {
    Timing::fixed(Duration::from_secs(2))
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

/// The history's workload, and what its check accepts.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Clients at once.
    #[serde(default = "default_processes")]
    pub processes: u32,
    /// Operations per second, all clients together: registrations, reads and rate-limit
    /// attempts.
    #[serde(default = "default_workload_rate")]
    pub rate: f64,
    /// Acknowledged accounts that may be lost, as a failover without `REDIS_WAIT_REPLICAS` may
    /// lose them: counted and listed, not failed. Anything else the check finds fails the
    /// experiment.
    #[serde(default)]
    pub lost_allowed: u64,
}

fn default_processes() -> u32 {
    4
}
fn default_workload_rate() -> f64 {
    6.0
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        Self { processes: default_processes(), rate: default_workload_rate(), lost_allowed: 0 }
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
        max_latency: Option<Timing>,
    },
    /// A latency percentile of the load's answers over the last `window`.
    Latency { name: String, percentile: f64, max: Timing, window: Timing },
    /// The share of the load's requests that failed (5xx or no answer) over the last `window`.
    ErrorRate { name: String, max: f64, window: Timing },
}

impl Probe {
    fn timings_mut(&mut self) -> Vec<&mut Timing> {
        match self {
            Self::Http { max_latency, .. } => max_latency.iter_mut().collect(),
            Self::Latency { max, window, .. } => vec![max, window],
            Self::ErrorRate { window, .. } => vec![window],
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Http { name, .. } | Self::Latency { name, .. } | Self::ErrorRate { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    Inject {
        fault: Fault,
    },
    Heal {
        fault: Fault,
    },
    Wait {
        duration: Timing,
    },
    /// Checks a probe during the method. With `within`, polls until it holds or time runs out;
    /// the time it took is reported.
    Probe {
        probe: Probe,
        #[serde(default)]
        within: Option<Timing>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Rollback {
    /// Heals every fault still active.
    HealAll,
    Heal {
        fault: Fault,
    },
    /// Toxiproxy's POST /reset: every proxy enabled, every toxic removed.
    ResetProxy,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// How long the steady state may take to come back after the rollbacks.
    #[serde(default = "default_recovery_timeout")]
    pub timeout: Timing,
    /// How long the load keeps running once it is back, before the steady state is checked for
    /// the last time: a recovery has to last to count.
    #[serde(default = "default_observe")]
    pub observe: Timing,
}

fn default_recovery_timeout() -> Timing {
    Timing::fixed(Duration::from_secs(30))
}

fn default_observe() -> Timing {
    Timing::fixed(Duration::from_secs(3))
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
    /// Parses and validates `text`, read from `file`. For the local stack, timings relative to
    /// the backend's timeouts are resolved against the settings the experiment gives it; for a
    /// deployed target they wait for [`Self::resolve`] with the target's own.
    pub fn parse(file: &str, text: &str, target: TargetKind) -> Result<Self, Vec<InvalidExperiment>> {
        let syntax_error = |error: toml::de::Error| {
            let field = error.span().map_or_else(|| "document".to_owned(), |span| location(text, span.start));
            vec![InvalidExperiment { file: file.to_owned(), field, problem: error.message().trim().to_owned() }]
        };
        let deserializer = toml::Deserializer::parse(text).map_err(syntax_error)?;
        let mut experiment: Self = serde_path_to_error::deserialize(deserializer).map_err(|error| {
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
        if problems.is_empty() && target == TargetKind::LocalStack {
            experiment.resolve(&experiment.backend_config().timeouts());
        }
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
        if self.workload.processes > 64 {
            problems
                .push(("workload.processes".to_owned(), format!("must be 0 to 64, got {}", self.workload.processes)));
        }
        if !(self.workload.rate > 0.0 && self.workload.rate <= 100.0) {
            problems.push((
                "workload.rate".to_owned(),
                format!("must be above 0 and at most 100 operations per second, got {}", self.workload.rate),
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
        let mut active: Vec<&Fault> = Vec::new();
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
                Step::Wait { duration } if is_zero(duration) => {
                    problems.push((format!("{field}.duration"), "must be longer than zero".to_owned()));
                }
                Step::Wait { .. } => {}
                Step::Probe { probe, within } => {
                    problems.extend(probe_problems(probe, &format!("{field}.probe")));
                    if within.as_ref().is_some_and(is_zero) {
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
        if is_zero(&self.recovery.timeout) {
            problems.push(("recovery.timeout".to_owned(), "must be longer than zero".to_owned()));
        }
        problems
    }

    /// The backend's settings for a local stack: the fast test timeouts, one trusted proxy hop
    /// (the workload's clients name themselves in `X-Forwarded-For`), with this experiment's
    /// `stack.backend` on top.
    pub fn backend_config(&self) -> BackendConfig {
        let base = BackendConfig::fast().set("TRUSTED_PROXY_HOPS", "1");
        self.stack.backend.iter().fold(base, |config, (key, value)| config.set(key, value.clone()))
    }

    /// True when some timing is relative to the backend's timeouts, which a deployed target must
    /// then publish.
    pub fn is_relative(&self) -> bool {
        self.clone().timings_mut().iter().any(|timing| timing.is_relative()) || self.faults().any(Fault::is_relative)
    }

    /// Fixes every timing relative to the backend's timeouts, the faults' included.
    pub fn resolve(&mut self, timeouts: &Timeouts) {
        for timing in self.timings_mut() {
            timing.resolve(timeouts);
        }
        for step in &mut self.method {
            if let Step::Inject { fault } | Step::Heal { fault } = step {
                fault.resolve(timeouts);
            }
        }
        for rollback in &mut self.rollbacks {
            if let Rollback::Heal { fault } = rollback {
                fault.resolve(timeouts);
            }
        }
    }

    /// Every timing of the experiment but the faults'.
    fn timings_mut(&mut self) -> Vec<&mut Timing> {
        let mut timings = vec![&mut self.load.warmup, &mut self.recovery.timeout, &mut self.recovery.observe];
        for probe in &mut self.steady_state.probes {
            timings.extend(probe.timings_mut());
        }
        for step in &mut self.method {
            match step {
                Step::Wait { duration } => timings.push(duration),
                Step::Probe { probe, within } => {
                    timings.extend(within.iter_mut());
                    timings.extend(probe.timings_mut());
                }
                Step::Inject { .. } | Step::Heal { .. } => {}
            }
        }
        timings
    }

    /// The faults the method injects, in order.
    pub fn faults(&self) -> impl Iterator<Item = &Fault> {
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
            if is_zero(window) {
                problems.push((format!("{field}.window"), "must be longer than zero".to_owned()));
            }
        }
        Probe::ErrorRate { max, window, .. } => {
            if !(0.0..=1.0).contains(max) {
                problems.push((format!("{field}.max"), format!("is a share of requests, from 0 to 1, got {max}")));
            }
            if is_zero(window) {
                problems.push((format!("{field}.window"), "must be longer than zero".to_owned()));
            }
        }
    }
    problems
}

/// A fixed timing of zero; a relative one never is, as the settings it names are positive.
fn is_zero(timing: &Timing) -> bool {
    timing.known().is_some_and(|value| value.is_zero())
}

fn fault_problems(fault: &Fault, field: &str, topology: Topology, target: TargetKind) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if target == TargetKind::Remote && !fault.works_remotely() {
        problems.push((field.to_owned(), format!("{fault} needs the local stack; it cannot run against --target-url")));
    } else if target == TargetKind::LocalStack && !fault.runs_in(topology) {
        let needed = fault.topology().name();
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
