//! A workload of many clients against a backend, recorded as a history: registrations, some of
//! one email from several clients at once; reads of the accounts acknowledged so far; and
//! rate-limit pressure from a few clients. Each client names itself in `X-Forwarded-For`, which a
//! backend with `TRUSTED_PROXY_HOPS=1` takes as the client, so that each has its own budget.
//!
//! Once the faults have healed, [`Workload::finish`] reads every account back, through Redis as
//! an administrator where the stack is local, or through the API by id, and gives the history.
//! [`Recorded`] is the recording client underneath, for tests that drive one by hand.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use history::{FINAL_PROCESS, Function, Op, OpType, RateLimitSeen, Recorder, Value};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::task::JoinSet;

use crate::backend::{Answer, BackendClient};
use crate::error::{Error, Result};
use crate::stack::Stack;

/// How much a workload does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkloadSpec {
    /// Clients at once, each running one operation at a time.
    pub processes: u32,
    /// Operations per second, all clients together.
    pub rate: f64,
    /// Shares of the operations that are registrations and rate-limit attempts; the rest reads.
    pub registrations: f64,
    pub attempts: f64,
    /// Share of registrations that use one email with the other clients of the moment.
    pub contested: f64,
    /// Clients whose attempts press on the rate limit, each with its own address.
    pub pressure_clients: u8,
    /// Seeds the clients' choices.
    pub seed: u64,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        Self {
            processes: 4,
            rate: 6.0,
            registrations: 0.35,
            attempts: 0.25,
            contested: 0.3,
            pressure_clients: 2,
            seed: 0,
        }
    }
}

/// How long a contested email stays the one that clients contend for.
const CONTEST_PERIOD: Duration = Duration::from_secs(2);

/// A backend client whose every registration and read goes into a history, with what it
/// learnt: the emails registered and the accounts acknowledged. The workload's clients share
/// one; a test can use one alone.
pub struct Recorded {
    /// Process `p` talks to backend `p` modulo their number.
    backends: Vec<BackendClient>,
    /// Who the backends see as the client when no `X-Forwarded-For` names one, when it is known.
    peer: Option<String>,
    recorder: Recorder,
    registered: Mutex<Vec<String>>,
    acknowledged: Mutex<Vec<String>>,
}

impl Recorded {
    pub fn new(backend: &BackendClient) -> Self {
        Self::across(std::slice::from_ref(backend))
    }

    /// A client of several backends: process `p` talks to backend `p` modulo their number.
    pub fn across(backends: &[BackendClient]) -> Self {
        assert!(!backends.is_empty(), "a recorded client needs a backend");
        Self {
            backends: backends.to_vec(),
            peer: None,
            recorder: Recorder::new(),
            registered: Mutex::new(Vec::new()),
            acknowledged: Mutex::new(Vec::new()),
        }
    }

    /// Records attempts that name no client as the backends' `peer`, whose budget they spend:
    /// the checker then judges them against the rate limit.
    #[must_use]
    pub fn seen_as(mut self, peer: &str) -> Self {
        self.peer = Some(peer.to_owned());
        self
    }

    fn backend(&self, process: u64) -> &BackendClient {
        let index = usize::try_from(process).unwrap_or_default() % self.backends.len();
        &self.backends[index]
    }

    /// Registers `email` as `process`, from `client` when given (named in `X-Forwarded-For`).
    pub async fn register(&self, process: u64, email: &str, client: Option<IpAddr>) -> Result<Answer> {
        self.registered.lock().expect("recorded lock").push(email.to_owned());
        let seen_as = client.map(|client| client.to_string()).or_else(|| self.peer.clone());
        let value = Value { email: Some(email.to_owned()), client: seen_as, ..Value::default() };
        let pending = self.recorder.invoke(process, Function::Register, value);
        let answer = match client {
            Some(client) => self.backend(process).register_from(email, client).await,
            None => self.backend(process).register(email).await,
        };
        let (kind, outcome) = registration_outcome(&answer);
        if kind == OpType::Ok
            && let Some(id) = &outcome.id
        {
            self.acknowledged.lock().expect("recorded lock").push(id.clone());
        }
        self.recorder.complete(pending, kind, outcome);
        answer
    }

