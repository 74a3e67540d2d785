use e2e::StackOptions;
use e2e::workload::Recorded;

use crate::support::{email, stack, valid};

/// Two replicas share one Redis, so one client's budget is one, whichever replica it reaches: the
/// history shows exactly the limit allowed in the window, and never more.
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_redis_enforce_one_global_rate_limit() {
    let stack = stack(StackOptions::default().replicas(2)).await;
    let backends: Vec<_> = stack.backends().iter().map(|backend| backend.client.clone()).collect();
    // The backends trust no proxy: every request counts against the stack's gateway, one client.
    let client = Recorded::across(&backends).seen_as("the stack's gateway");
    let mut statuses = Vec::new();
    for attempt in 0..12 {
        statuses.push(client.register(attempt, &email("replica"), None).await.unwrap().status);
    }
    let analysis = valid(&client.finish(Some(&stack)).await.unwrap(), 0);
    assert_eq!((analysis.counts.allowed, analysis.counts.refused), (5, 7), "{statuses:?}\n{analysis}");
}
