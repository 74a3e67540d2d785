use std::time::Duration;

use e2e::faults::kinds::*;
use e2e::{Fault, StackOptions};
use futures_util::future::join_all;

use crate::support::{MARGIN, stack};

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_requests_never_open_more_than_fifty_connections() {
    let stack = stack(StackOptions::default()).await;
    let config = stack.config().clone();
    // Slow replies keep connections busy, so that the load really needs the whole pool.
    Fault::from(Latency::of(Duration::from_millis(100))).inject(&stack).await.unwrap();

    let load = join_all((0..200).map(|_| stack.backend().health()));
    let sampler = async {
        let mut most = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline {
            most = most.max(stack.redis_clients().await.unwrap().len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        most
    };
    let (answers, most) = tokio::join!(load, sampler);
    stack.note(format!("redis saw at most {most} connections"));

    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    assert!(
        answers.iter().all(|answer| answer.status == 200),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let slowest = answers.iter().map(|answer| answer.elapsed).max().unwrap();
    assert!(
        slowest < config.pool_wait_timeout() + config.operation_timeout() + MARGIN,
        "no request waited past the bound: {slowest:?}"
    );
    assert!(most <= 50, "redis saw {most} connections from a pool of 50");
    assert!(most > 10, "the load used the pool concurrently: {most}");
    let metrics = stack.backend().metrics().await.unwrap();
    assert!(metrics.value("gift_genie_redis_pool_connections") <= 50.0);
}
