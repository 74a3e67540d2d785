//! Beyond one node: Redis Cluster (three primaries, each with a replica) and a primary with a
//! replica for `REDIS_WAIT_REPLICAS`, with the properties that must hold in every shape.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{Value, json};

use crate::support::{
    MARGIN, OPERATION_TIMEOUT, PROBE_INTERVAL, RedisCluster, RedisServer, TestApp, poll_until, timed, user,
};

/// A cluster that fails over a primary silent for a second.
const FAST_FAILOVER: Duration = Duration::from_secs(1);

/// For tests of exactness, not of timing: production's timeouts and a hashing queue that waits,
/// so that a busy machine (a hundred requests opening cluster connections to six nodes, beside
/// other tests) slows the answers down instead of turning some into 503s.
const PATIENT: [(&str, &str); 3] =
    [("REDIS_CONNECT_TIMEOUT", "5s"), ("REDIS_OPERATION_TIMEOUT", "5s"), ("PASSWORD_HASH_QUEUE_TIMEOUT", "30s")];

/// Where the backend's Redis is, in either shape, kept alive for the test.
enum Shape {
    Standalone(RedisServer),
    Cluster(RedisCluster),
}

impl Shape {
    async fn start(cluster: bool) -> Self {
        if cluster {
            Self::Cluster(RedisCluster::start(FAST_FAILOVER).await)
        } else {
            Self::Standalone(RedisServer::start().await)
        }
    }

