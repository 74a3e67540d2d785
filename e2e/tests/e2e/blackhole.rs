use std::collections::HashSet;
use std::time::Duration;

use e2e::faults::kinds::*;
use e2e::{Fault, StackOptions};

use crate::support::{MARGIN, connected, email, health, poll_until, stack};

#[tokio::test(flavor = "multi_thread")]
async fn in_a_blackhole_the_operation_timeout_fires_and_dead_connections_are_replaced() {
    let stack = stack(StackOptions::default()).await;
    let config = stack.config().clone();
    assert!(connected(&health(&stack).await));
    let before: HashSet<u64> = stack.redis_clients().await.unwrap().into_iter().map(|client| client.id).collect();
    assert!(!before.is_empty(), "the pool holds a connection");

    Fault::from(Blackhole {}).inject(&stack).await.unwrap();
    let answer = stack.backend().health().await.unwrap();
    stack.note(format!("health {} in {:?}", answer.status, answer.elapsed));
    assert_eq!(answer.status, 503);
    assert!(answer.elapsed >= config.operation_timeout(), "it waited for the operation timeout: {:?}", answer.elapsed);
    assert!(answer.elapsed < config.operation_timeout() + MARGIN, "and no longer: {:?}", answer.elapsed);

    Fault::from(Blackhole {}).heal(&stack).await.unwrap();
    poll_until("health reconnects", config.recovery_bound() + MARGIN, || health(&stack), connected).await;
    let metrics = stack.backend().metrics().await.unwrap();
    assert!(metrics.value("gift_genie_redis_connections_discarded_total{reason=\"timeout\"}") >= 1.0);
    let after: HashSet<u64> = stack.redis_clients().await.unwrap().into_iter().map(|client| client.id).collect();
    assert!(!after.is_empty());
    assert!(before.is_disjoint(&after), "the blackholed connections were replaced: before {before:?}, after {after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_on_timeout_rides_out_a_blackhole_shorter_than_the_retry_budget() {
    let stack = stack(StackOptions::default()).await;
    let config = stack.config().clone();
    let created = stack.backend().register(&email("retry")).await.unwrap();
    assert_eq!(created.status, 201);
    let id = created.field("id").as_str().unwrap().to_owned();

    Fault::from(Blackhole {}).inject(&stack).await.unwrap();
    let backend = stack.backend().clone();
    let read = tokio::spawn(async move { backend.user(&id).await });
    // Shorter than the budget of three attempts: the first attempt times out, the second is cut
    // short by the heal, the third succeeds on a fresh connection.
    tokio::time::sleep(config.operation_timeout() + Duration::from_millis(500)).await;
    Fault::from(Blackhole {}).heal(&stack).await.unwrap();
    let answer = read.await.unwrap().unwrap();
    stack.note(format!("read {} in {:?}", answer.status, answer.elapsed));

    assert_eq!(answer.status, 200, "an idempotent read sees no error: {:?}", answer.body);
    assert_eq!(answer.body, created.body);
    assert!(answer.elapsed < config.operation_timeout() * 3 + MARGIN, "{:?}", answer.elapsed);
    let metrics = stack.backend().metrics().await.unwrap();
    assert!(metrics.value("gift_genie_redis_retries_total{operation=\"find_user\"}") >= 1.0);
}
