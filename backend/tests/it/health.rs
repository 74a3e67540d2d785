use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{MARGIN, OPERATION_TIMEOUT, PROBE_INTERVAL, RedisServer, TestApp, poll_until, timed};

async fn health(app: &TestApp) -> (StatusCode, Value) {
    let response = app.get("/health").await;
    (response.status(), response.json().await.expect("health answers JSON"))
}

const CONNECTED: (StatusCode, &str) = (StatusCode::OK, "connected");
const DISCONNECTED: (StatusCode, &str) = (StatusCode::SERVICE_UNAVAILABLE, "disconnected");

fn is(expected: (StatusCode, &str)) -> impl Fn(&(StatusCode, Value)) -> bool {
    move |(status, body)| *status == expected.0 && body["redis_status"] == expected.1
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_connected_then_disconnected_then_connected_again_without_a_restart() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let (status, body) = health(&app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "healthy", "redis_status": "connected"}));

    redis.stop();
    let ((_, body), _) =
        poll_until("health turns disconnected", OPERATION_TIMEOUT + MARGIN, || health(&app), is(DISCONNECTED)).await;
    assert_eq!(body, json!({"status": "unhealthy", "redis_status": "disconnected"}));
    assert_eq!(app.get("/livez").await.status(), StatusCode::OK, "liveness never depends on redis");

    redis.restart().await;
    // The breaker's probe notices within one probe interval plus a connect.
    let recovery_bound = PROBE_INTERVAL + OPERATION_TIMEOUT + MARGIN;
    poll_until("health recovers", recovery_bound, || health(&app), is(CONNECTED)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_starts_while_redis_is_down_and_recovers_when_it_comes_up() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let app = TestApp::spawn(&redis.url(), &[]).await;

    assert!(is(DISCONNECTED)(&health(&app).await));
    assert_eq!(app.get("/livez").await.status(), StatusCode::OK);

    redis.restart().await;
    poll_until("health connects", PROBE_INTERVAL + OPERATION_TIMEOUT + MARGIN, || health(&app), is(CONNECTED)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_within_the_operation_timeout_when_redis_stops_answering() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("REDIS_BREAKER_FAILURE_THRESHOLD", "100")]).await;
    assert!(is(CONNECTED)(&health(&app).await));

    redis.freeze();
    let answer = timed(health(&app)).await;
    redis.thaw();

    assert!(is(DISCONNECTED)(&answer.value), "{:?}", answer.value);
    assert!(answer.elapsed >= OPERATION_TIMEOUT, "it waited for the timeout, not for a refusal: {:?}", answer.elapsed);
    assert!(answer.elapsed < OPERATION_TIMEOUT + MARGIN, "it answered within the timeout: {:?}", answer.elapsed);
}

#[tokio::test(flavor = "multi_thread")]
async fn once_the_breaker_opens_requests_fail_fast_and_it_closes_again_on_recovery() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("REDIS_BREAKER_FAILURE_THRESHOLD", "2")]).await;
    assert!(is(CONNECTED)(&health(&app).await));

    redis.freeze();
    for _ in 0..2 {
        assert!(is(DISCONNECTED)(&health(&app).await));
    }
    let fast = timed(health(&app)).await;
    assert!(is(DISCONNECTED)(&fast.value));
    assert!(fast.elapsed < OPERATION_TIMEOUT, "an open breaker does not pay the timeout: {:?}", fast.elapsed);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gift_genie_redis_breaker_state{shard=\"primary\",state=\"closed\"} 0"), "{metrics}");

    redis.thaw();
    poll_until("breaker closes", PROBE_INTERVAL + OPERATION_TIMEOUT + MARGIN, || health(&app), is(CONNECTED)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_stops_the_listener() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let addr = app.addr;
    assert_eq!(app.get("/livez").await.status(), StatusCode::OK);

    app.shut_down().await.expect("the server stops cleanly");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "nothing listens after shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_from_redis_password_authenticates_and_a_wrong_one_is_reported_as_disconnected() {
    let redis = RedisServer::start_with_password(Some("from-a-secret")).await;
    let good = TestApp::spawn(&redis.url(), &[("REDIS_PASSWORD", "from-a-secret")]).await;
    assert!(is(CONNECTED)(&health(&good).await));

    let wrong = TestApp::spawn(&redis.url(), &[("REDIS_PASSWORD", "not-it")]).await;
    assert!(is(DISCONNECTED)(&health(&wrong).await));
}
