use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{RedisServer, TestApp, user};

#[tokio::test(flavor = "multi_thread")]
async fn the_attempt_after_the_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "5"), ("RATE_LIMIT_WINDOW", "60")]).await;

    for attempt in 1..=5 {
        let response = app.register(&user(&format!("u{attempt}@example.com"))).await;
        assert_eq!(response.status(), StatusCode::CREATED, "attempt {attempt}");
        assert_eq!(response.headers()["ratelimit-policy"], "\"register\";q=5;w=60");
        assert!(
            response.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(&format!("\"register\";r={};t=", 5 - attempt)),
            "{:?}",
            response.headers()["ratelimit"]
        );
    }

    let limited = app.register(&user("u6@example.com")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(limited.headers()["ratelimit"].to_str().unwrap().starts_with("\"register\";r=0;t="));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    let mut admin = redis.admin().await.unwrap();
    let ttl: i64 =
        redis::cmd("TTL").arg("gift-genie:ratelimit:register:127.0.0.1").query_async(&mut admin).await.unwrap();
    assert!((1..=60).contains(&ttl), "the counter always expires: ttl {ttl}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_attempts_from_one_address_get_exactly_the_limit_of_answers() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "5")]).await;

    let statuses: Vec<StatusCode> = join_all((0..50).map(|i| {
        let app = &app;
        async move { app.register(&user(&format!("c{i}@example.com"))).await.status() }
    }))
    .await;

    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(50 - limited, 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "1"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let attempt = |client: &'static str, email: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", format!("198.51.100.200, {client}"))
            .json(&user(email))
            .send()
    };

    assert_eq!(attempt("203.0.113.1", "a@example.com").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(attempt("203.0.113.2", "b@example.com").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(attempt("203.0.113.1", "c@example.com").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_sharing_one_redis_share_one_limit() {
    let redis = RedisServer::start().await;
    let overrides = [("RATE_LIMIT_MAX_ATTEMPTS", "4")];
    let replicas = [TestApp::spawn(&redis.url(), &overrides).await, TestApp::spawn(&redis.url(), &overrides).await];

    let statuses: Vec<StatusCode> = join_all((0..12).map(|i| {
        let replica = &replicas[i % 2];
        async move { replica.register(&user(&format!("r{i}@example.com"))).await.status() }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s != StatusCode::TOO_MANY_REQUESTS).count(), 4, "{statuses:?}");
}
