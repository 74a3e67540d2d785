use reqwest::StatusCode;
use serde_json::json;

use crate::support::{CapturedLogs, RedisServer, TestApp, user};

#[tokio::test]
async fn passwords_never_reach_the_logs_even_at_trace_level() {
    let (logs, _guard) = CapturedLogs::start();
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let created =
        app.register(&json!({"email": "log@example.com", "password": "Tr0ub4dor-and-3", "name": "Log"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let duplicate =
        app.register(&json!({"email": "log@example.com", "password": "Tr0ub4dor-and-3", "name": "Log"})).await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    // A password pasted into the wrong field must not be echoed either.
    let misplaced = app.register(&json!({"email": "Tr0ub4dor-and-3", "password": "x", "name": "Log"})).await;
    assert_eq!(misplaced.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!misplaced.text().await.unwrap().contains("Tr0ub4dor"));

    let text = logs.text();
    assert!(text.contains("user registered"), "the capture works: {text}");
    assert!(!text.contains("Tr0ub4dor"), "{text}");
}

#[tokio::test]
async fn an_unreachable_redis_is_logged_at_error_level_with_its_cause() {
    let (logs, _guard) = CapturedLogs::start();
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    redis.stop();

    assert_eq!(app.get("/health").await.status(), StatusCode::SERVICE_UNAVAILABLE);

    let text = logs.text();
    let line = text
        .lines()
        .find(|line| line.contains("health check: redis is unreachable"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("could not connect to redis"), "the cause is named: {line}");
}

#[tokio::test]
async fn every_request_gets_a_request_id_in_its_response_and_its_log_lines() {
    let (logs, _guard) = CapturedLogs::start();
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let response = app.register(&user("id@example.com")).await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");

    let text = logs.text();
    let line = text.lines().find(|line| line.contains("user registered")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&format!("request_id={request_id}")), "{line}");

    let echoed = app.client.get(app.url("/livez")).header("x-request-id", "caller-chosen-id").send().await.unwrap();
    assert_eq!(
        echoed.headers()["x-request-id"],
        "caller-chosen-id",
        "a caller's id is kept, for tracing across services"
    );
}
