use e2e::faults::kinds::*;
use e2e::{BackendConfig, Fault, StackOptions};

use crate::support::{MARGIN, connected, health, poll_until, stack};

#[tokio::test(flavor = "multi_thread")]
async fn with_the_seed_defaults_a_blackhole_costs_one_five_second_timeout_not_fifteen() {
    let stack = stack(StackOptions::default().backend(BackendConfig::seed_defaults())).await;
    let config = stack.config().clone();
    assert_eq!(config.operation_timeout().as_secs(), 5);
    assert!(connected(&health(&stack).await));

    Fault::from(Blackhole {}).inject(&stack).await.unwrap();
    let answer = stack.backend().health().await.unwrap();
    stack.note(format!("health {} in {:?}", answer.status, answer.elapsed));
    assert_eq!(answer.status, 503);
    assert!(answer.elapsed >= config.operation_timeout(), "{:?}", answer.elapsed);
    // The Python original held each call for 10-15 s under the same fault.
    assert!(answer.elapsed < config.operation_timeout() + MARGIN, "{:?}", answer.elapsed);

    Fault::from(Blackhole {}).heal(&stack).await.unwrap();
    poll_until("health reconnects", config.recovery_bound() + MARGIN, || health(&stack), connected).await;
}
