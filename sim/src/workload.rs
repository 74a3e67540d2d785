//! Many clients at once, through the real router: registrations (some of one email from several
//! clients at once), reads of the accounts acknowledged so far, health checks, and rate-limit
//! pressure from a few clients; some clients give up early, as clients with their own timeouts
//! do. Registrations, reads and attempts go into a history that the checker judges.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request as HttpRequest, Response};
use history::{Function, Op, OpType, RateLimitSeen, Recorder, Value};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::observed::{Answer, Ending, Kind, Observed, Request};
use crate::redis::Redis;
use crate::trace::Trace;

/// Clients at once, each running one request at a time.
const CLIENTS: u64 = 5;
/// A client's pause between two requests, at most.
const THINK: Duration = Duration::from_millis(400);
/// Clients that press on the rate limit, each from its own address; bursts press from one more.
const PRESSURE_CLIENTS: u8 = 2;
/// How long a contested email stays the one that clients contend for.
const CONTEST_PERIOD: Duration = Duration::from_secs(2);
/// Process numbers: bursts' requests above the clients', final reads above all.
const BURST_PROCESS: u64 = 1_000;
/// Beyond the request timeout, how long a client waits before it calls the backend hung.
const HUNG_AFTER: Duration = Duration::from_secs(1);

/// The clients' shared view: the router, the history and what they learnt.
pub(crate) struct Workload {
    router: Router,
    request_timeout: Duration,
    observed: Arc<Observed>,
    trace: Trace,
    recorder: Recorder,
    registered: Mutex<Vec<String>>,
    /// Acknowledged accounts: id and email.
    acknowledged: Mutex<Vec<(String, String)>>,
    seed: u64,
}

