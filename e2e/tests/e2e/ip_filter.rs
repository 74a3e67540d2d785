use std::time::Duration;

use e2e::faults::kinds::*;
use e2e::{BackendConfig, Fault, StackOptions, Topology};

use crate::support::{MARGIN, connected, email, health, poll_until, stack};

#[tokio::test(flavor = "multi_thread")]
async fn an_ip_filter_makes_connects_time_out_and_the_breaker_fails_fast_until_it_is_lifted() {
    // A connect timeout shorter than the operation timeout, so that the two cannot be confused.
    let config = BackendConfig::fast()
        .with_connect_timeout(Duration::from_millis(600))
        .with_operation_timeout(Duration::from_millis(1500));
    let stack = stack(StackOptions::default().topology(Topology::Direct).backend(config.clone())).await;
    assert!(connected(&health(&stack).await));

    Fault::from(IpFilter {}).inject(&stack).await.unwrap();
    // Three failures open the breaker: the pooled connection's PING times out, then two connects do.
    for attempt in 1..=3 {
        let answer = stack.backend().health().await.unwrap();
        stack.note(format!("attempt {attempt}: {} in {:?}", answer.status, answer.elapsed));
        assert_eq!(answer.status, 503);
        assert!(
            answer.elapsed >= config.connect_timeout(),
            "attempt {attempt} waited for a timeout: {:?}",
            answer.elapsed
        );
        assert!(
            answer.elapsed < config.operation_timeout() + MARGIN,
            "attempt {attempt} never hangs: {:?}",
            answer.elapsed
        );
    }
    let metrics = stack.backend().metrics().await.unwrap();
    assert!(
        metrics.value("gift_genie_redis_timeouts_total{kind=\"connect\"}") >= 1.0,
        "new connections hit the connect timeout"
    );
    assert!(
        metrics.value("gift_genie_redis_errors_total{kind=\"connect\"}").abs() < f64::EPSILON,
        "and were never refused"
    );

    let fast = stack.backend().health().await.unwrap();
    assert_eq!(fast.status, 503);
    assert!(fast.elapsed < config.connect_timeout(), "the open breaker answers without waiting: {:?}", fast.elapsed);
    let register = stack.backend().register(&email("filtered")).await.unwrap();
    assert_eq!(register.status, 503, "{:?}", register.body);
    assert!(register.elapsed < config.connect_timeout(), "{:?}", register.elapsed);

    Fault::from(IpFilter {}).heal(&stack).await.unwrap();
    poll_until("health reconnects", config.recovery_bound() + MARGIN, || health(&stack), connected).await;
    assert_eq!(stack.backend().register(&email("filtered")).await.unwrap().status, 201);
}
