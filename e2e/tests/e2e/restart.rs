use e2e::faults::kinds::*;
use e2e::workload::Recorded;
use e2e::{Fault, StackOptions};

use crate::support::{MARGIN, connected, disconnected, email, health, poll_until, stack, valid};

#[tokio::test(flavor = "multi_thread")]
async fn after_a_redis_restart_the_backend_recovers_and_every_acknowledged_registration_survives() {
    let stack = stack(StackOptions::default()).await;
    let config = stack.config().clone();
    let client = Recorded::new(stack.backend());
    let mut ids = Vec::new();
    for _ in 0..5 {
        let created = client.register(0, &email("durable"), None).await.unwrap();
        assert_eq!(created.status, 201);
        ids.push(created.field("id").as_str().unwrap().to_owned());
    }

    Fault::from(RedisRestart {}).inject(&stack).await.unwrap();
    poll_until("health turns disconnected", config.operation_timeout() + MARGIN, || health(&stack), disconnected).await;
    Fault::from(RedisRestart {}).heal(&stack).await.unwrap();
    poll_until("health reconnects", config.recovery_bound() + MARGIN, || health(&stack), connected).await;

    for id in &ids {
        client.read(1, id).await.unwrap();
    }
    let analysis = valid(&client.finish(Some(&stack)).await.unwrap(), 0);
    assert_eq!(analysis.counts.acknowledged, 5, "{analysis}");
}