impl Workload {
    pub(crate) fn new(
        router: Router,
        request_timeout: Duration,
        observed: &Arc<Observed>,
        trace: &Trace,
        seed: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            router,
            request_timeout,
            observed: Arc::clone(observed),
            trace: trace.clone(),
            recorder: Recorder::new(),
            registered: Mutex::default(),
            acknowledged: Mutex::default(),
            seed,
        })
    }

    /// Runs the clients until `until`, and the bursts at their times; returns once every
    /// request has ended.
    pub(crate) async fn run(self: &Arc<Self>, until: Instant, bursts: &[(Instant, u32)]) {
        let mut clients = JoinSet::new();
        for process in 0..CLIENTS {
            let workload = Arc::clone(self);
            let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(31).wrapping_add(process));
            clients.spawn(async move {
                while Instant::now() < until {
                    workload.one(process, &mut rng).await;
                    tokio::time::sleep(THINK.mul_f64(rng.random())).await;
                }
            });
        }
        for (index, (at, requests)) in bursts.iter().copied().enumerate() {
            let workload = Arc::clone(self);
            let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(37).wrapping_add(index as u64));
            clients.spawn(async move {
                tokio::time::sleep_until(at).await;
                workload.trace.line(format!("workload: a burst of {requests} requests"));
                let mut burst = JoinSet::new();
                for one in 0..u64::from(requests) {
                    let workload = Arc::clone(&workload);
                    let mut rng = StdRng::seed_from_u64(rng.random());
                    let process = BURST_PROCESS + index as u64 * 100 + one;
                    burst.spawn(async move { workload.one(process, &mut rng).await });
                }
                while burst.join_next().await.is_some() {}
            });
        }
        while let Some(result) = clients.join_next().await {
            if let Err(error) = result
                && error.is_panic()
            {
                std::panic::resume_unwind(error.into_panic());
            }
        }
    }

    /// One request of a client's choosing.
    async fn one(&self, process: u64, rng: &mut StdRng) {
        // A third of requests come from clients that stop waiting before the backend would
        // answer when Redis is slow: they cancel the request's work wherever it is.
        let give_up = rng.random_bool(0.3).then(|| self.request_timeout.mul_f64(rng.random_range(0.05..1.0)));
        let draw: f64 = rng.random();
        if process >= BURST_PROCESS && draw < 0.5 {
            // Half a burst presses on one client's budget at once, which only its bursts use.
            let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, PRESSURE_CLIENTS + 1));
            self.attempt(process, client, give_up).await;
        } else if draw < 0.35 {
            let email = if rng.random_bool(0.3) {
                let period = (Instant::now() - self.observed.started()).as_millis() / CONTEST_PERIOD.as_millis();
                format!("contested-{period}@example.com")
            } else {
                format!("client-{process}-{}@example.com", rng.random::<u32>())
            };
            // An address of its own per registration: registrations never run out of budget.
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | rng.random_range(1..0x00ff_ffff)));
            self.register(process, &email, client, give_up).await;
        } else if draw < 0.6 {
            let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, rng.random_range(1..=PRESSURE_CLIENTS)));
            self.attempt(process, client, give_up).await;
        } else if draw < 0.85
            && let Some((id, email)) = self.pick_acknowledged(rng)
        {
            self.read(process, &id, &email, give_up).await;
        } else {
            self.health(give_up).await;
        }
    }

    fn pick_acknowledged(&self, rng: &mut StdRng) -> Option<(String, String)> {
        let acknowledged = self.acknowledged.lock().expect("acknowledged lock");
        (!acknowledged.is_empty()).then(|| acknowledged[rng.random_range(0..acknowledged.len())].clone())
    }

    async fn register(&self, process: u64, email: &str, client: IpAddr, give_up: Option<Duration>) {
        self.registered.lock().expect("registered lock").push(email.to_owned());
        let value = Value { email: Some(email.to_owned()), client: Some(client.to_string()), ..Value::default() };
        let pending = self.recorder.invoke(process, Function::Register, value);
        let body = serde_json::json!({"email": email, "password": "sim-passw0rd", "name": "Sim User"});
        let request = http(Method::POST, "/api/v1/auth/register", Some(client), Some(&body));
        let identities = vec![email.to_owned(), client.to_string()];
        let (answer, body, seen) = self.send(Kind::Register, request, identities, give_up).await;
        let status = answer.as_ref().map(|answer| answer.status);
        let id = body.get("id").and_then(serde_json::Value::as_str).filter(|_| status == Some(201)).map(str::to_owned);
        if let Some(id) = &id {
            self.acknowledged.lock().expect("acknowledged lock").push((id.clone(), email.to_owned()));
        }
        let outcome = Value { id, status, rate_limit: seen, error: no_answer(status), ..Value::default() };
        self.recorder.complete(pending, history::registration_outcome(status), outcome);
    }

    async fn attempt(&self, process: u64, client: IpAddr, give_up: Option<Duration>) {
        let value = Value { client: Some(client.to_string()), ..Value::default() };
        let pending = self.recorder.invoke(process, Function::Limit, value);
        let request = http(Method::POST, "/api/v1/auth/register", Some(client), Some(&serde_json::json!({})));
        let (answer, _, seen) = self.send(Kind::Attempt, request, vec![client.to_string()], give_up).await;
        let status = answer.map(|answer| answer.status);
        let outcome = Value { status, rate_limit: seen, error: no_answer(status), ..Value::default() };
        self.recorder.complete(pending, history::attempt_outcome(status), outcome);
    }

    /// Reads account `id`, whose keys also name its `email`.
    async fn read(&self, process: u64, id: &str, email: &str, give_up: Option<Duration>) {
        let pending =
            self.recorder.invoke(process, Function::Read, Value { id: Some(id.to_owned()), ..Value::default() });
        let request = http(Method::GET, &format!("/api/v1/users/{id}"), None, None);
        let (answer, body, _) = self.send(Kind::Read, request, vec![id.to_owned(), email.to_owned()], give_up).await;
        let status = answer.map(|answer| answer.status);
        let found = match status {
            Some(200) => Some(true),
            Some(404) => Some(false),
            _ => None,
        };
        let email = body.get("email").and_then(serde_json::Value::as_str).filter(|_| found == Some(true));
        let outcome =
            Value { found, email: email.map(str::to_owned), status, error: no_answer(status), ..Value::default() };
        self.recorder.complete(pending, history::read_outcome(status), outcome);
    }

    async fn health(&self, give_up: Option<Duration>) {
        let request = http(Method::GET, "/health", None, None);
        let _ = self.send(Kind::Health, request, Vec::new(), give_up).await;
    }

    /// Sends `request` through the router and records it; gives the answer, its JSON body and
    /// what it said of the rate limit.
    async fn send(
        &self,
        kind: Kind,
        request: HttpRequest<Body>,
        identities: Vec<String>,
        give_up: Option<Duration>,
    ) -> (Option<Answer>, serde_json::Value, Option<RateLimitSeen>) {
        let started = Instant::now();
        let breaker_closed_at_start = self.observed.breaker_closed();
        let hung_at = started + self.request_timeout + HUNG_AFTER;
        let waits_until = give_up.map_or(hung_at, |give_up| (started + give_up).min(hung_at));
        let exchange = async {
            let response = self.router.clone().oneshot(request).await.expect("the router never fails");
            read(response).await
        };
        let (ending, body, seen) = match tokio::time::timeout_at(waits_until, exchange).await {
            Ok((answer, body, seen)) => (Ending::Answered(answer), body, seen),
            Err(_) if waits_until < hung_at => (Ending::GaveUp, serde_json::Value::Null, None),
            Err(_) => (Ending::Hung, serde_json::Value::Null, None),
        };
        let ended = Instant::now();
        if self.trace.is_on() {
            let shown = match &ending {
                Ending::Answered(answer) => {
                    let detail = answer.code.as_deref().or(answer.redis_status.as_deref()).unwrap_or_default();
                    let id = answer.request_id.as_deref().unwrap_or("none");
                    format!("{} {detail} (request {id})", answer.status)
                }
                Ending::GaveUp => "client gave up".to_owned(),
                Ending::Hung => "no answer".to_owned(),
            };
            self.trace.line(format!(
                "http {} {} -> {shown} in {}ms",
                kind.name(),
                identities.first().map(String::as_str).unwrap_or_default(),
                (ended - started).as_millis()
            ));
        }
        let answer = match &ending {
            Ending::Answered(answer) => Some(answer.clone()),
            _ => None,
        };
        self.observed.record(Request { kind, started, ended, ending, identities, breaker_closed_at_start });
        (answer, body, seen)
    }

    /// The value of `metric` on `/metrics`, as an operator reads it.
    pub(crate) async fn metric(&self, metric: &str) -> Option<f64> {
        let response = self.router.clone().oneshot(http(Method::GET, "/metrics", None, None)).await.ok()?;
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.ok()?;
        let text = String::from_utf8_lossy(&bytes);
        text.lines().find_map(|line| line.strip_prefix(metric)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Reads every registered email's account on Redis, as an administrator, once the faults
    /// have healed, and gives the history.
    pub(crate) fn finish(&self, redis: &Redis) -> Vec<Op> {
        let mut emails = self.registered.lock().expect("registered lock").clone();
        emails.sort();
        emails.dedup();
        for email in emails {
            let pending = self.recorder.invoke_final_read(Value { email: Some(email.clone()), ..Value::default() });
            let id = redis.account_of(&email);
            self.recorder.complete(pending, OpType::Ok, Value { found: Some(id.is_some()), id, ..Value::default() });
        }
        self.recorder.ops()
    }
}

/// A request as a proxy in front of the backend forwards it: from the proxy's address, naming
/// the client in `X-Forwarded-For`.
fn http(method: Method, path: &str, client: Option<IpAddr>, body: Option<&serde_json::Value>) -> HttpRequest<Body> {
    let mut builder = HttpRequest::builder().method(method).uri(path);
    if let Some(client) = client {
        builder = builder.header("x-forwarded-for", client.to_string());
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let mut request = builder.body(body).expect("a valid request");
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([10, 255, 0, 1], 40_000))));
    request
}

async fn read(response: Response<Body>) -> (Answer, serde_json::Value, Option<RateLimitSeen>) {
    let status = response.status().as_u16();
    let (seen, request_id) = {
        let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok());
        (
            RateLimitSeen::from_headers(header("ratelimit-policy"), header("ratelimit")),
            header("x-request-id").map(str::to_owned),
        )
    };
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let text = |field: &str| body.get(field).and_then(serde_json::Value::as_str).map(str::to_owned);
    let answer = Answer { status, code: text("error"), redis_status: text("redis_status"), request_id };
    (answer, body, seen)
}

/// Why there is no definite answer, for the history.
fn no_answer(status: Option<u16>) -> Option<String> {
    status.is_none().then(|| "no answer".to_owned())
}
