use e2e::StackOptions;

use crate::support::{email, stack};

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_redis_enforce_one_global_rate_limit() {
    let stack = stack(StackOptions::default().replicas(2)).await;
    let mut statuses = Vec::new();
    for attempt in 0..12 {
        let replica = &stack.backends()[attempt % 2].client;
        statuses.push(replica.register(&email("replica")).await.unwrap().status);
    }
    assert_eq!(statuses.iter().filter(|status| **status != 429).count(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|status| *status == 201 || *status == 429), "{statuses:?}");
}
