//! What the simulation saw of the backend, for the invariants: every request with its times and
//! answer, and what the breaker said when it mattered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::Layer as _;

use gift_genie_backend::metrics::Metrics;
use tokio::time::Instant;

use crate::backend::{SHARD, breaker_closed};
use crate::invariants::Violation;
use crate::net::{Net, Write};

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Register,
    Attempt,
    Read,
    Health,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Attempt => "attempt",
            Self::Read => "read",
            Self::Health => "health",
        }
    }
}

/// An HTTP answer, as far as the invariants read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    /// The error's code, on an error.
    pub code: Option<String>,
    /// `/health`'s `redis_status`.
    pub redis_status: Option<String>,
    /// The `x-request-id` the backend gave the request, as its logs name it.
    pub request_id: Option<String>,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    Answered(Answer),
    /// The client stopped waiting, as clients with their own timeouts do.
    GaveUp,
    /// No answer within the request timeout and a grace: the backend hung.
    Hung,
}

/// One request, start to end.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub kind: Kind,
    pub started: Instant,
    pub ended: Instant,
    pub ending: Ending,
    /// What Redis keys of this request end with: its client, email or account id.
    pub identities: Vec<String>,
    /// Whether the breaker let calls through when the request started.
    pub breaker_closed_at_start: bool,
}

impl Request {
    pub(crate) fn answer(&self) -> Option<&Answer> {
        match &self.ending {
            Ending::Answered(answer) => Some(answer),
            Ending::GaveUp | Ending::Hung => None,
        }
    }

    pub(crate) fn took(&self) -> Duration {
        self.ended - self.started
    }
}

/// Everything observed, shared by the workload, the breaker's watch and the network's.
pub(crate) struct Observed {
    started: Instant,
    metrics: Arc<Metrics>,
    /// Whether the one breaker is watched (not in a cluster, whose breakers are per shard).
    one_breaker: bool,
    requests: Mutex<Vec<Request>>,
    /// When the breaker last opened, while it is open, as the backend logs it.
    opened_at: Mutex<Option<Instant>>,
    /// Every time the breaker opened.
    openings: Mutex<Vec<Instant>>,
    /// When the request timeout cut a request, as the backend logs it.
    cuts: Mutex<Vec<Instant>>,
    violations: Mutex<Vec<Violation>>,
}

impl Observed {
    pub(crate) fn new(metrics: Arc<Metrics>, one_breaker: bool) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            metrics,
            one_breaker,
            requests: Mutex::default(),
            opened_at: Mutex::default(),
            openings: Mutex::default(),
            cuts: Mutex::default(),
            violations: Mutex::default(),
        })
    }

    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// Whether the breaker lets calls through (always, for a cluster's, which are not watched).
    pub(crate) fn breaker_closed(&self) -> bool {
        !self.one_breaker || breaker_closed(&self.metrics, SHARD)
    }

    pub(crate) fn record(&self, request: Request) {
        self.requests.lock().expect("requests lock").push(request);
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests lock").clone()
    }

    pub(crate) fn violations(&self) -> Vec<Violation> {
        self.violations.lock().expect("violations lock").clone()
    }

    /// When the request timeout cut a request.
    pub(crate) fn cuts(&self) -> Vec<Instant> {
        self.cuts.lock().expect("cuts lock").clone()
    }

    /// When the breaker opened, each time (a cluster's breakers are not watched).
    pub(crate) fn openings(&self) -> Vec<Instant> {
        self.openings.lock().expect("openings lock").clone()
    }

    /// The breaker opened (`true`) or closed, now.
    fn breaker_changed(&self, opened: bool) {
        if !self.one_breaker {
            return;
        }
        if opened {
            self.openings.lock().expect("openings lock").push(Instant::now());
        }
        *self.opened_at.lock().expect("breaker lock") = opened.then(Instant::now);
    }

    /// Watches every write the backend makes: once the breaker has opened, nothing may be sent
    /// on a connection made before, until it closes. (The probe's connections are made after.
    /// A command already handed to a connection in the very instant the breaker opened may
    /// still go out then.)
    pub(crate) fn watch(self: &Arc<Self>, net: &Net) {
        let observed = Arc::clone(self);
        net.observe_writes(move |write: Write<'_>| {
            let Some(opened_at) = *observed.opened_at.lock().expect("breaker lock") else { return };
            let now = Instant::now();
            if write.connected_at < opened_at && opened_at < now {
                let violation = Violation::new(
                    "breaker-open-sends-nothing",
                    now - observed.started,
                    format!(
                        "the breaker opened {}ms into the run, yet {}ms later the backend wrote on connection #{} to {}, made before",
                        (opened_at - observed.started).as_millis(),
                        (now - opened_at).as_millis(),
                        write.connection,
                        write.host,
                    ),
                );
                observed.violations.lock().expect("violations lock").push(violation);
            }
        });
    }

    /// A tracing subscriber that tells this run, to the instant, what the backend logs of its
    /// breaker opening and closing, and of a request cut by the request timeout.
    pub(crate) fn backend_log(self: &Arc<Self>) -> impl tracing::Subscriber + Send + Sync {
        use tracing_subscriber::layer::SubscriberExt as _;
        let layer = BackendLog(Arc::downgrade(self)).with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
            [BREAKER_TARGET, DEADLINE_TARGET].contains(&metadata.target())
        }));
        tracing_subscriber::registry().with(layer)
    }
}

/// Where the backend logs its breaker's changes, and its requests' deadlines.
const BREAKER_TARGET: &str = "gift_genie_backend::redis_pool::breaker";
const DEADLINE_TARGET: &str = "gift_genie_backend::routes::middleware";

struct BackendLog(std::sync::Weak<Observed>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for BackendLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Some(observed) = self.0.upgrade() else { return };
        let mut message = Message::default();
        event.record(&mut message);
        if message.0.contains("opening the circuit breaker") {
            observed.breaker_changed(true);
        } else if message.0.contains("closing the circuit breaker") {
            observed.breaker_changed(false);
        } else if message.0.contains("outlived its deadline") {
            observed.cuts.lock().expect("cuts lock").push(Instant::now());
        }
    }
}

#[derive(Default)]
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
