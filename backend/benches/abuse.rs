//! Abuse benchmark: the backend binary, as deployed, against hostile and unlucky clients.
//!
//! `cargo bench -p gift-genie-backend --bench abuse` starts redis-server and the release
//! `gift-genie` binary, then runs three scenarios while it samples the process's resident memory
//! and threads from `/proc` and times `GET /health` every 20 ms:
//!
//! - a burst of 200 registrations at once, half of whose clients hang up after 10 ms;
//! - 300 slow clients that drip a request head one byte every 100 ms;
//! - 2,000 requests with invented methods on invented paths, and what they do to `/metrics`.
//!
//! It prints peak RSS, threads and the `/health` p99 per scenario against the goals of issue 12
//! (peak RSS at most 192 MiB, back under 64 MiB within 10 s of the burst, `/health` p99 under
//! 50 ms). `BENCH_BACKEND_BIN` runs another build of the binary instead, to compare.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use testkit::hostile;
use testkit::raw_http;
use testkit::redis::RedisServer;

const MIB: u64 = 1024 * 1024;
const PEAK_RSS_GOAL: u64 = 192 * MIB;
const SETTLED_RSS_GOAL: u64 = 64 * MIB;
const SETTLE_WITHIN: Duration = Duration::from_secs(10);
const HEALTH_P99_GOAL: Duration = Duration::from_millis(50);
const HEALTH_EVERY: Duration = Duration::from_millis(20);
const PASSWORD: &str = "bench-passw0rd-1";

/// The backend as a child process, so that its memory and threads are its own.
struct Backend {
    child: Child,
    addr: SocketAddr,
}

impl Backend {
    async fn start(redis_url: &str) -> Self {
        let binary = std::env::var("BENCH_BACKEND_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_gift-genie").to_owned());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(&binary)
            .env_clear()
            .envs([
                ("HOST", "127.0.0.1"),
                ("PORT", &port.to_string()),
                ("REDIS_URL", redis_url),
                ("RATE_LIMIT_MAX_ATTEMPTS", "1000000"),
                ("RUST_LOG", "error"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        let backend = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while reqwest::get(backend.url("/livez")).await.is_err() {
            assert!(Instant::now() < deadline, "the backend did not answer /livez within 10s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        backend
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident memory now, its peak since start, and the number of threads.
    fn usage(&self) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or_default()
        };
        Usage { rss: field("VmRSS:") * 1024, peak_rss: field("VmHWM:") * 1024, threads: field("Threads:") }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    rss: u64,
    peak_rss: u64,
    threads: u64,
}

/// What a scenario did to the process.
struct Observed {
    peak_rss: u64,
    peak_threads: u64,
    health: Histogram<u64>,
    health_failures: u64,
}

/// Runs `scenario` while sampling the backend every 50 ms and timing `/health` every 20 ms.
async fn observe(backend: &Backend, scenario: impl Future<Output = ()>) -> Observed {
    let done = Arc::new(AtomicBool::new(false));
    let health_url = backend.url("/health");
    let prober = tokio::spawn({
        let done = Arc::clone(&done);
        async move {
            let client = reqwest::Client::new();
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let mut failures = 0;
            while !done.load(Ordering::Relaxed) {
                let sent = Instant::now();
                match client.get(&health_url).send().await {
                    Ok(response) if response.status().is_success() => {}
                    _ => failures += 1,
                }
                latency.saturating_record(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1));
                tokio::time::sleep(HEALTH_EVERY).await;
            }
            (latency, failures)
        }
    });
    let mut peak = backend.usage();
    let sampling = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = backend.usage();
            peak.peak_rss = peak.peak_rss.max(now.peak_rss);
            peak.threads = peak.threads.max(now.threads);
        }
    };
    tokio::select! {
        () = scenario => {}
        () = sampling => unreachable!("sampling never ends"),
    }
    done.store(true, Ordering::Relaxed);
    let (health, health_failures) = prober.await.expect("the prober ends");
    let last = backend.usage();
    Observed {
        peak_rss: peak.peak_rss.max(last.peak_rss),
        peak_threads: peak.threads.max(last.threads),
        health,
        health_failures,
    }
}

/// 200 registrations at once; even-numbered clients hang up 10 ms after sending.
async fn registration_burst(backend: &Backend) -> String {
    let client = reqwest::Client::builder().pool_max_idle_per_host(usize::MAX).build().expect("an HTTP client");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (client, url, addr) = (client.clone(), backend.url("/api/v1/auth/register"), backend.addr);
            tokio::spawn(async move {
                let email = format!("burst{i}@example.com");
                if i % 2 == 0 {
                    let request = raw_http::registration(&email, PASSWORD, "Bench");
                    hostile::hang_up(addr, &request, hostile::HANG_UP_AFTER).await.expect("a hang-up client sends");
                    None
                } else {
                    let body = json!({"email": email, "password": PASSWORD, "name": "Bench"});
                    Some(client.post(url).json(&body).send().await.map_or(0, |response| response.status().as_u16()))
                }
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for task in tasks {
        if let Some(status) = task.await.expect("a burst client ends") {
            *statuses.entry(status).or_default() += 1;
        }
    }
    format!("answers to the clients that waited: {statuses:?}")
}

/// 300 connections that each send a request head one byte every 100 ms, for 3 s.
async fn slow_clients(backend: &Backend) -> String {
    let head = b"GET /health HTTP/1.1\r\nHost: bench\r\nUser-Agent: a-very-slow-client/1.0\r\n\r\n";
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let addr = backend.addr;
            tokio::spawn(async move { hostile::drip(addr, &head[..30], Duration::from_millis(100)).await })
        })
        .collect();
    let mut stayed_open = 0;
    for task in tasks {
        stayed_open += u32::from(task.await.expect("a slow client ends"));
    }
    format!("{stayed_open} of 300 slow connections stayed open for their 3 s")
}

/// 2,000 requests with methods and paths nobody defined.
async fn invented_methods(backend: &Backend) -> String {
    let client = reqwest::Client::new();
    let scrape =
        || async { client.get(backend.url("/metrics")).send().await.expect("scrape").text().await.expect("text") };
    let before = scrape().await.len();
    for i in 0..2_000 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).expect("a token");
        let _ = client.request(method, backend.url(&format!("/made/up/{i}"))).send().await;
    }
    let after = scrape().await.len();
    format!("scrape size {before} bytes before, {after} bytes after")
}

fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // memory sizes stay far below 2^52
    let value = bytes as f64 / MIB as f64;
    format!("{value:.1} MiB")
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn report(name: &str, observed: &Observed, detail: &str) -> bool {
    let p99 = Duration::from_micros(observed.health.value_at_quantile(0.99));
    let (rss_met, health_met) = (observed.peak_rss <= PEAK_RSS_GOAL, p99 < HEALTH_P99_GOAL);
    println!("{name}");
    println!("  {detail}");
    println!("  peak RSS        {:>10}   goal <= {}: {}", mib(observed.peak_rss), mib(PEAK_RSS_GOAL), verdict(rss_met));
    println!("  peak threads    {:>10}", observed.peak_threads);
    println!(
        "  /health p99     {:>10.2?}   goal < {HEALTH_P99_GOAL:?}: {}   ({} probes, {} failed, max {:.2?})",
        p99,
        verdict(health_met),
        observed.health.len(),
        observed.health_failures,
        Duration::from_micros(observed.health.max()),
    );
    rss_met && health_met
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let redis = RedisServer::start().await;
        let backend = Backend::start(&redis.url()).await;
        let start = backend.usage();
        println!(
            "abuse: the gift-genie binary on {} CPUs; at start {} RSS, {} threads\n",
            std::thread::available_parallelism().map_or(1, usize::from),
            mib(start.rss),
            start.threads
        );

        let mut all_met = true;
        let mut detail = String::new();
        let burst = observe(&backend, async { detail = registration_burst(&backend).await }).await;
        all_met &= report("registration burst: 200 at once, half hang up after 10 ms", &burst, &detail);
        let settle_started = Instant::now();
        let settled = loop {
            let rss = backend.usage().rss;
            if rss < SETTLED_RSS_GOAL {
                break Some((settle_started.elapsed(), rss));
            }
            if settle_started.elapsed() > SETTLE_WITHIN {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if let Some((after, rss)) = settled {
            println!(
                "  settled         {:>10}   after {after:.1?}, goal under {} within {SETTLE_WITHIN:?}: met",
                mib(rss),
                mib(SETTLED_RSS_GOAL)
            );
        } else {
            all_met = false;
            println!(
                "  settled         {:>10}   goal under {} within {SETTLE_WITHIN:?}: MISSED",
                mib(backend.usage().rss),
                mib(SETTLED_RSS_GOAL)
            );
        }

        let slow = observe(&backend, async { detail = slow_clients(&backend).await }).await;
        all_met &= report("\nslow clients: 300 heads dripped a byte every 100 ms", &slow, &detail);
        let invented = observe(&backend, async { detail = invented_methods(&backend).await }).await;
        all_met &= report("\ninvented methods: 2,000 requests", &invented, &detail);
        println!("\nafter all scenarios: {} RSS, {} threads", mib(backend.usage().rss), backend.usage().threads);
        println!("{}", if all_met { "every goal met" } else { "some goals MISSED" });
    });
}
