//! Faults on the clients' side, against a backend with production's memory and CPU limits:
//! hang-ups during a registration burst, slow clients, invented methods, oversized bodies.

use std::time::{Duration, Instant};

use e2e::faults::kinds::*;
use e2e::{BackendConfig, ContainerLimits, Fault, Stack, StackOptions};
use rstest::rstest;

use crate::support::{MARGIN, poll_until, stack};

const MIB: u64 = 1024 * 1024;
/// Issue 12's goal for the backend's memory once a burst is over, and how soon.
const SETTLED_MEMORY: u64 = 64 * MIB;
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

/// The fast test settings, with a rate limit no burst reaches: the burst must reach the handler
/// (and argon2), not stop at a 429.
fn unlimited() -> StackOptions {
    StackOptions::default().backend(BackendConfig::fast().set("RATE_LIMIT_MAX_ATTEMPTS", "1000000"))
}

/// Times `/health` from a well-behaved client every 50 ms for `during`.
async fn health_latencies(stack: &Stack, during: Duration) -> Vec<Duration> {
    let started = Instant::now();
    let mut latencies = Vec::new();
    while started.elapsed() < during {
        let answer = stack.backend().health().await.expect("a well-behaved client gets an answer");
        assert_eq!(answer.status, 200, "health stays green during a client fault: {:?}", answer.body);
        latencies.push(answer.elapsed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort_unstable();
    latencies[(latencies.len() * 99).div_ceil(100).saturating_sub(1)]
}

#[rstest]
#[case::a_burst_whose_clients_hang_up(Fault::from(HangUpBurst { clients: 100 }))]
#[case::slow_clients(Fault::from(SlowClients { connections: 200 }))]
#[case::invented_methods(Fault::from(MethodFlood { requests: 1000 }))]
#[case::oversized_bodies(Fault::from(OversizedBodies { requests: 40, bytes: 2 * 1024 * 1024 }))]
#[tokio::test(flavor = "multi_thread")]
async fn during_a_client_fault_health_stays_fast_and_no_container_dies(#[case] fault: Fault) {
    let stack = stack(unlimited()).await;
    let config = stack.config().clone();

    fault.inject(&stack).await.unwrap();
    let latencies = health_latencies(&stack, Duration::from_secs(4)).await;
    fault.heal(&stack).await.unwrap();

    // /health is one Redis call: it must answer within its own operation timeout, whatever
    // other clients do.
    let p99 = p99(latencies);
    assert!(p99 < config.operation_timeout(), "{fault}: /health p99 {p99:?} over {:?}", config.operation_timeout());
    let outcome = stack.client_loads().outcome(&fault).unwrap();
    assert!(outcome.sent > 0, "{fault} sent nothing: {outcome:?}");
    stack.check_containers().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_registration_burst_the_backends_memory_settles_under_64_mib() {
    let stack = stack(unlimited()).await;
    // A burst as users make one: half the clients hang up while their hashes run, half wait for
    // their answers.
    let burst = Fault::from(HangUpBurst { clients: 100 });
    burst.inject(&stack).await.unwrap();
    let patient = futures_util::future::join_all(
        (0..100).map(|_| async { stack.backend().register(&crate::support::email("burst")).await.map(|a| a.status) }),
    )
    .await;
    burst.heal(&stack).await.unwrap();
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for answer in &patient {
        let kind = answer.as_ref().map_or_else(|_| "no answer".to_owned(), ToString::to_string);
        *answers.entry(kind).or_default() += 1;
    }
    let answered = patient.iter().filter(|status| matches!(status, Ok(201 | 503))).count();
    assert_eq!(answered, 100, "every patient client gets a 201, or a 503 to come back later: {answers:?}");

    let (memory, took) = poll_until(
        "the backend's memory settles",
        SETTLE_WITHIN,
        || async { stack.backend_memory(0).await.unwrap() },
        |bytes| *bytes < SETTLED_MEMORY,
    )
    .await;
    stack.note(format!("memory {} MiB after {took:?}", memory / MIB));
    stack.check_containers().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_slow_clients_stops_the_container_within_the_shutdown_timeout() {
    let shutdown_timeout = Duration::from_secs(2);
    // Slow heads are never cut by the header timeout here: only the shutdown can end them.
    let backend = BackendConfig::fast().set("SHUTDOWN_TIMEOUT", "2s").set("HTTP_HEADER_READ_TIMEOUT", "1h");
    let stack = stack(StackOptions::default().backend(backend)).await;
    let slow = Fault::from(SlowClients { connections: 100 });
    slow.inject(&stack).await.unwrap();
    poll_until(
        "the slow clients are connected",
        Duration::from_secs(10),
        || async { stack.client_loads().outcome(&slow).unwrap().sent },
        |sent| *sent >= 100,
    )
    .await;

    let stopped = stack.stop_backend(0, Duration::from_secs(30)).await.unwrap();
    slow.heal(&stack).await.unwrap();
    assert_eq!(stopped.exit_code, 0, "it exited by itself, not by SIGKILL after the grace period");
    assert!(stopped.elapsed < shutdown_timeout + MARGIN, "it took {:?} to stop", stopped.elapsed);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_scrape_stays_small_after_a_method_flood() {
    let stack = stack(StackOptions::default()).await;
    let scrape = || async { stack.backend().get("/metrics").await.unwrap().body.as_str().unwrap_or_default().len() };
    let before = scrape().await;
    let flood = Fault::from(MethodFlood { requests: 2000 });
    flood.inject(&stack).await.unwrap();
    let (outcome, _) = poll_until(
        "the flood is answered",
        e2e::MAX_LOAD_TIME,
        || async { stack.client_loads().outcome(&flood).unwrap() },
        |outcome| outcome.done,
    )
    .await;
    flood.heal(&stack).await.unwrap();

    let after = scrape().await;
    // Invented methods count as `other` and invented paths as `unmatched`: a few series at most.
    assert!(after < before + 16 * 1024, "the scrape grew from {before} to {after} bytes after {outcome:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_oversized_body_gets_its_413() {
    let stack = stack(unlimited()).await;
    let bodies = Fault::from(OversizedBodies { requests: 100, bytes: 2 * 1024 * 1024 });
    bodies.inject(&stack).await.unwrap();
    let (outcome, _) = poll_until(
        "every body is answered",
        e2e::MAX_LOAD_TIME,
        || async { stack.client_loads().outcome(&bodies).unwrap() },
        |outcome| outcome.done,
    )
    .await;
    bodies.heal(&stack).await.unwrap();
    assert_eq!(outcome.statuses.get(&413), Some(&100), "{outcome:?}");
    assert_eq!(outcome.failed, 0, "no connection was reset: {outcome:?}");
}

/// The limits come from `infra/compute.tf`, read as plancheck reads it.
#[tokio::test(flavor = "multi_thread")]
async fn the_backend_runs_with_the_memory_and_cpu_of_infra_compute_tf() {
    let infra = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra");
    let config = plancheck::config::load(&infra).unwrap();
    let container = config.resource("scaleway_container.backend").unwrap();
    let production = ContainerLimits {
        memory_mib: container.attributes["memory_limit"].as_u64().unwrap(),
        cpu_millis: container.attributes["cpu_limit"].as_u64().unwrap(),
    };
    assert_eq!(ContainerLimits::PRODUCTION, production, "e2e's defaults follow infra/compute.tf");
    assert_eq!(StackOptions::default().limits, production);

    let stack = stack(StackOptions::default()).await;
    let limits = stack.backend_limits(0).await.unwrap();
    assert_eq!(limits, (production.memory_bytes(), production.nano_cpus()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_out_of_memory_kill_is_reported_with_the_containers_state() {
    let stack = stack(StackOptions::default()).await;
    stack.check_containers().await.unwrap();
    stack.limit_redis_memory(16 * 1024 * 1024).await.unwrap();
    // Redis holds what it is given; past its cgroup's limit the kernel kills it.
    let fill = "for i = 1, 200000 do redis.call('SET', 'filler:' .. i, string.rep('x', 1024)) end";
    let _ = stack.redis_cli(&["EVAL", fill, "0"]).await;

    let (failure, _) = poll_until(
        "the kill is reported",
        Duration::from_secs(10),
        || async { stack.check_containers().await.err().map(|error| error.to_string()) },
        Option::is_some,
    )
    .await;
    let failure = failure.unwrap();
    assert!(failure.contains("redis is exited, killed for lack of memory (OOMKilled)"), "{failure}");
    assert!(stack.report().contains("container failure: redis is exited"), "{}", stack.report());
}
