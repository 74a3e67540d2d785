//! Redis errors that are outages in disguise, and the ones that are not: a primary turned replica,
//! a restart under the pool's feet, a connection past its lifetime, a stalled read against the
//! request's deadline, and a command Redis refuses for our own fault.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tracing_test::traced_test;

use crate::support::{MARGIN, OPERATION_TIMEOUT, PROBE_INTERVAL, RedisServer, TestApp, poll_until, timed, user};

async fn replica_of(redis: &RedisServer, primary: Option<&RedisServer>) {
    let mut admin = redis.admin().await.unwrap();
    let mut command = redis::cmd("REPLICAOF");
    match primary {
        Some(primary) => command.arg("127.0.0.1").arg(primary.port()),
        None => command.arg("NO").arg("ONE"),
    };
    command.query_async::<()>(&mut admin).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_turned_replica_is_an_outage_until_it_is_primary_again() {
    let redis = RedisServer::start().await;
    let new_primary = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("REDIS_BREAKER_FAILURE_THRESHOLD", "3")]).await;
    assert_eq!(app.register(&user("before@example.com")).await.status(), StatusCode::CREATED);

    // A failover elsewhere: the endpoint the backend uses now belongs to a replica.
    replica_of(&redis, Some(&new_primary)).await;
    let health = || async { app.get("/health").await.status() };
    poll_until("health sees a replica", OPERATION_TIMEOUT + MARGIN, health, |s| *s == StatusCode::SERVICE_UNAVAILABLE)
        .await;
    for i in 0..3 {
        let refused = app.register(&user(&format!("during{i}@example.com"))).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], "redis_unavailable");
    }
    let text = app.metrics().await;
    assert_eq!(
        crate::support::metric(&text, "gift_genie_redis_breaker_state{shard=\"primary\",state=\"closed\"}"),
        Some(0.0),
        "{text}"
    );
    let discarded =
        crate::support::metric(&text, "gift_genie_redis_connections_discarded_total{reason=\"not_primary\"}");
    assert!(discarded.is_some_and(|n| n >= 1.0), "a replica's connection is not reused: {text}");

    replica_of(&redis, None).await;
    let recovery = PROBE_INTERVAL + OPERATION_TIMEOUT + MARGIN;
    poll_until("health sees a primary again", recovery, health, |s| *s == StatusCode::OK).await;
    assert_eq!(app.register(&user("after@example.com")).await.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_right_after_a_redis_restart_succeeds() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    assert_eq!(app.register(&user("before@example.com")).await.status(), StatusCode::CREATED);

    redis.stop();
    redis.restart().await;
    // The pool's connections died with the old process; none of them is worth a 503.
    assert_eq!(app.register(&user("after@example.com")).await.status(), StatusCode::CREATED);
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_older_than_their_maximum_lifetime_are_replaced() {
    let redis = RedisServer::start().await;
    let lifetime = Duration::from_millis(300);
    let app = TestApp::spawn(&redis.url(), &[("REDIS_CONNECTION_MAX_LIFETIME", "300ms")]).await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);

    let replaced = "gift_genie_redis_connections_discarded_total{reason=\"lifetime\"}";
    poll_until(
        "a connection reaches its lifetime",
        lifetime + MARGIN,
        || async {
            assert_eq!(app.get("/health").await.status(), StatusCode::OK, "replacing costs no request");
            app.metric(replaced).await
        },
        |discarded| discarded.is_some_and(|n| n >= 1.0),
    )
    .await;
    let opened = app.metric("gift_genie_redis_connections_opened_total").await;
    assert!(opened.is_some_and(|n| n >= 2.0), "{opened:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_with_retries_ends_by_the_request_deadline_and_names_redis() {
    let redis = RedisServer::start().await;
    let request_timeout = Duration::from_secs(1);
    // Three attempts of 400 ms would outlast the request's second.
    let app = TestApp::spawn(
        &redis.url(),
        &[
            ("HTTP_REQUEST_TIMEOUT", "1s"),
            ("REDIS_RETRY_MAX_ATTEMPTS", "3"),
            ("REDIS_BREAKER_FAILURE_THRESHOLD", "100"),
        ],
    )
    .await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);

    redis.freeze();
    let answer = timed(app.get("/api/v1/users/4f7c3c2e-1d5a-4d43-9d52-7f0e9a7e2b10")).await;
    redis.thaw();
    assert!(answer.elapsed < request_timeout + MARGIN, "{:?}", answer.elapsed);
    assert_eq!(answer.value.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answer.value.json().await.unwrap();
    assert_eq!(body["error"], "redis_unavailable", "the Redis call gave up by the deadline: {body}");
}

/// These tests run on the current-thread runtime so that `traced_test` sees the server's lines.
#[tokio::test]
#[traced_test]
async fn a_command_redis_refuses_is_a_500_with_an_error_id_and_leaves_the_breaker_closed() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("REDIS_BREAKER_FAILURE_THRESHOLD", "2")]).await;
    // Our key, holding the wrong type: the rate limit's script fails with WRONGTYPE.
    let mut admin = redis.admin().await.unwrap();
    redis::cmd("SET")
        .arg("gift-genie:attempts:register:127.0.0.1")
        .arg("a string")
        .query_async::<()>(&mut admin)
        .await
        .unwrap();

    let mut ids = Vec::new();
    for i in 0..4 {
        let response = app.register(&user(&format!("wrongtype{i}@example.com"))).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "internal_error", "{body}");
        assert!(!body["message"].as_str().unwrap().contains("WRONGTYPE"), "causes stay in the logs: {body}");
        ids.push(body["error_id"].as_str().expect("an error id to quote").to_owned());
    }
    assert_eq!(app.get("/health").await.status(), StatusCode::OK, "a bug is not an outage");
    let closed = app.metric("gift_genie_redis_breaker_state{shard=\"primary\",state=\"closed\"}").await;
    assert_eq!(closed, Some(1.0));
    for id in &ids {
        assert!(logs_contain(id), "the error id {id} is in the log line with its cause");
    }
    assert!(logs_contain("WRONGTYPE"));
}
