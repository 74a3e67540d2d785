//! Password hashing under bursts: the number of hashes running at once holds even when clients
//! hang up, and a registration that cannot get a hashing worker in time is told to come back.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::support::{MARGIN, RedisServer, TestApp, poll_until, user};

const IN_PROGRESS: &str = "gift_genie_password_hashes_in_progress";

/// Sends a whole registration over a raw connection, then hangs up without reading the answer.
async fn register_and_hang_up(app: &TestApp, email: &str, after: Duration) {
    let body = user(email).to_string();
    let request = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(after).await;
    drop(stream);
}

#[tokio::test(flavor = "multi_thread")]
async fn hashes_whose_clients_hung_up_keep_their_worker_until_they_finish() {
    let redis = RedisServer::start().await;
    let app =
        TestApp::spawn(&redis.url(), &[("PASSWORD_HASH_WORKERS", "1"), ("PASSWORD_HASH_QUEUE_TIMEOUT", "5s")]).await;

    let mut seen = Vec::new();
    for i in 0..6 {
        register_and_hang_up(&app, &format!("gone{i}@example.com"), Duration::from_millis(10)).await;
        seen.push(app.metric(IN_PROGRESS).await);
    }
    assert!(seen.iter().all(|value| value.is_some_and(|v| v <= 1.0)), "never more hashes than workers: {seen:?}");
    // Each client hung up while its hash ran; the hash still holds the worker until it ends.
    assert!(seen.contains(&Some(1.0)), "a hash outlives its hung-up client: {seen:?}");
    poll_until("every hash ends", MARGIN, || app.metric(IN_PROGRESS), |value| *value == Some(0.0)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_that_waits_too_long_for_a_hashing_worker_gets_503_with_retry_after() {
    let redis = RedisServer::start().await;
    let app =
        TestApp::spawn(&redis.url(), &[("PASSWORD_HASH_WORKERS", "1"), ("PASSWORD_HASH_QUEUE_TIMEOUT", "1ms")]).await;

    let answers = join_all((0..8).map(|i| {
        let app = &app;
        async move {
            let response = app.register(&user(&format!("burst{i}@example.com"))).await;
            let retry_after = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned());
            (response.status(), retry_after, response.json::<Value>().await.unwrap())
        }
    }))
    .await;

    let busy: Vec<_> = answers.iter().filter(|(status, ..)| *status == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!busy.is_empty(), "one worker cannot take eight hashes within 1 ms: {answers:?}");
    assert!(answers.iter().any(|(status, ..)| *status == StatusCode::CREATED), "{answers:?}");
    for (_, retry_after, body) in busy {
        assert_eq!(body["error"], "server_busy", "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
    }
    let rejected = app.metric("gift_genie_password_hash_rejected_total").await;
    assert!(rejected.is_some_and(|n| n >= 1.0), "{rejected:?}");
}
