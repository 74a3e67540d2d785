//! Load benchmark: real HTTP against the backend, real Redis behind it.
//!
//! `cargo bench -p gift-genie-backend --bench load` prints requests/s and p50/p99 latency for
//! `/health`, for the rate-limit decision on registration (the 429 path), and for successful
//! registrations (dominated by argon2 by design), then redis-benchmark's PING rate at the same
//! concurrency as the ceiling. `BENCH_SECONDS` and `BENCH_CONCURRENCY` override the defaults.
//!
//! The load generator shares the machine with the server and Redis, so the figures are a floor for
//! the service and comparable only between runs on the same machine.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gift_genie_backend::config::Settings;
use gift_genie_backend::startup::App;
use hdrhistogram::Histogram;
use serde_json::json;
use testkit::redis::RedisServer;
use tokio::sync::oneshot;

struct Report {
    name: &'static str,
    requests: u64,
    unexpected: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

async fn start_app(redis_url: &str, rate_limit: &str) -> (String, oneshot::Sender<()>) {
    let vars = HashMap::from([
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("REDIS_URL", redis_url),
        ("RATE_LIMIT_MAX_ATTEMPTS", rate_limit),
        ("RUST_LOG", "warn"),
    ]);
    let settings =
        Settings::from_lookup(|name| vars.get(name).map(|value| (*value).to_owned())).expect("valid settings");
    let app = App::build(settings).await.expect("the app binds");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (base, stop)
}

/// Drives `request` from `concurrency` workers for `duration`, counting answers whose status is
/// not `expected_status` as unexpected.
async fn drive<F, Fut>(
    name: &'static str,
    concurrency: u64,
    duration: Duration,
    expected_status: u16,
    request: F,
) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = reqwest::Result<reqwest::Response>> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let request = Arc::clone(&request);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                let mut unexpected = 0;
                while Instant::now() < deadline {
                    let sequence = counter.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    let status = request(sequence).await.map(|response| response.status().as_u16());
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    latency.saturating_record(micros.max(1));
                    if status.ok() != Some(expected_status) {
                        unexpected += 1;
                    }
                }
                (latency, unexpected)
            })
        })
        .collect();
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut unexpected = 0;
    for worker in workers {
        let (histogram, bad) = worker.await.expect("worker finishes");
        latency_us.add(&histogram).expect("same bounds");
        unexpected += bad;
    }
    Report { name, requests: latency_us.len(), unexpected, elapsed: started.elapsed(), latency_us }
}

fn print_report(report: &Report) {
    #[allow(clippy::cast_precision_loss)] // request counts stay far below 2^52
    let rate = report.requests as f64 / report.elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let ms = |quantile: f64| report.latency_us.value_at_quantile(quantile) as f64 / 1000.0;
    println!(
        "{:<34} {:>10.0} req/s   p50 {:>8.2} ms   p99 {:>8.2} ms   ({} requests, {} unexpected)",
        report.name,
        rate,
        ms(0.50),
        ms(0.99),
        report.requests,
        report.unexpected
    );
}

fn redis_benchmark_ping(port: u16, concurrency: u64) -> String {
    let requests = (concurrency * 2_000).to_string();
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "ping", "-c", &concurrency.to_string()])
        .args(["-n", &requests, "-q"])
        .output();
    match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .split('\r')
            .filter_map(|line| line.trim().strip_prefix("PING_").map(str::to_owned))
            .filter(|line| line.contains("requests per second"))
            .collect::<Vec<_>>()
            .join("; "),
        Ok(output) => format!("redis-benchmark failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
        Err(error) => format!("redis-benchmark is not available ({error}); install redis-tools"),
    }
}

fn main() {
    let seconds = env_number("BENCH_SECONDS", 5);
    let concurrency = env_number("BENCH_CONCURRENCY", 50);
    let duration = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let redis = RedisServer::start().await;
        let client = reqwest::Client::builder().pool_max_idle_per_host(usize::MAX).build().expect("an HTTP client");
        println!("load: {concurrency} concurrent clients, {seconds}s per scenario, release build, Redis on loopback\n");

        let (limited, stop_limited) = start_app(&redis.url(), "1").await;
        let health_url = format!("{limited}/health");
        let health_client = client.clone();
        print_report(
            &drive("GET /health", concurrency, duration, 200, move |_| health_client.get(&health_url).send()).await,
        );

        // The one allowed attempt is spent first; every later one takes the 429 path.
        let register_url = format!("{limited}/api/v1/auth/register");
        let first = json!({"email": "first@example.com", "password": "bench-passw0rd", "name": "B"});
        client.post(&register_url).json(&first).send().await.expect("the first attempt is answered");
        let limit_client = client.clone();
        print_report(
            &drive("POST register (rate limited, 429)", concurrency, duration, 429, move |n| {
                limit_client
                    .post(&register_url)
                    .json(&json!({"email": format!("l{n}@example.com"), "password": "bench-passw0rd", "name": "B"}))
                    .send()
            })
            .await,
        );
        let _ = stop_limited.send(());

        let (open, stop_open) = start_app(&redis.url(), "1000000").await;
        let register_url = format!("{open}/api/v1/auth/register");
        let register_client = client.clone();
        print_report(
            &drive("POST register (201, argon2id)", concurrency, duration, 201, move |n| {
                register_client
                    .post(&register_url)
                    .json(&json!({"email": format!("u{n}@example.com"), "password": "bench-passw0rd", "name": "B"}))
                    .send()
            })
            .await,
        );
        let _ = stop_open.send(());

        println!("\nceiling, redis-benchmark at -c {concurrency}: {}", redis_benchmark_ping(redis.port(), concurrency));
    });
}