    /// An attempt on `client`'s rate limit, as `process`.
    pub async fn attempt(&self, process: u64, client: IpAddr) -> Result<Answer> {
        let value = Value { client: Some(client.to_string()), ..Value::default() };
        let pending = self.recorder.invoke(process, Function::Limit, value);
        let answer = self.backend(process).attempt_from(client).await;
        let (kind, outcome) = attempt_outcome(&answer);
        self.recorder.complete(pending, kind, outcome);
        answer
    }

    /// Reads account `id` as `process`.
    pub async fn read(&self, process: u64, id: &str) -> Result<Answer> {
        let pending =
            self.recorder.invoke(process, Function::Read, Value { id: Some(id.to_owned()), ..Value::default() });
        let answer = self.backend(process).user(id).await;
        let (kind, outcome) = read_outcome(&answer);
        self.recorder.complete(pending, kind, outcome);
        answer
    }

    /// One of the accounts acknowledged so far, picked by `pick` from their number.
    pub fn acknowledged(&self, pick: impl FnOnce(usize) -> usize) -> Option<String> {
        let acknowledged = self.acknowledged.lock().expect("recorded lock");
        (!acknowledged.is_empty()).then(|| acknowledged[pick(acknowledged.len())].clone())
    }

    /// Reads every account back, once the faults have healed: every email registered, through
    /// Redis as an administrator, where `stack` is given; else every acknowledged account through
    /// the API by id. Gives the history, final reads included.
    pub async fn finish(&self, stack: Option<&Stack>) -> Result<Vec<Op>> {
        if let Some(stack) = stack {
            let mut emails = self.registered.lock().expect("recorded lock").clone();
            emails.sort();
            emails.dedup();
            for email in emails {
                let pending = self.recorder.invoke_final_read(Value { email: Some(email.clone()), ..Value::default() });
                let id = stack.account_of(&email).await?;
                self.recorder.complete(
                    pending,
                    OpType::Ok,
                    Value { found: Some(id.is_some()), id, ..Value::default() },
                );
            }
        } else {
            let ids = self.acknowledged.lock().expect("recorded lock").clone();
            for id in ids {
                let pending = self.recorder.invoke_final_read(Value { id: Some(id.clone()), ..Value::default() });
                let (kind, outcome) = read_outcome(&self.backend(FINAL_PROCESS).user(&id).await);
                self.recorder.complete(pending, kind, outcome);
            }
        }
        Ok(self.recorder.ops())
    }
}

/// A running workload.
pub struct Workload {
    recorded: Arc<Recorded>,
    clients: JoinSet<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Workload {
    /// Starts the clients against `backend`.
    pub fn start(backend: &BackendClient, spec: WorkloadSpec) -> Self {
        let recorded = Arc::new(Recorded::new(backend));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut clients = JoinSet::new();
        let pause = Duration::from_secs_f64(f64::from(spec.processes) / spec.rate.max(0.01));
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        for process in 0..u64::from(spec.processes) {
            let mut client = Client {
                process,
                recorded: Arc::clone(&recorded),
                rng: StdRng::seed_from_u64(spec.seed.wrapping_add(process)),
                spec,
                run: run.clone(),
                started: tokio::time::Instant::now(),
            };
            let mut stopped = stopped.clone();
            clients.spawn(async move {
                while !*stopped.borrow() {
                    client.one().await;
                    let jitter = client.rng.random_range(0.5..1.5);
                    tokio::select! {
                        () = tokio::time::sleep(pause.mul_f64(jitter)) => {}
                        _ = stopped.changed() => {}
                    }
                }
            });
        }
        Self { recorded, clients, stop }
    }

    /// Stops the clients, each finishing the operation it is in, then reads every account back
    /// (see [`Recorded::finish`]) and gives the history.
    pub async fn finish(mut self, stack: Option<&Stack>) -> Result<Vec<Op>> {
        let _ = self.stop.send(true);
        while self.clients.join_next().await.is_some() {}
        self.recorded.finish(stack).await
    }
}

/// One client of the workload.
struct Client {
    process: u64,
    recorded: Arc<Recorded>,
    rng: StdRng,
    spec: WorkloadSpec,
    /// Tells this run's emails from any other's.
    run: String,
    started: tokio::time::Instant,
}

impl Client {
    async fn one(&mut self) {
        let draw: f64 = self.rng.random();
        // Answers and their errors are in the history; a client goes on whatever it saw.
        if draw < self.spec.registrations {
            let email = if self.rng.random::<f64>() < self.spec.contested {
                let period = self.started.elapsed().as_millis() / CONTEST_PERIOD.as_millis();
                format!("contested-{}-{period}@example.com", self.run)
            } else {
                format!("client-{}-{}-{}@example.com", self.run, self.process, self.rng.random::<u32>())
            };
            // An address of its own per registration: registrations never run out of budget.
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | self.rng.random_range(1..0x00ff_ffff)));
            let _ = self.recorded.register(self.process, &email, Some(client)).await;
        } else if draw < self.spec.registrations + self.spec.attempts && self.spec.pressure_clients > 0 {
            let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, self.rng.random_range(1..=self.spec.pressure_clients)));
            let _ = self.recorded.attempt(self.process, client).await;
        } else if let Some(id) = self.recorded.acknowledged(|count| self.rng.random_range(0..count)) {
            let _ = self.recorded.read(self.process, &id).await;
        }
    }
}

