use e2e::faults::kinds::*;
use e2e::{Fault, StackOptions};

use crate::support::{MARGIN, connected, disconnected, email, health, poll_until, stack};

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_turns_health_disconnected_quickly_and_recovers_without_a_restart() {
    let stack = stack(StackOptions::default()).await;
    let config = stack.config().clone();
    assert!(connected(&health(&stack).await));

    Fault::from(Partition {}).inject(&stack).await.unwrap();
    let (_, noticed) =
        poll_until("health turns disconnected", config.operation_timeout() + MARGIN, || health(&stack), disconnected)
            .await;
    stack.note(format!("health disconnected after {noticed:?}"));
    assert_eq!(stack.backend().livez().await.unwrap().status, 200, "liveness never depends on redis");
    let refused = stack.backend().register(&email("partition")).await.unwrap();
    assert_eq!(refused.status, 503, "registration fails closed: {:?}", refused.body);
    assert_eq!(refused.field("error"), "redis_unavailable");
    assert!(refused.elapsed < config.operation_timeout() + MARGIN, "{:?}", refused.elapsed);

    Fault::from(Partition {}).heal(&stack).await.unwrap();
    let (_, recovered) =
        poll_until("health reconnects", config.recovery_bound() + MARGIN, || health(&stack), connected).await;
    stack.note(format!("health connected {recovered:?} after the heal"));
    assert_eq!(stack.backend().register(&email("partition")).await.unwrap().status, 201, "registrations resume");
}
