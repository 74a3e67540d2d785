//! The invariants a run must hold, each judged from what the simulation saw: the requests and
//! their answers, the commands as they reached the simulated Redis, the network's connection
//! counts, and the history of registrations, reads and attempts. Bounds come from the backend's
//! own settings.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use gift_genie_backend::config::Settings;
use history::{Analysis, AnomalyKind, Op, Options};
use tokio::time::Instant;

use crate::observed::{Ending, Kind, Request};
use crate::redis::Arrival;
use crate::redis::commands::{first_key, is_not_idempotent};
use crate::scenario::{CLUSTER_NODES, Fault, Scenario, Scheduled, Topology};

/// An invariant that a run broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: &'static str,
    /// When, from the start of the run.
    pub at: Duration,
    pub message: String,
}

impl Violation {
    pub(crate) fn new(invariant: &'static str, at: Duration, message: String) -> Self {
        Self { invariant, at, message }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>6}ms {}: {}", self.at.as_millis(), self.invariant, self.message)
    }
}

/// A request that never touched Redis answers within this: it waited on nothing.
const AT_ONCE: Duration = Duration::from_millis(1);

/// What a run saw, for judging.
pub(crate) struct Facts<'a> {
    pub scenario: &'a Scenario,
    pub settings: &'a Settings,
    pub started: Instant,
    pub requests: &'a [Request],
    pub arrivals: &'a [Arrival],
    /// When the address refused every write: from, and until.
    pub refusing: &'a [(Instant, Option<Instant>)],
    /// The most connections the backend had open to each host at once (in a cluster, held
    /// longer than a fleeting reconnect).
    pub most_connections: &'a BTreeMap<String, usize>,
    /// How many connections the backend made in the whole run.
    pub connections_made: u64,
    pub history: &'a [Op],
    /// The pool's connections in use once every request has ended, as `/metrics` shows them.
    pub in_use_at_rest: Option<f64>,
    /// The pool at rest, as `/metrics` shows it and as the network sees it.
    pub pool_at_rest: PoolAtRest,
    /// When the request timeout cut a request short, as the backend logs it.
    pub cuts: &'a [Instant],
    /// When the breaker opened, as the backend logs it (outside a cluster).
    pub openings: &'a [Instant],
    /// The breaker's own violations, seen as they happened.
    pub seen: Vec<Violation>,
}

/// The pool once no request runs: what `/metrics` says it holds, and what is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolAtRest {
    /// `gift_genie_redis_pool_connections`.
    pub shown: Option<f64>,
    /// The backend's connections open to Redis, counted by the network.
    pub open: usize,
    /// Whether every breaker is closed: an open one's probe holds a connection of its own.
    pub breaker_closed: bool,
}

/// What the invariants found: violations, and anomalies that the faults explain.
pub(crate) struct Judgement {
    pub violations: Vec<Violation>,
    pub accepted: Vec<String>,
    pub analysis: Analysis,
}

