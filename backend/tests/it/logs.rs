//! What the backend logs, as an operator reads it.
//!
//! `traced_test` installs one process-wide subscriber and enters a span named after the test.
//! These tests run on tokio's current-thread runtime, so the server's tasks run on the test's
//! thread, inside that span, and `logs_assert` sees their lines and no other test's.

use reqwest::StatusCode;
use serde_json::json;
use tracing_test::traced_test;

use crate::support::{RedisServer, TestApp, user};

#[tokio::test]
#[traced_test]
async fn passwords_never_reach_the_logs_even_at_trace_level() {
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

    logs_assert(|lines| {
        if !lines.iter().any(|line| line.contains("user registered")) {
            return Err(format!("the capture works, so `user registered` is in it: {lines:#?}"));
        }
        match lines.iter().find(|line| line.contains("Tr0ub4dor")) {
            Some(line) => Err(format!("a password was logged: {line}")),
            None => Ok(()),
        }
    });
}

#[tokio::test]
#[traced_test]
async fn an_unreachable_redis_is_logged_at_error_level_with_its_cause() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    redis.stop();

    assert_eq!(app.get("/health").await.status(), StatusCode::SERVICE_UNAVAILABLE);

    logs_assert(|lines| {
        let line = lines
            .iter()
            .find(|line| line.contains("health check: redis is not available"))
            .ok_or_else(|| format!("no health check line in {lines:#?}"))?;
        if !line.contains("ERROR") {
            return Err(format!("logged below error level: {line}"));
        }
        if !line.contains("could not connect to redis") {
            return Err(format!("the cause is not named: {line}"));
        }
        Ok(())
    });
}

#[tokio::test]
#[traced_test]
async fn every_request_gets_a_request_id_in_its_response_and_its_log_lines() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let response = app.register(&user("id@example.com")).await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");

    logs_assert(|lines| {
        let line = lines
            .iter()
            .find(|line| line.contains("user registered"))
            .ok_or_else(|| format!("no `user registered` line in {lines:#?}"))?;
        if line.contains(&format!("request_id={request_id}")) {
            Ok(())
        } else {
            Err(format!("the line lacks request_id={request_id}: {line}"))
        }
    });

    let echoed = app.client.get(app.url("/livez")).header("x-request-id", "caller-chosen-id").send().await.unwrap();
    assert_eq!(
        echoed.headers()["x-request-id"],
        "caller-chosen-id",
        "a caller's id is kept, for tracing across services"
    );
}
