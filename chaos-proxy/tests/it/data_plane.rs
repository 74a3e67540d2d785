//! What each toxic does to real traffic, through the proxy to a TCP echo server.
//!
//! Timing assertions are lower bounds (a toxic must delay at least this much) or deadlines with a
//! generous margin, so that a busy machine cannot make them flake.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use testkit::MARGIN;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{ProxyServer, ReadOutcome, echo_server, read_once, round_trip};

async fn proxied_echo() -> (ProxyServer, TcpStream) {
    let server = ProxyServer::start().await;
    let listen = server.proxy_to("echo", echo_server().await).await;
    let mut stream = TcpStream::connect(listen).await.expect("the proxy accepts");
    assert_eq!(round_trip(&mut stream, b"ping", MARGIN).await.unwrap(), b"ping", "the proxy passes data untouched");
    (server, stream)
}

#[tokio::test]
async fn latency_delays_replies_by_at_least_the_configured_time() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"type": "latency", "attributes": {"latency": 300}})).await;

    let started = Instant::now();
    round_trip(&mut stream, b"slow", Duration::from_millis(300) + MARGIN).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
}

#[tokio::test]
async fn timeout_zero_blackholes_without_closing_and_closes_when_removed() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"name": "hole", "type": "timeout", "attributes": {"timeout": 0}})).await;

    stream.write_all(b"anyone?").await.unwrap();
    assert_eq!(read_once(&mut stream, Duration::from_secs(1)).await, ReadOutcome::Silent, "no data and no close");

    assert_eq!(server.call("DELETE", "/proxies/echo/toxics/hole", None).await.0, StatusCode::NO_CONTENT);
    assert!(
        matches!(read_once(&mut stream, MARGIN).await, ReadOutcome::Closed | ReadOutcome::Error(_)),
        "removing the toxic closes the connection it held, as in Toxiproxy"
    );
}

#[tokio::test]
async fn timeout_n_closes_the_connection_after_n_milliseconds() {
    let (server, mut stream) = proxied_echo().await;
    let added = Instant::now();
    server.add_toxic("echo", json!({"type": "timeout", "attributes": {"timeout": 400}})).await;
    stream.write_all(b"lost").await.unwrap();

    let outcome = read_once(&mut stream, Duration::from_millis(400) + MARGIN).await;
    assert!(matches!(outcome, ReadOutcome::Closed | ReadOutcome::Error(_)), "{outcome:?}");
    assert!(added.elapsed() >= Duration::from_millis(400), "{:?}", added.elapsed());
}

#[tokio::test]
async fn bandwidth_caps_the_transfer_rate() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"type": "bandwidth", "attributes": {"rate": 100}})).await;

    // 60 KB at 100 KB/s takes at least 0.6 s.
    let payload = vec![b'x'; 60_000];
    let started = Instant::now();
    round_trip(&mut stream, &payload, Duration::from_secs(10)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn limit_data_closes_the_connection_after_the_byte_limit() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"type": "limit_data", "attributes": {"bytes": 100}})).await;

    stream.write_all(&[b'y'; 1000]).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(MARGIN, stream.read_to_end(&mut received)).await.expect("the proxy closes");
    assert!(read.is_ok() || !received.is_empty(), "{read:?}");
    assert_eq!(received.len(), 100);
}

#[tokio::test]
async fn reset_peer_resets_the_connection_with_an_rst() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"type": "reset_peer", "attributes": {"timeout": 0}})).await;

    stream.write_all(b"reset me").await.unwrap();
    assert_eq!(read_once(&mut stream, MARGIN).await, ReadOutcome::Error(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn slicer_splits_one_write_into_small_delayed_pieces() {
    let (server, mut stream) = proxied_echo().await;
    let slicer = json!({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 0, "delay": 20_000}});
    server.add_toxic("echo", slicer).await;

    stream.write_all(&[b'z'; 100]).await.unwrap();
    let mut reads = Vec::new();
    while reads.iter().sum::<usize>() < 100 {
        match read_once(&mut stream, MARGIN).await {
            ReadOutcome::Data(n) => reads.push(n),
            other => panic!("expected data, got {other:?} after {reads:?}"),
        }
    }
    assert!(reads.len() >= 5, "one 100-byte write arrived in {} reads: {reads:?}", reads.len());
    assert!(reads.iter().all(|n| *n <= 20), "{reads:?}");
}

#[tokio::test]
async fn slow_close_holds_the_close_for_the_delay() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"type": "slow_close", "attributes": {"delay": 500}})).await;

    let started = Instant::now();
    stream.shutdown().await.unwrap();
    let outcome = read_once(&mut stream, Duration::from_millis(500) + MARGIN).await;
    assert!(matches!(outcome, ReadOutcome::Closed | ReadOutcome::Error(_)), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_disabled_proxy_refuses_connects_and_closes_open_ones_until_enabled() {
    let (server, mut stream) = proxied_echo().await;
    let listen = server.call("GET", "/proxies/echo", None).await.1["listen"].as_str().unwrap().to_owned();

    server.json("PATCH", "/proxies/echo", &json!({"enabled": false})).await;
    let refused = TcpStream::connect(&listen).await.expect_err("a disabled proxy refuses connects");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(matches!(read_once(&mut stream, MARGIN).await, ReadOutcome::Closed | ReadOutcome::Error(_)));

    server.json("PATCH", "/proxies/echo", &json!({"enabled": true})).await;
    let mut again = TcpStream::connect(&listen).await.expect("enabled again on the same address");
    assert_eq!(round_trip(&mut again, b"back", MARGIN).await.unwrap(), b"back");
}

#[tokio::test]
async fn reset_clears_toxics_and_reenables_proxies() {
    let (server, _stream) = proxied_echo().await;
    let listen = server.call("GET", "/proxies/echo", None).await.1["listen"].as_str().unwrap().to_owned();
    server.add_toxic("echo", json!({"type": "timeout", "attributes": {"timeout": 0}})).await;
    server.json("PATCH", "/proxies/echo", &json!({"enabled": false})).await;

    assert_eq!(server.call("POST", "/reset", None).await.0, StatusCode::NO_CONTENT);
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    assert_eq!(round_trip(&mut stream, b"clean", MARGIN).await.unwrap(), b"clean");
}

#[tokio::test]
async fn a_toxic_applies_to_connections_that_are_already_open() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}})).await;
    let result = round_trip(&mut stream, b"held", Duration::from_millis(500)).await;
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn a_toxic_with_zero_toxicity_never_applies() {
    let (server, mut stream) = proxied_echo().await;
    server.add_toxic("echo", json!({"type": "timeout", "toxicity": 0.0, "attributes": {"timeout": 0}})).await;
    assert_eq!(round_trip(&mut stream, b"spared", MARGIN).await.unwrap(), b"spared");
}
