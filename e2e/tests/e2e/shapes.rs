//! Redis beyond one node: a high-availability pair that fails over, and a cluster that loses a
//! primary, has one shard cut off, or moves slots under load. Bounds come from the backend's
//! settings and the cluster's node timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::faults::kinds::*;
use e2e::redis::CLUSTER_NODE_TIMEOUT;
use e2e::workload::Recorded;
use e2e::{BackendConfig, Fault, Stack, StackOptions, Topology};
use futures_util::future::join_all;
use rstest::rstest;
use serde_json::json;

use crate::support::{MARGIN, email, poll_until, stack, valid};

fn options(topology: Topology) -> StackOptions {
    StackOptions::default().topology(topology).backend(BackendConfig::fast().set("RATE_LIMIT_MAX_ATTEMPTS", "1000000"))
}

/// Registers `count` users and gives their ids.
async fn registered(stack: &Stack, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let created = stack.backend().register(&email("shape")).await.unwrap();
        assert_eq!(created.status, 201, "{:?}", created.body);
        ids.push(created.field("id").as_str().unwrap().to_owned());
    }
    ids
}

async fn all_readable(stack: &Stack, ids: &[String]) -> bool {
    for id in ids {
        if stack.backend().user(id).await.map(|answer| answer.status).unwrap_or_default() != 200 {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_failover_registrations_and_reads_work_within_the_recovery_bound() {
    let stack = stack(options(Topology::Ha)).await;
    let config = stack.config().clone();
    let before = registered(&stack, 5).await;

    Fault::from(Failover {}).inject(&stack).await.unwrap();
    let bound = config.recovery_bound() + config.operation_timeout() + MARGIN;
    let (_, took) = poll_until(
        "registrations succeed on the new primary",
        bound,
        || async { stack.backend().register(&email("after")).await.map(|answer| answer.status).unwrap_or_default() },
        |status| *status == 201,
    )
    .await;
    stack.note(format!("registrations back {took:?} after the failover"));
    assert!(all_readable(&stack, &before).await, "accounts written before the failover were replicated");
    assert_eq!(stack.redis().pair().unwrap().primary().name, "redis-b");

    Fault::from(Failover {}).heal(&stack).await.unwrap();
    poll_until("and back after failing back", bound, || all_readable(&stack, &before), |ok| *ok).await;
    stack.check_containers().await.unwrap();
}

/// Registers from four clients until `stop`, each registration and its answer in the history.
async fn register_until(client: &Recorded, stop: Arc<AtomicBool>) {
    let workers = (0..4).map(|process| {
        let stop = Arc::clone(&stop);
        async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = client.register(process, &email("durable"), None).await;
            }
        }
    });
    join_all(workers).await;
}

#[rstest]
#[case::without_waiting_for_a_replica("0")]
#[case::waiting_for_one_replica("1")]
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_registrations_lost_across_a_failover(#[case] wait_replicas: &str) {
    let backend =
        BackendConfig::fast().set("RATE_LIMIT_MAX_ATTEMPTS", "1000000").set("REDIS_WAIT_REPLICAS", wait_replicas);
    let stack = stack(StackOptions::default().topology(Topology::Ha).backend(backend)).await;
    let config = stack.config().clone();
    let client = Recorded::new(stack.backend());
    let stop = Arc::new(AtomicBool::new(false));
    let failover = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Fault::from(Failover {}).inject(&stack).await.unwrap();
        tokio::time::sleep(config.recovery_bound()).await;
        stop.store(true, Ordering::Relaxed);
    };
    tokio::join!(register_until(&client, Arc::clone(&stop)), failover);

    // The final reads ask the new primary, as an administrator, for every email registered.
    let ops = client.finish(Some(&stack)).await.unwrap();
    let analysis = history::check(&ops, history::Options { lost_allowed: u64::MAX });
    let report = format!(
        "REDIS_WAIT_REPLICAS={wait_replicas}: {} of {} acknowledged registrations lost across the failover",
        analysis.counts.lost, analysis.counts.acknowledged
    );
    println!("{report}");
    stack.note(report);
    assert!(analysis.counts.acknowledged > 0, "registrations were acknowledged around the failover");
    // Without WAIT a loss is the asynchronous replication's, accepted and counted; nothing else
    // may show. With WAIT a 201 waited for the replica, so nothing may be lost at all.
    let lost_allowed = if wait_replicas == "0" { u64::MAX } else { 0 };
    valid(&ops, lost_allowed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_primary_is_ridden_out_once_the_cluster_promotes_its_replica() {
    let stack = stack(options(Topology::Cluster)).await;
    let config = stack.config().clone();
    let before = registered(&stack, 10).await;

    Fault::from(PrimaryLoss {}).inject(&stack).await.unwrap();
    // The cluster waits its node timeout, elects the replica; the backend's probe and its shard
    // map follow within a probe, a connect and an attempt.
    let bound = CLUSTER_NODE_TIMEOUT * 3 + config.recovery_bound() + MARGIN;
    let ((status, _), took) = poll_until(
        "every shard has a primary again",
        bound,
        || crate::support::health(&stack),
        |health| health.0 == 200,
    )
    .await;
    stack.note(format!("health {status} {took:?} after the primary was lost"));
    assert!(all_readable(&stack, &before).await, "every account is read from its shard's new primary");

    // The dead node stays in old maps and in the seeds; nothing may wait for it any more.
    let unhindered = config.operation_timeout().min(config.connect_timeout()) / 2;
    for _ in 0..5 {
        let health = stack.backend().health().await.unwrap();
        assert_eq!(health.status, 200, "{:?}", health.body);
        assert!(health.elapsed < unhindered, "/health took {:?}, as if waiting on the dead node", health.elapsed);
        let read = stack.backend().user(&before[0]).await.unwrap();
        assert!(read.elapsed < unhindered, "a read took {:?}, as if waiting on the dead node", read.elapsed);
    }

    Fault::from(PrimaryLoss {}).heal(&stack).await.unwrap();
    stack.check_containers().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_shard_is_reported_degraded_and_the_other_shards_keep_answering() {
    let stack = stack(options(Topology::Cluster)).await;
    let config = stack.config().clone();
    let ids = registered(&stack, 20).await;
    Fault::from(ShardFilter {}).prepare(&stack).await.unwrap();

    Fault::from(ShardFilter {}).inject(&stack).await.unwrap();
    let health = stack.backend().health().await.unwrap();
    assert_eq!(health.status, 503);
    assert_eq!(health.field("redis_status"), "degraded", "{:?}", health.body);
    assert_eq!(health.field("shards"), &json!({"total": 3, "unavailable": 1}));
    assert!(health.elapsed < config.operation_timeout() + MARGIN, "{:?}", health.elapsed);
    // Three failures open the shard's breaker (`fast` sets the threshold); the next checks then
    // answer without waiting on the silent node, and the map is read from the nodes that answer.
    for _ in 0..2 {
        stack.backend().health().await.unwrap();
    }
    let fast = stack.backend().health().await.unwrap();
    assert_eq!(fast.field("shards"), &json!({"total": 3, "unavailable": 1}));
    let unhindered = config.operation_timeout().min(config.connect_timeout()) / 2;
    assert!(fast.elapsed < unhindered, "with the breaker open, /health took {:?}", fast.elapsed);

    let mut answered = 0;
    for id in &ids {
        if stack.backend().user(id).await.unwrap().status == 200 {
            answered += 1;
        }
    }
    assert!(
        answered > 0 && answered < ids.len(),
        "some accounts live on the other shards: {answered} of {}",
        ids.len()
    );

    Fault::from(ShardFilter {}).heal(&stack).await.unwrap();
    poll_until(
        "every account answers again",
        config.recovery_bound() + MARGIN,
        || all_readable(&stack, &ids),
        |ok| *ok,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_slots_under_load_costs_no_request() {
    let stack = stack(options(Topology::Cluster)).await;
    let ids = registered(&stack, 20).await;
    let moving = Arc::new(AtomicBool::new(true));
    let reads = {
        let moving = Arc::clone(&moving);
        let stack = &stack;
        let ids = &ids;
        async move {
            let mut failures = Vec::new();
            let mut reads = 0;
            while moving.load(Ordering::Relaxed) {
                for id in ids {
                    reads += 1;
                    let status = stack.backend().user(id).await.map(|answer| answer.status).unwrap_or_default();
                    if status != 200 {
                        failures.push(status);
                    }
                }
            }
            (reads, failures)
        }
    };
    let reshard = async {
        Fault::from(Reshard { slots: 2000 }).inject(&stack).await.unwrap();
        moving.store(false, Ordering::Relaxed);
    };
    let ((reads, failures), ()) = tokio::join!(reads, reshard);
    assert!(reads > ids.len(), "reads ran while the slots moved");
    assert!(failures.is_empty(), "{} of {reads} reads failed while 2000 slots moved: {failures:?}", failures.len());
    Fault::from(Reshard { slots: 2000 }).heal(&stack).await.unwrap();
    assert!(all_readable(&stack, &ids).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_requests_never_open_more_than_the_pool_cap_per_node() {
    let cap = 5;
    let backend =
        BackendConfig::fast().set("RATE_LIMIT_MAX_ATTEMPTS", "1000000").set("REDIS_POOL_MAX_SIZE", cap.to_string());
    let stack = stack(StackOptions::default().topology(Topology::Cluster).backend(backend)).await;
    let ids = registered(&stack, 10).await;
    let statuses = join_all((0..200).map(|i| {
        let stack = &stack;
        let id = &ids[i % ids.len()];
        async move { stack.backend().user(id).await.map(|answer| answer.status).unwrap_or_default() }
    }))
    .await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");

    let backend_address = stack.backends()[0].address.to_string();
    for node in stack.redis_nodes() {
        let clients = e2e::redis::ClientInfo::parse_list(&node.cli(&["CLIENT", "LIST"]).await.unwrap());
        let from_backend = clients.iter().filter(|client| client.ip() == backend_address).count();
        assert!(
            from_backend <= cap,
            "{} has {from_backend} connections from the backend, over the cap of {cap}",
            node.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_is_exact_across_two_backends_on_a_cluster() {
    let backend = BackendConfig::fast().set("RATE_LIMIT_MAX_ATTEMPTS", "5");
    let stack = stack(StackOptions::default().topology(Topology::Cluster).backend(backend).replicas(2)).await;
    let statuses = join_all((0..30).map(|i| {
        let backend = &stack.backends()[i % 2].client;
        async move { backend.register(&email("limited")).await.unwrap().status }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|status| **status != 429).count(), 5, "{statuses:?}");
}
