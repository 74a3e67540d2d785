use std::time::Duration;

use e2e::faults::kinds::*;
use e2e::{Fault, StackOptions};

use crate::support::{MARGIN, connected, email, health, poll_until, stack};

#[tokio::test(flavor = "multi_thread")]
async fn latency_under_the_timeout_slows_answers_but_causes_no_errors() {
    let stack = stack(StackOptions::default()).await;
    let latency = stack.config().operation_timeout() / 4;
    Fault::from(Latency::of(latency)).inject(&stack).await.unwrap();

    for _ in 0..3 {
        let answer = stack.backend().health().await.unwrap();
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert!(answer.elapsed >= latency, "{:?}", answer.elapsed);
    }
    assert_eq!(stack.backend().register(&email("slow")).await.unwrap().status, 201);
    let metrics = stack.backend().metrics().await.unwrap();
    assert!(metrics.value("gift_genie_redis_timeouts_total{kind=\"command\"}").abs() < f64::EPSILON);
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_over_the_timeout_gives_bounded_503s_then_recovers() {
    let stack = stack(StackOptions::default()).await;
    let config = stack.config().clone();
    let latency = config.operation_timeout() * 2;
    Fault::from(Latency::of(latency)).inject(&stack).await.unwrap();

    for _ in 0..2 {
        let answer = stack.backend().health().await.unwrap();
        assert_eq!(answer.status, 503);
        assert!(answer.elapsed < config.operation_timeout() + MARGIN, "{:?}", answer.elapsed);
    }

    Fault::from(Latency::of(latency)).heal(&stack).await.unwrap();
    poll_until(
        "health reconnects",
        config.recovery_bound() + MARGIN + Duration::from_secs(1),
        || health(&stack),
        connected,
    )
    .await;
}
