//! Every fault kind: requests never hang while it lasts, and the service recovers once it heals.

use std::time::Duration;

use e2e::faults::kinds::*;
use e2e::{Fault, StackOptions};
use rstest::rstest;

use crate::support::{MARGIN, connected, email, health, poll_until, stack};

#[rstest]
#[case::partition(Fault::from(Partition {}))]
#[case::blackhole(Fault::from(Blackhole {}))]
#[case::ip_filter(Fault::from(IpFilter {}))]
#[case::latency_over_the_timeout(Fault::from(Latency::of(Duration::from_secs(2))))]
#[case::slow_close(Fault::from(SlowClose::of(Duration::from_millis(500))))]
#[case::bandwidth(Fault::from(Bandwidth { rate: 1 }))]
#[case::reset_peer(Fault::from(ResetPeer::of(Duration::ZERO)))]
#[case::redis_restart(Fault::from(RedisRestart {}))]
#[tokio::test(flavor = "multi_thread")]
async fn under_every_fault_requests_answer_in_bounded_time_and_the_service_recovers(#[case] fault: Fault) {
    let stack = stack(StackOptions::default().topology(fault.topology())).await;
    let config = stack.config().clone();
    assert!(connected(&health(&stack).await));

    fault.inject(&stack).await.unwrap();
    for _ in 0..3 {
        let answer = stack.backend().health().await.unwrap();
        stack.note(format!("health {} in {:?}", answer.status, answer.elapsed));
        assert!(answer.status == 200 || answer.status == 503, "{:?}", answer.body);
        assert!(answer.elapsed < config.operation_timeout() + MARGIN, "never hangs: {:?}", answer.elapsed);
        assert_eq!(stack.backend().livez().await.unwrap().status, 200);
    }

    fault.heal(&stack).await.unwrap();
    poll_until("health reconnects", config.recovery_bound() + MARGIN, || health(&stack), connected).await;
    assert_eq!(stack.backend().register(&email("recovered")).await.unwrap().status, 201);
}