impl Facts<'_> {
    fn since_start(&self, at: Instant) -> Duration {
        at - self.started
    }

    pub(crate) fn judge(self) -> Judgement {
        let mut violations = Vec::new();
        self.answered_in_time(&mut violations);
        self.redis_calls_within_deadlines(&mut violations);
        self.connections_within_the_pool(&mut violations);
        self.connections_returned(&mut violations);
        self.connections_reused(&mut violations);
        self.pool_metrics_truthful(&mut violations);
        self.non_idempotent_commands_once(&mut violations);
        self.idempotent_calls_retried(&mut violations);
        self.breaker_fails_fast(&mut violations);
        self.recovery_after_heal(&mut violations);
        self.health_never_connected_while_refusing(&mut violations);
        self.no_internal_errors(&mut violations);
        let mut seen = self.seen.clone();
        seen.dedup_by(|later, earlier| later.message == earlier.message);
        violations.extend(seen);
        let (analysis, accepted) = self.history(&mut violations);
        violations.sort_by_key(|violation| violation.at);
        Judgement { violations, accepted, analysis }
    }

    /// Every request is answered within `HTTP_REQUEST_TIMEOUT`.
    fn answered_in_time(&self, violations: &mut Vec<Violation>) {
        let timeout = self.settings.http.request_timeout;
        for request in self.requests {
            let late = match request.ending {
                Ending::Hung => true,
                Ending::Answered(_) => request.took() > timeout,
                Ending::GaveUp => false,
            };
            if late {
                violations.push(Violation::new(
                    "answered-within-the-request-timeout",
                    self.since_start(request.started),
                    format!("a {} request got no answer within {timeout:?}", request.kind.name()),
                ));
            }
        }
    }

    /// Every Redis call, retries included, ends within its request's deadline: the request
    /// timeout never has to cut a request short, and no command of a request is sent once it
    /// has ended.
    fn redis_calls_within_deadlines(&self, violations: &mut Vec<Violation>) {
        for cut in self.cuts {
            violations.push(Violation::new(
                "redis-calls-within-the-deadline",
                self.since_start(*cut),
                "the request timeout cut a request short: a Redis call outlived its deadline".to_owned(),
            ));
        }
        let by_identity = self.requests_by_identity();
        for arrival in self.arrivals {
            let identities = identities(arrival);
            let Some(shown) = identities.first() else { continue };
            let owned = identities
                .iter()
                .filter_map(|identity| by_identity.get(identity.as_str()))
                .flatten()
                .any(|request| request.started <= arrival.sent_at && arrival.sent_at <= request.ended);
            if !owned {
                violations.push(Violation::new(
                    "redis-calls-within-the-deadline",
                    self.since_start(arrival.sent_at),
                    format!("{} for {shown} was sent while no request of {shown} was running", arrival.name),
                ));
            }
        }
    }

    /// An idempotent call whose reply was lost is tried again while its request's deadline
    /// leaves room: the rate limit's count (idempotent by its attempt's id) is the one call of
    /// an attempt, and its reply is lost only by a fault that leaves the rest of Redis
    /// answering. Judged when nothing else could have stopped the retry: no outage or burst
    /// during the request, no breaker opening, and the request answered before a retry could
    /// even have waited for a pooled connection. Outside a cluster, whose client retries by
    /// itself.
    fn idempotent_calls_retried(&self, violations: &mut Vec<Violation>) {
        if self.scenario.topology == Topology::Cluster {
            return;
        }
        let redis = &self.settings.redis;
        let request_timeout = self.settings.http.request_timeout;
        let disturbed = self.spans(
            |scheduled| scheduled.fault.is_outage() || matches!(scheduled.fault, Fault::Burst(_)),
            request_timeout,
        );
        let by_identity = self.requests_by_identity();
        for arrival in self.arrivals.iter().filter(|arrival| arrival.reply_lost) {
            let Some(identity) = identities(arrival).into_iter().next() else { continue };
            let Some(request) = by_identity.get(identity.as_str()).into_iter().flatten().find(|request| {
                request.kind == Kind::Attempt && request.started <= arrival.sent_at && arrival.sent_at <= request.ended
            }) else {
                continue;
            };
            let Some(answer) = request.answer() else { continue };
            let tried_again = self.arrivals.iter().any(|other| {
                other.sent_at > arrival.sent_at
                    && other.sent_at <= request.ended
                    && identities(other).first() == Some(&identity)
            });
            let overlaps = |(from, until): &(Instant, Instant)| *from <= request.ended && request.started <= *until;
            let room = request.started + request_timeout - (arrival.sent_at + redis.operation_timeout);
            let failed_fast = request.ended < arrival.sent_at + redis.operation_timeout + redis.pool_wait_timeout;
            if answer.status == 503
                && !tried_again
                && redis.retry.max_attempts > 1
                && room > redis.operation_timeout
                && failed_fast
                && !disturbed.iter().any(overlaps)
                && !self.openings.iter().any(|opened| request.started <= *opened && *opened <= request.ended)
            {
                violations.push(Violation::new(
                    "idempotent-calls-retried",
                    self.since_start(request.ended),
                    format!(
                        "the reply to {} for {identity} was lost, and the request was answered 503 {}ms later without trying again, with {}ms of its deadline left",
                        arrival.name,
                        (request.ended - arrival.sent_at).as_millis(),
                        (request.started + request_timeout - request.ended).as_millis()
                    ),
                ));
            }
        }
    }

    /// The backend never holds more connections to a host than its pool's maximum, and the
    /// breaker's probe's one (or a shard-map question's, in a cluster). In a cluster, redis-rs
    /// reconnecting a node from several paths at once (a slot refresh and redirects) opens up to
    /// three connections to it and closes all but one a few milliseconds later: there, only
    /// connections held longer than that count (seed 4460 saw ten at once, for 2 ms), and each
    /// pooled connection may still hold two to a node.
    fn connections_within_the_pool(&self, violations: &mut Vec<Violation>) {
        let pool = self.settings.redis.pool_max_size;
        let most = if self.scenario.topology == Topology::Cluster { 2 * pool + 1 } else { pool + 1 };
        for (host, connections) in self.most_connections {
            if *connections > most {
                violations.push(Violation::new(
                    "connections-within-the-pool-maximum",
                    self.scenario.duration(),
                    format!("{connections} connections to {host} at once; the pool holds {most} with the probe's"),
                ));
            }
        }
    }

    /// The pool reuses its connections: a backend that opens a connection per request pays a
    /// handshake (and its setup commands) on every one. Faults, the maximum lifetime and the
    /// probe all open new ones, so the bound is loose: twice the pool, plus one for every two
    /// requests (seeds 0..1000 open at most one per four and a half). redis-rs's cluster
    /// connection opens its node connections itself, so a cluster is not judged.
    fn connections_reused(&self, violations: &mut Vec<Violation>) {
        if self.scenario.topology == Topology::Cluster {
            return;
        }
        let pool = u64::try_from(self.settings.redis.pool_max_size).unwrap_or(u64::MAX);
        let requests = u64::try_from(self.requests.len()).unwrap_or(u64::MAX);
        let most = 2 * pool + requests / 2;
        if self.connections_made > most {
            violations.push(Violation::new(
                "connections-reused",
                self.scenario.duration(),
                format!(
                    "the backend made {} connections for {requests} requests; a pool of {pool} reusing them makes at most {most}",
                    self.connections_made
                ),
            ));
        }
    }

    /// `/metrics` counts the pool's connections as the network sees them, once no request runs:
    /// one connection each outside a cluster, one to each node inside one (redis-rs may be
    /// between two connections to a node, so there it is at most that).
    fn pool_metrics_truthful(&self, violations: &mut Vec<Violation>) {
        let PoolAtRest { shown, open, breaker_closed } = self.pool_at_rest;
        let Some(shown) = shown else {
            violations.push(Violation::new(
                "pool-metrics-truthful",
                self.scenario.duration(),
                "/metrics did not show the pool's connections".to_owned(),
            ));
            return;
        };
        // A gauge of connections is a small whole number: the cast loses nothing.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let shown = shown.max(0.0) as usize;
        let truthful = match self.scenario.topology {
            Topology::Cluster => open <= shown * CLUSTER_NODES && (open == 0 || shown > 0),
            Topology::Standalone | Topology::Pair if breaker_closed => open == shown,
            Topology::Standalone | Topology::Pair => open == shown || open == shown + 1,
        };
        if !truthful {
            violations.push(Violation::new(
                "pool-metrics-truthful",
                self.scenario.duration(),
                format!("/metrics said the pool holds {shown} connections while the backend had {open} open to Redis"),
            ));
        }
    }

    /// Every connection a request took is back in the pool once no request runs, cancelled
    /// requests' included: a slot that never comes back shrinks the pool for good.
    fn connections_returned(&self, violations: &mut Vec<Violation>) {
        let at = self.scenario.duration();
        match self.in_use_at_rest {
            Some(in_use) if in_use <= 0.0 => {}
            Some(in_use) => violations.push(Violation::new(
                "connections-returned-to-the-pool",
                at,
                format!("{in_use} connections were still checked out of the pool once every request had ended"),
            )),
            None => violations.push(Violation::new(
                "connections-returned-to-the-pool",
                at,
                "/metrics did not show the pool's connections in use".to_owned(),
            )),
        }
    }

    /// A command that is not idempotent is never sent twice for one attempt: counted at Redis,
    /// per key, against the requests that could have sent it.
    fn non_idempotent_commands_once(&self, violations: &mut Vec<Violation>) {
        let mut sent: BTreeMap<(&str, String), (usize, Instant)> = BTreeMap::new();
        for arrival in self.arrivals.iter().filter(|arrival| is_not_idempotent(&arrival.name)) {
            let Some(identity) = identities(arrival).into_iter().next() else { continue };
            let entry = sent.entry((arrival.name.as_str(), identity)).or_insert((0, arrival.sent_at));
            entry.0 += 1;
            entry.1 = arrival.sent_at;
        }
        let by_identity = self.requests_by_identity();
        for ((name, identity), (count, last)) in sent {
            let requests = by_identity.get(identity.as_str()).map_or(0, Vec::len);
            if count > requests {
                violations.push(Violation::new(
                    "non-idempotent-commands-once",
                    self.since_start(last),
                    format!("{count} {name} commands for {identity}, from {requests} requests"),
                ));
            }
        }
    }

    /// Once the breaker's threshold is reached in an outage, calls fail at once and send
    /// nothing; while the breaker says it is open, so do they.
    fn breaker_fails_fast(&self, violations: &mut Vec<Violation>) {
        let slow = |request: &Request| request.answer().is_some() && request.took() > AT_ONCE;
        for request in self.requests.iter().filter(|request| !request.breaker_closed_at_start && slow(request)) {
            violations.push(Violation::new(
                "breaker-open-fails-fast",
                self.since_start(request.started),
                format!(
                    "a {} request started while the breaker was open and took {}ms",
                    request.kind.name(),
                    request.took().as_millis()
                ),
            ));
        }
        let redis = &self.settings.redis;
        let threshold = usize::try_from(redis.breaker.failure_threshold).unwrap_or(usize::MAX);
        // A cluster's breakers are one per shard, and a request's keys span shards: the
        // threshold cannot be read off the answers there.
        let outages = if self.scenario.topology == Topology::Cluster {
            Vec::new()
        } else {
            self.spans(Scheduled::is_outage, Duration::ZERO)
        };
        for (from, until) in outages {
            // An answer that waited an operation timeout in an outage was a failure the breaker
            // counted.
            let mut failed: Vec<Instant> = self
                .requests
                .iter()
                .filter(|request| request.started >= from && request.ended < until)
                .filter(|request| request.answer().is_some_and(|answer| answer.status >= 500))
                .filter(|request| request.took() >= redis.operation_timeout)
                .map(|request| request.ended)
                .collect();
            failed.sort();
            let Some(tripped) = failed.get(threshold.saturating_sub(1)).copied() else { continue };
            for request in self.requests.iter().filter(|request| request.started > tripped && request.started < until) {
                if slow(request) {
                    violations.push(Violation::new(
                        "breaker-open-fails-fast",
                        self.since_start(request.started),
                        format!(
                            "{threshold} requests had failed for lack of Redis {}ms into an outage, yet a {} request still took {}ms",
                            (tripped - from).as_millis(),
                            request.kind.name(),
                            request.took().as_millis()
                        ),
                    ));
                }
            }
        }
    }

    /// Once the faults heal, requests succeed again within a probe interval, after any probe
    /// in flight and any connection that died in the fault have each spent an operation
    /// timeout. In a cluster, a node connection that went silent while its TCP connection holds
    /// (its replies lost) is never reset by the network, and redis-rs keeps it: it goes with its
    /// pooled cluster connection, at `REDIS_CONNECTION_MAX_LIFETIME`.
    fn recovery_after_heal(&self, violations: &mut Vec<Violation>) {
        let redis = &self.settings.redis;
        let mut bound = redis.breaker.probe_interval + redis.operation_timeout * 2;
        if self.scenario.topology == Topology::Cluster {
            bound += redis.connection_max_lifetime;
        }
        // A burst's requests may find the pool exhausted for as long as they last.
        let burst = self.settings.http.request_timeout;
        let disturbed = self.spans(|_| true, burst);
        let mut healed = vec![self.started];
        healed.extend(disturbed.iter().map(|(_, until)| *until));
        for (index, heal) in healed.iter().copied().enumerate() {
            let next = disturbed.get(index).map_or(Instant::now() + Duration::from_hours(1), |(from, _)| *from);
            let from = heal + if index == 0 { Duration::ZERO } else { bound };
            for request in self.requests.iter().filter(|request| request.started >= from && request.ended < next) {
                let Some(answer) = request.answer() else { continue };
                if !succeeded(request.kind, answer.status) {
                    violations.push(Violation::new(
                        "recovery-after-heal",
                        self.since_start(request.started),
                        format!(
                            "{}ms after the faults healed, a {} request was answered {} {}",
                            (request.started - heal).as_millis(),
                            request.kind.name(),
                            answer.status,
                            answer.code.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
    }

    /// Nothing the simulation does is a bug of the backend's: every fault is an outage, a
    /// refusal or a slow path, which it answers 503 (or a 4xx), never 500 `internal_error`.
    fn no_internal_errors(&self, violations: &mut Vec<Violation>) {
        for request in self.requests {
            let Some(answer) = request.answer() else { continue };
            if answer.status == 500 {
                violations.push(Violation::new(
                    "no-internal-errors",
                    self.since_start(request.started),
                    format!(
                        "a {} request was answered 500 {}: a fault of Redis or the network is no bug of the backend's",
                        request.kind.name(),
                        answer.code.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
    }

    /// `/health` never says `connected` while Redis refuses writes.
    fn health_never_connected_while_refusing(&self, violations: &mut Vec<Violation>) {
        for request in self.requests.iter().filter(|request| request.kind == Kind::Health) {
            let connected = request.answer().is_some_and(|answer| answer.redis_status.as_deref() == Some("connected"));
            let refusing = self
                .refusing
                .iter()
                .any(|(from, until)| *from <= request.started && until.is_none_or(|until| request.ended <= until));
            if connected && refusing {
                violations.push(Violation::new(
                    "health-truthful",
                    self.since_start(request.started),
                    "/health said connected while Redis refused every write".to_owned(),
                ));
            }
        }
    }

    /// The history's verdict: one account per email, acknowledged accounts found once healed,
    /// the rate limit kept. Anomalies that a fault explains (a restart without its data, a
    /// failover without `REDIS_WAIT_REPLICAS`) are counted and accepted, not failed.
    fn history(&self, violations: &mut Vec<Violation>) -> (Analysis, Vec<String>) {
        let wait = self.scenario.wait_replicas;
        let losses: Vec<&Scheduled> =
            self.scenario.faults.iter().filter(|scheduled| scheduled.fault.loses_data(wait)).collect();
        let analysis = history::check(self.history, Options { lost_allowed: u64::MAX });
        let times = |indices: &[u64]| -> (u64, u64) {
            let times =
                indices.iter().filter_map(|index| self.history.get(usize::try_from(*index).ok()?)).map(|op| op.time);
            (times.clone().min().unwrap_or_default(), times.max().unwrap_or_default())
        };
        let mut accepted = Vec::new();
        for anomaly in analysis.anomalies.iter().chain(&analysis.accepted) {
            let (first, last) = times(&anomaly.ops);
            let explained_by = losses.iter().find(|scheduled| {
                let (from, until) = (nanos(scheduled.at), nanos(scheduled.ends()));
                anomaly.kind != AnomalyKind::PhantomConflict && first < until && last >= from
            });
            match explained_by {
                Some(scheduled) => {
                    accepted.push(format!(
                        "{} (explained by the {} at {}ms)",
                        anomaly.message,
                        scheduled.fault,
                        scheduled.at.as_millis()
                    ));
                }
                None => violations.push(Violation::new(
                    "history-valid",
                    Duration::from_nanos(anomaly.time),
                    format!("{}: {}", anomaly.kind.name(), anomaly.message),
                )),
            }
        }
        (analysis, accepted)
    }

    /// The requests by each of their identities.
    fn requests_by_identity(&self) -> std::collections::HashMap<&str, Vec<&Request>> {
        let mut by_identity: std::collections::HashMap<&str, Vec<&Request>> = std::collections::HashMap::new();
        for request in self.requests {
            for identity in &request.identities {
                by_identity.entry(identity.as_str()).or_default().push(request);
            }
        }
        by_identity
    }

    /// The spans during which a fault that `counts` is in force, merged where they overlap;
    /// bursts count for `burst` after they start.
    fn spans(&self, counts: impl Fn(&Scheduled) -> bool, burst: Duration) -> Vec<(Instant, Instant)> {
        let mut spans: Vec<(Instant, Instant)> = self
            .scenario
            .faults
            .iter()
            .filter(|scheduled| counts(scheduled))
            .map(|scheduled| {
                let lasts = if matches!(scheduled.fault, Fault::Burst(_)) { burst } else { scheduled.lasts };
                (self.started + scheduled.at, self.started + scheduled.at + lasts)
            })
            .collect();
        spans.sort();
        let mut merged: Vec<(Instant, Instant)> = Vec::new();
        for (from, until) in spans {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(until),
                _ => merged.push((from, until)),
            }
        }
        merged
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether an answer to a request of `kind` is the service working.
fn succeeded(kind: Kind, status: u16) -> bool {
    match kind {
        Kind::Register => matches!(status, 201 | 409 | 429),
        Kind::Attempt => matches!(status, 422 | 429),
        Kind::Read => matches!(status, 200 | 404),
        Kind::Health => status == 200,
    }
}

/// Whose command this is: the last part of its key (a client's address, an email, an account
/// id) and, for an index's `SET`, the email it points at. Commands without a key, and the
/// readiness check's, which probes also send, have none.
fn identities(arrival: &Arrival) -> Vec<String> {
    let command: Vec<bytes::Bytes> =
        std::iter::once(bytes::Bytes::from(arrival.name.clone())).chain(arrival.args.iter().cloned()).collect();
    let key = first_key(&command);
    let Some(key) = key else { return Vec::new() };
    let key = String::from_utf8_lossy(key);
    // The readiness check's key, one per shard in a cluster (`health:{tag}`).
    if key.split(':').any(|part| part == "health") {
        return Vec::new();
    }
    let Some(last) = key.rsplit(':').next() else { return Vec::new() };
    let mut identities = vec![last.to_owned()];
    if arrival.name == "SET"
        && let Some(value) = arrival.args.get(1)
    {
        identities.push(String::from_utf8_lossy(value).into_owned());
    }
    identities
}
