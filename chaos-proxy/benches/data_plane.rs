//! The data plane's cost: throughput and added latency through chaos-proxy, against a direct
//! connection measured in the same run, on loopback.
//!
//! `cargo bench -p chaos-proxy --bench data_plane` starts a redis-server, puts two proxies in
//! front of it (one without toxics; one with a 0 ms latency toxic and a bandwidth toxic that
//! never binds), and drives redis-benchmark (GET and SET) through each and directly: 50
//! connections, one connection, and 50 connections pipelining 16 requests. Then a bulk TCP
//! stream. It prints each ratio to the direct figure, the latency the proxy adds, and the
//! proxy's CPU time per request. Each figure is the best of `BENCH_ROUNDS` runs (default 3).
//!
//! Everything shares the machine's cores, so the figures compare runs on the same machine only.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaos_proxy::model::ProxyFields;
use chaos_proxy::store::ProxyStore;

/// A redis-benchmark result: requests per second and median latency in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_ms: f64,
    /// The proxy's CPU seconds during the run (this process's, which runs nothing else then).
    cpu_seconds: f64,
    requests: f64,
}

struct Scenario {
    name: &'static str,
    toxic: bool,
    connections: u32,
    pipeline: u32,
    requests: u32,
    goal: f64,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "50 connections, no toxic",
        toxic: false,
        connections: 50,
        pipeline: 1,
        requests: 100_000,
        goal: 0.65,
    },
    Scenario {
        name: "50 connections, 0 ms latency + bandwidth",
        toxic: true,
        connections: 50,
        pipeline: 1,
        requests: 100_000,
        goal: 0.5,
    },
    Scenario {
        name: "1 connection, 0 ms latency + bandwidth",
        toxic: true,
        connections: 1,
        pipeline: 1,
        requests: 20_000,
        goal: 0.45,
    },
    Scenario {
        name: "50 connections, pipelined by 16, no toxic",
        toxic: false,
        connections: 50,
        pipeline: 16,
        requests: 400_000,
        goal: 0.5,
    },
];

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|value| value.parse().ok()).unwrap_or(3);
    let runtime = chaos_proxy::runtime().expect("the server's runtime starts");
    let redis = RedisServer::start();
    let store = Arc::new(ProxyStore::new(None, None));
    let (plain, toxic) = runtime.block_on(proxies(&store, redis.port));

    println!("chaos-proxy data plane against a direct connection, best of {rounds} (redis-benchmark GET and SET)\n");
    println!(
        "{:<44} {:>11} {:>12} {:>6} {:>6}   {:>13} {:>11}",
        "scenario", "direct rps", "proxied rps", "ratio", "goal", "p50 added", "CPU/request"
    );
    for scenario in &SCENARIOS {
        let through = if scenario.toxic { toxic } else { plain };
        let (mut direct, mut proxied) = (Run::default(), Run::default());
        for _ in 0..rounds {
            direct = best(direct, runtime.block_on(redis_benchmark(redis.port, scenario)));
            proxied = best(proxied, runtime.block_on(redis_benchmark(through.port(), scenario)));
        }
        let ratio = proxied.rps / direct.rps;
        println!(
            "{:<44} {:>11.0} {:>12.0} {:>6.2} {:>6.2} {} {:>8.3} ms {:>8.1} µs",
            scenario.name,
            direct.rps,
            proxied.rps,
            ratio,
            scenario.goal,
            if ratio >= scenario.goal { "met" } else { "MISSED" },
            proxied.p50_ms - direct.p50_ms,
            proxied.cpu_seconds / proxied.requests * 1e6,
        );
    }

    println!("\n{:<44} {:>11} {:>12} {:>6}", "bulk TCP stream, 512 MiB", "direct MB/s", "proxied MB/s", "ratio");
    let sink = Sink::start();
    let bulk_plain = runtime.block_on(bulk_proxy(&store, "bulk", sink.addr, false));
    let bulk_toxic = runtime.block_on(bulk_proxy(&store, "bulk-toxic", sink.addr, true));
    for (name, through) in [("no toxic", bulk_plain), ("0 ms latency + bandwidth", bulk_toxic)] {
        let (mut direct, mut proxied) = (0.0_f64, 0.0_f64);
        for _ in 0..rounds {
            direct = direct.max(runtime.block_on(stream(sink.addr)));
            proxied = proxied.max(runtime.block_on(stream(through)));
        }
        println!("{:<44} {:>11.0} {:>12.0} {:>6.2}", name, direct, proxied, proxied / direct);
    }
    runtime.block_on(store.stop_all());
}