/// What an answer's headers say of the rate limit.
fn rate_limit_seen(answer: &Answer) -> Option<RateLimitSeen> {
    let header = |name: &str| answer.headers.get(name).and_then(|value| value.to_str().ok());
    RateLimitSeen::from_headers(header("ratelimit-policy"), header("ratelimit"))
}

/// No answer: a timeout or a broken connection.
fn no_answer(error: &Error) -> Value {
    let error = match error {
        Error::Http { source, .. } if source.is_timeout() => "timeout".to_owned(),
        Error::Http { source, .. } => format!("no answer: {source}"),
        other => other.to_string(),
    };
    Value { error: Some(error), ..Value::default() }
}

fn registration_outcome(answer: &Result<Answer>) -> (OpType, Value) {
    match answer {
        Ok(answer) => {
            let value = Value {
                id: answer.field("id").as_str().filter(|_| answer.status == 201).map(str::to_owned),
                status: Some(answer.status),
                rate_limit: rate_limit_seen(answer),
                ..Value::default()
            };
            (history::registration_outcome(Some(answer.status)), value)
        }
        Err(error) => (history::registration_outcome(None), no_answer(error)),
    }
}

fn attempt_outcome(answer: &Result<Answer>) -> (OpType, Value) {
    match answer {
        Ok(answer) => {
            let value = Value { status: Some(answer.status), rate_limit: rate_limit_seen(answer), ..Value::default() };
            (history::attempt_outcome(Some(answer.status)), value)
        }
        Err(error) => (history::attempt_outcome(None), no_answer(error)),
    }
}

fn read_outcome(answer: &Result<Answer>) -> (OpType, Value) {
    match answer {
        Ok(answer) => {
            let found = (answer.status == 200).then_some(true).or((answer.status == 404).then_some(false));
            let email = answer.field("email").as_str().filter(|_| found == Some(true)).map(str::to_owned);
            (
                history::read_outcome(Some(answer.status)),
                Value { found, email, status: Some(answer.status), ..Value::default() },
            )
        }
        Err(error) => (history::read_outcome(None), no_answer(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> Answer {
        Answer {
            status,
            body: serde_json::json!({"id": "u1", "email": "a@example.com"}),
            elapsed: Duration::ZERO,
            headers: reqwest::header::HeaderMap::new(),
        }
    }

    #[test]
    fn an_acknowledged_registration_records_its_id_and_a_found_read_its_email() {
        assert_eq!(registration_outcome(&Ok(answer(201))).1.id.as_deref(), Some("u1"));
        assert_eq!(registration_outcome(&Ok(answer(409))).1.id, None);
        let read = read_outcome(&Ok(answer(200))).1;
        assert_eq!((read.found, read.email.as_deref()), (Some(true), Some("a@example.com")));
        assert_eq!(read_outcome(&Ok(answer(503))).1.found, None, "a failed read says nothing of the account");
    }
}
