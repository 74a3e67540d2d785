//! The HTTP server against clients that do not play along: half-sent heads, idle keep-alive
//! connections, more connections than the cap, and a shutdown they would hold forever.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use testkit::raw_http::{HALF_A_HEAD, closed_within};

use crate::support::{MARGIN, RedisServer, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_sigtermed_server_exits_within_the_shutdown_timeout_whatever_a_half_sent_request_does() {
    let redis = RedisServer::start().await;
    let shutdown_timeout = Duration::from_secs(1);
    let app = TestApp::spawn(
        &redis.url(),
        &[
            ("SHUTDOWN_TIMEOUT", "1s"),
            ("HTTP_HEADER_READ_TIMEOUT", "1h"),
            ("HTTP_REQUEST_TIMEOUT", "1h"),
            ("HTTP_IDLE_TIMEOUT", "1h"),
        ],
    )
    .await;
    let mut half_head = TcpStream::connect(app.addr).await.unwrap();
    half_head.write_all(HALF_A_HEAD).await.unwrap();
    // And one whose head is in but whose body never comes, so that its handler waits.
    let mut half_body = TcpStream::connect(app.addr).await.unwrap();
    half_body
        .write_all(b"POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let stopped = tokio::time::timeout(shutdown_timeout + MARGIN, app.shut_down()).await;
    assert!(stopped.is_ok(), "the server was still running {:?} after the shutdown began", started.elapsed());
    assert!(started.elapsed() >= shutdown_timeout, "it gave requests in flight their time: {:?}", started.elapsed());
    assert!(closed_within(&mut half_head, MARGIN).await.is_some(), "the half-sent request's connection is closed");
    assert!(closed_within(&mut half_body, MARGIN).await.is_some(), "and so is the one waiting for its body");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_not_complete_within_the_header_read_timeout_loses_its_connection() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("HTTP_HEADER_READ_TIMEOUT", "300ms"), ("HTTP_IDLE_TIMEOUT", "1h")]).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(HALF_A_HEAD).await.unwrap();
    let closed = closed_within(&mut stream, Duration::from_millis(300) + MARGIN).await.expect("the server closes it");
    assert!(closed >= Duration::from_millis(250), "not before the timeout: {closed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_waits_the_idle_timeout_not_the_header_timeout() {
    let redis = RedisServer::start().await;
    let app =
        TestApp::spawn(&redis.url(), &[("HTTP_HEADER_READ_TIMEOUT", "300ms"), ("HTTP_IDLE_TIMEOUT", "1500ms")]).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = b"GET /livez HTTP/1.1\r\nHost: gift-genie\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let mut answer = [0; 512];
    let read = stream.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..read]));

    // Idle for longer than the header timeout: the connection is still good for a request.
    tokio::time::sleep(Duration::from_millis(800)).await;
    stream.write_all(request).await.unwrap();
    let read = stream.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "still open after 800 ms idle");

    let closed =
        closed_within(&mut stream, Duration::from_millis(1500) + MARGIN).await.expect("closed when idle too long");
    assert!(closed >= Duration::from_millis(1400), "after the idle timeout: {closed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("HTTP_MAX_CONNECTIONS", "2"), ("HTTP_IDLE_TIMEOUT", "1h")]).await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let waiting = reqwest::Client::new().get(app.url("/livez")).timeout(Duration::from_millis(500)).send().await;
    assert!(waiting.is_err(), "a third connection is not served while two are open: {waiting:?}");
    drop(first);
    let served = reqwest::Client::new().get(app.url("/livez")).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK, "served once one closed");
}