fn best(current: Run, new: Run) -> Run {
    if new.rps > current.rps { new } else { current }
}

/// A proxy without toxics and one with the toxics every chaos experiment starts from.
async fn proxies(store: &ProxyStore, redis_port: u16) -> (SocketAddr, SocketAddr) {
    let upstream = format!("127.0.0.1:{redis_port}");
    let plain = create(store, "plain", &upstream).await;
    let toxic = create(store, "toxic", &upstream).await;
    add_benign_toxics(store, "toxic").await;
    (plain, toxic)
}

async fn create(store: &ProxyStore, name: &str, upstream: &str) -> SocketAddr {
    let fields = ProxyFields {
        name: name.to_owned(),
        listen: "127.0.0.1:0".to_owned(),
        upstream: upstream.to_owned(),
        enabled: true,
    };
    store.create(fields).await.expect("the proxy starts").listen.parse().expect("a bound address")
}

/// A 0 ms latency toxic and a bandwidth toxic far above what loopback carries, on the way back.
async fn add_benign_toxics(store: &ProxyStore, proxy: &str) {
    for toxic in [
        r#"{"name": "zero", "type": "latency", "attributes": {"latency": 0}}"#,
        r#"{"name": "wide", "type": "bandwidth", "attributes": {"rate": 100000000}}"#,
    ] {
        store.add_toxic(proxy, toxic.as_bytes()).await.expect("the toxic is added");
    }
}

async fn redis_benchmark(port: u16, scenario: &Scenario) -> Run {
    let cpu_before = cpu_seconds();
    let output = tokio::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "get,set", "--csv"])
        .args(["-c", &scenario.connections.to_string(), "-n", &scenario.requests.to_string()])
        .args(["-P", &scenario.pipeline.to_string()])
        .output()
        .await
        .expect("redis-benchmark runs: apt-get install redis-tools");
    let cpu = cpu_seconds() - cpu_before;
    let text = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|line| line.split(',').skip(1).filter_map(|field| field.trim_matches('"').parse().ok()).collect())
        .filter(|row: &Vec<f64>| row.len() >= 4)
        .collect();
    assert_eq!(rows.len(), 2, "redis-benchmark printed GET and SET rows: {text}");
    #[allow(clippy::cast_precision_loss)] // a row count
    let count = rows.len() as f64;
    Run {
        rps: rows.iter().map(|row| row[0]).sum::<f64>() / count,
        p50_ms: rows.iter().map(|row| row[3]).sum::<f64>() / count,
        cpu_seconds: cpu,
        requests: f64::from(scenario.requests) * count,
    }
}

/// This process's user and system CPU time, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_default();
    fields.get(11).zip(fields.get(12)).map_or(0.0, |(user, system)| (user + system) / 100.0)
}

const BULK_BYTES: usize = 512 * 1024 * 1024;

/// Reads and discards each connection on its own thread, away from the proxy's runtime.
struct Sink {
    addr: SocketAddr,
}

impl Sink {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = vec![0; 256 * 1024];
                    let mut total = 0;
                    while let Ok(read) = stream.read(&mut buffer) {
                        if read == 0 {
                            break;
                        }
                        total += read;
                    }
                    // One byte back when all arrived: the sender's clock stops on it.
                    let _ = stream.write_all(&[u8::from(total == BULK_BYTES)]);
                });
            }
        });
        Self { addr }
    }
}

async fn bulk_proxy(store: &ProxyStore, name: &str, sink: SocketAddr, toxic: bool) -> SocketAddr {
    let addr = create(store, name, &sink.to_string()).await;
    if toxic {
        add_benign_toxics(store, name).await;
    }
    addr
}

/// Sends 512 MiB to `addr` from a thread of its own and returns MB/s.
async fn stream(addr: SocketAddr) -> f64 {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let chunk = vec![7_u8; 128 * 1024];
        let started = Instant::now();
        for _ in 0..BULK_BYTES / chunk.len() {
            stream.write_all(&chunk).unwrap();
        }
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut done = [0];
        stream.read_exact(&mut done).unwrap();
        assert_eq!(done, [1], "every byte arrived");
        #[allow(clippy::cast_precision_loss)] // 512 MiB
        let megabytes = BULK_BYTES as f64 / 1e6;
        megabytes / started.elapsed().as_secs_f64()
    })
    .await
    .unwrap()
}

/// A redis-server on a free loopback port, without persistence, stopped when dropped.
struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs: apt-get install redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
