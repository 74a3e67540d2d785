use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::support::{MARGIN, RedisServer, TestApp, timed};

async fn connected_clients(redis: &RedisServer) -> usize {
    let mut admin = redis.admin().await.unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut admin).await.unwrap();
    // Our own admin connection is in the list too.
    list.lines().count() - 1
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_requests_never_open_more_connections_than_the_pool_allows() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("REDIS_POOL_MAX_SIZE", "8"), ("REDIS_POOL_WAIT_TIMEOUT", "5s")]).await;

    let sampler = async {
        let mut most = 0;
        for _ in 0..20 {
            most = most.max(connected_clients(&redis).await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        most
    };
    let load = join_all((0..200).map(|_| async { app.get("/health").await.status() }));
    let (most, statuses) = tokio::join!(sampler, load);

    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    assert!(most <= 8, "redis saw {most} connections from a pool of 8");
    assert!(connected_clients(&redis).await <= 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saturated_pool_answers_503_after_the_wait_bound_instead_of_queueing_forever() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(
        &redis.url(),
        &[
            ("REDIS_POOL_MAX_SIZE", "1"),
            ("REDIS_POOL_WAIT_TIMEOUT", "50ms"),
            // Long enough that the frozen call holds the only connection while all the others wait.
            ("REDIS_OPERATION_TIMEOUT", "3s"),
            ("REDIS_BREAKER_FAILURE_THRESHOLD", "100"),
        ],
    )
    .await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);

    redis.freeze();
    let answers = join_all((0..5).map(|_| timed(async { app.get("/health").await.status() }))).await;
    redis.thaw();
    assert!(answers.iter().all(|a| a.value == StatusCode::SERVICE_UNAVAILABLE));
    let quick = answers.iter().filter(|a| a.elapsed < Duration::from_millis(50) + MARGIN).count();
    assert!(
        quick >= 4,
        "the waiters gave up after the wait bound: {:?}",
        answers.iter().map(|a| a.elapsed).collect::<Vec<_>>()
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gift_genie_redis_errors_total{kind=\"pool_exhausted\"} 4"), "{metrics}");
}