    async fn app(&self, overrides: &[(&str, &str)]) -> TestApp {
        match self {
            Self::Standalone(redis) => TestApp::spawn(&redis.url(), overrides).await,
            Self::Cluster(cluster) => {
                let mut all = vec![("REDIS_MODE", "cluster")];
                all.extend_from_slice(overrides);
                TestApp::spawn(&cluster.url(), &all).await
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_backend_registers_finds_and_reports_every_shard() {
    let shape = Shape::start(true).await;
    let app = shape.app(&[]).await;

    let health = app.get("/health").await;
    let status = health.status();
    let body = health.json::<Value>().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"status": "healthy", "redis_status": "connected", "shards": {"total": 3, "unavailable": 0}})
    );
    let created = app.register(&user("cluster@example.com")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let found = app.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(app.register(&user("CLUSTER@example.com")).await.status(), StatusCode::CONFLICT);
}

#[rstest]
#[case::standalone(false)]
#[case::cluster(true)]
#[tokio::test(flavor = "multi_thread")]
async fn one_email_registered_100_times_through_two_replicas_creates_one_account(#[case] cluster: bool) {
    let shape = Shape::start(cluster).await;
    let replicas = [shape.app(&PATIENT).await, shape.app(&PATIENT).await];
    let statuses: Vec<StatusCode> = join_all((0..100).map(|i| {
        let replica = &replicas[i % 2];
        async move { replica.register(&user("once@example.com")).await.status() }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 99, "{statuses:?}");
}

#[rstest]
#[case::standalone(false)]
#[case::cluster(true)]
#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_is_exact_across_two_replicas(#[case] cluster: bool) {
    let shape = Shape::start(cluster).await;
    let overrides = [PATIENT.as_slice(), &[("RATE_LIMIT_MAX_ATTEMPTS", "5")]].concat();
    let replicas = [shape.app(&overrides).await, shape.app(&overrides).await];
    let statuses: Vec<StatusCode> = join_all((0..30).map(|i| {
        let replica = &replicas[i % 2];
        async move { replica.register(&user(&format!("limited{i}@example.com"))).await.status() }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s != StatusCode::TOO_MANY_REQUESTS).count(), 5, "{statuses:?}");
}

/// A user whose two keys (its id index and its account) live on one primary, and another whose
/// two keys both live elsewhere: reading one touches one shard only, and not the other's.
async fn users_on_two_shards(app: &TestApp, cluster: &RedisCluster) -> (String, String) {
    let mut seen: Vec<(String, u16)> = Vec::new();
    for i in 0.. {
        let email = format!("shard{i}@example.com");
        let created = app.register(&user(&email)).await;
        let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let index = cluster.primary_of(&format!("gift-genie:user-id:{id}")).await.port();
        if index != cluster.primary_of(&format!("gift-genie:account:{email}")).await.port() {
            continue;
        }
        if let Some((other, _)) = seen.iter().find(|(_, port)| *port != index) {
            return (other.clone(), id);
        }
        seen.push((id, index));
    }
    unreachable!("users spread over every shard")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_shard_fails_its_own_keys_fast_and_leaves_the_others_working() {
    // No failover during the test: the shard stays silent until thawed.
    let cluster = RedisCluster::start(Duration::from_mins(1)).await;
    let app = TestApp::spawn(
        &cluster.url(),
        &[("REDIS_MODE", "cluster"), ("REDIS_BREAKER_FAILURE_THRESHOLD", "2"), ("REDIS_RETRY_MAX_ATTEMPTS", "1")],
    )
    .await;
    let (silent, answering) = users_on_two_shards(&app, &cluster).await;
    let frozen = cluster.primary_of(&format!("gift-genie:user-id:{silent}")).await;
    frozen.freeze();

    let health = app.get("/health").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = health.json::<Value>().await.unwrap();
    assert_eq!(body["redis_status"], "degraded", "{body}");
    assert_eq!(body["shards"], json!({"total": 3, "unavailable": 1}));

    for _ in 0..2 {
        assert_eq!(app.get(&format!("/api/v1/users/{silent}")).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let fast = timed(app.get(&format!("/api/v1/users/{silent}"))).await;
    assert_eq!(fast.value.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(fast.elapsed < OPERATION_TIMEOUT, "the silent shard's breaker is open: {:?}", fast.elapsed);
    let other = timed(app.get(&format!("/api/v1/users/{answering}"))).await;
    assert_eq!(other.value.status(), StatusCode::OK, "another shard's key still works");
    assert!(other.elapsed < OPERATION_TIMEOUT, "{:?}", other.elapsed);

    frozen.thaw();
    poll_until(
        "the silent shard answers again",
        PROBE_INTERVAL + OPERATION_TIMEOUT + MARGIN,
        || async { app.get(&format!("/api/v1/users/{silent}")).await.status() },
        |status| *status == StatusCode::OK,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_primary_is_ridden_out_once_the_cluster_promotes_its_replica() {
    let mut cluster = RedisCluster::start(FAST_FAILOVER).await;
    let app = TestApp::spawn(&cluster.url(), &[("REDIS_MODE", "cluster")]).await;
    let (lost, _) = users_on_two_shards(&app, &cluster).await;
    let port = cluster.primary_of(&format!("gift-genie:user-id:{lost}")).await.port();
    cluster.nodes.iter_mut().find(|node| node.port() == port).unwrap().stop();

    // The cluster notices after its node timeout and promotes the replica; the backend follows
    // within a probe and a retry.
    let bound = FAST_FAILOVER * 3 + PROBE_INTERVAL + OPERATION_TIMEOUT + MARGIN;
    let (_, took) = poll_until(
        "the key answers from the promoted replica",
        bound,
        || async { app.get(&format!("/api/v1/users/{lost}")).await.status() },
        |status| *status == StatusCode::OK,
    )
    .await;
    assert!(took < bound);
    assert_eq!(app.get("/health").await.status(), StatusCode::OK, "every shard has a primary again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_that_says_it_is_down_is_an_outage_not_a_bug() {
    // The production operation timeout: long enough for redis-rs to give up its own retries of
    // CLUSTERDOWN and hand the refusal itself to the service.
    let operation_timeout = Duration::from_secs(5);
    let cluster = RedisCluster::start(FAST_FAILOVER).await;
    let app = TestApp::spawn(&cluster.url(), &[("REDIS_MODE", "cluster"), ("REDIS_OPERATION_TIMEOUT", "5s")]).await;
    let (lost, answering) = users_on_two_shards(&app, &cluster).await;
    // A shard with neither its primary nor its replica: its slots have nobody, and with full
    // coverage required (Redis's default) the other nodes refuse every key with CLUSTERDOWN.
    let primary = cluster.primary_of(&format!("gift-genie:user-id:{lost}")).await;
    let replica = cluster.replica_of(primary).await;
    primary.freeze();
    replica.freeze();

    let bound = FAST_FAILOVER * 3 + operation_timeout + MARGIN;
    let ((status, body), _) = poll_until(
        "a key of a shard that is up gets the cluster's refusal",
        bound,
        || async {
            let response = app.get(&format!("/api/v1/users/{answering}")).await;
            (response.status(), response.json::<Value>().await.unwrap())
        },
        |(status, _)| *status != StatusCode::OK,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "redis_unavailable", "{body}");
    let awake = cluster.nodes.iter().find(|node| ![primary.port(), replica.port()].contains(&node.port())).unwrap();
    assert_eq!(awake.cli(&["CLUSTER", "INFO"]).lines().next().unwrap().trim(), "cluster_state:fail");
    let refusals = app.metric(r#"gift_genie_redis_errors_total{kind="cluster_down"}"#).await;
    assert!(refusals.is_some_and(|count| count >= 1.0), "the refusal is counted as the cluster's: {refusals:?}");
    primary.thaw();
    replica.thaw();
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_slots_under_load_costs_no_request() {
    let cluster = RedisCluster::start(FAST_FAILOVER).await;
    let app = TestApp::spawn(&cluster.url(), &[("REDIS_MODE", "cluster")]).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let created = app.register(&user(&format!("moving{i}@example.com"))).await;
        ids.push(created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    let ids_of = |line: &str| line.split_whitespace().next().unwrap_or_default().to_owned();
    let nodes = cluster.nodes[0].cli(&["CLUSTER", "NODES"]);
    let primaries: Vec<String> = nodes.lines().filter(|line| line.contains("master")).map(ids_of).collect();
    let seed = format!("127.0.0.1:{}", cluster.nodes[0].port());
    let reshard = tokio::task::spawn_blocking(move || {
        std::process::Command::new("redis-cli")
            .args(["--cluster", "reshard", &seed, "--cluster-from", &primaries[0], "--cluster-to", &primaries[1]])
            .args(["--cluster-slots", "3000", "--cluster-yes"])
            .output()
            .expect("redis-cli runs")
    });

    let mut failures = Vec::new();
    let mut requests = 0;
    while !reshard.is_finished() {
        for id in &ids {
            let status = app.get(&format!("/api/v1/users/{id}")).await.status();
            requests += 1;
            if status != StatusCode::OK {
                failures.push(status);
            }
        }
    }
    let output = reshard.await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(requests > ids.len(), "reads ran during the migration");
    assert!(failures.is_empty(), "{} of {requests} reads failed while 3000 slots moved: {failures:?}", failures.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_accounts_stay_readable_and_keep_their_email() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let id = "5b9f2a7e-3c1d-4e8f-9a0b-1c2d3e4f5a6b";
    let mut admin = redis.admin().await.unwrap();
    redis::pipe()
        .hset_multiple(
            format!("gift-genie:user:{id}"),
            &[
                ("id", id),
                ("email", "old@example.com"),
                ("name", "Old"),
                ("password_hash", "$argon2id$x"),
                ("created_at", "2025-06-02T09:14:27Z"),
            ],
        )
        .set("gift-genie:user-email:old@example.com", id)
        .query_async::<()>(&mut admin)
        .await
        .unwrap();

    let found = app.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(found.json::<Value>().await.unwrap()["email"], "old@example.com");
    assert_eq!(app.register(&user("old@example.com")).await.status(), StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_wait_replicas_a_registration_is_answered_only_once_a_replica_has_it() {
    let primary = RedisServer::start().await;
    let replica = RedisServer::start().await;
    replica.cli(&["REPLICAOF", "127.0.0.1", &primary.port().to_string()]);
    poll_until(
        "the replica is in sync",
        Duration::from_secs(10),
        || async { primary.cli(&["INFO", "replication"]) },
        |info| info.contains("connected_slaves:1") && info.contains("state=online"),
    )
    .await;
    // Each write waits for its replica up to half an operation timeout. A healthy replica missed
    // 200 ms (the suite's 400 ms) on a busy machine, and then 500 ms while the simulation's seeds
    // held the other core: 1.5 s it is.
    let app = TestApp::spawn(
        &primary.url(),
        &[("REDIS_WAIT_REPLICAS", "1"), ("HTTP_REQUEST_TIMEOUT", "8s"), ("REDIS_OPERATION_TIMEOUT", "3s")],
    )
    .await;

    let created = app.register(&user("durable@example.com")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(replica.cli(&["HGET", "gift-genie:account:durable@example.com", "id"]).trim(), id, "the replica has it");

    replica.freeze();
    let refused = timed(app.register(&user("fragile@example.com"))).await;
    replica.thaw();
    assert_eq!(refused.value.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.elapsed < Duration::from_secs(8) + MARGIN, "within the request's deadline: {:?}", refused.elapsed);
    assert_eq!(
        primary.cli(&["EXISTS", "gift-genie:account:fragile@example.com"]).trim(),
        "0",
        "an account no replica confirmed is taken back"
    );
}
