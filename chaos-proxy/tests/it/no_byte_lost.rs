//! A toxic delays or reshapes bytes; it never drops them. An upstream that writes its reply and
//! closes at once (an HTTP/1.0 server, `Connection: close`, a Redis shut down mid-reply) must see
//! every byte reach the client after the toxic's delay, and only then the close; the same for a
//! client that writes and half-closes, on the upstream stream.

use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::support::ProxyServer;

/// Beyond the least a chain of toxics must take: the suite's margin, twice, since a chain holds
/// up to a few hundred kilobytes that a busy machine moves slowly.
const SLACK: Duration = Duration::from_secs(2 * testkit::MARGIN.as_secs());

/// 20 KB of a pattern that shows a lost or reordered byte.
fn payload() -> Vec<u8> {
    (0..20_000_u32).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

/// A toxic, and the least time it must take to pass the 20 KB payload.
struct Case {
    toxics: Vec<Value>,
    least: Duration,
}

fn case(stream: &str, kind: &str) -> Case {
    let toxic = |name: &str, kind: &str, attributes: Value| json!({"name": name, "type": kind, "stream": stream, "attributes": attributes});
    let (toxics, least) = match kind {
        "latency" => (vec![toxic("t", "latency", json!({"latency": 300}))], 300),
        "latency_with_jitter" => (vec![toxic("t", "latency", json!({"latency": 300, "jitter": 100}))], 200),
        // 20 KB at 40 KB/s.
        "bandwidth" => (vec![toxic("t", "bandwidth", json!({"rate": 40}))], 450),
        // 20 KB in slices of about 2 KB, 30 ms apart.
        "slicer" => {
            (vec![toxic("t", "slicer", json!({"average_size": 2000, "size_variation": 500, "delay": 30_000}))], 150)
        }
        "slow_close" => (vec![toxic("t", "slow_close", json!({"delay": 300}))], 300),
        "noop" => (vec![toxic("t", "noop", json!({}))], 0),
        "chain" => (
            vec![
                toxic("a", "latency", json!({"latency": 200, "jitter": 50})),
                toxic("b", "bandwidth", json!({"rate": 80})),
                toxic("c", "slicer", json!({"average_size": 1500, "size_variation": 300, "delay": 10_000})),
            ],
            200 + 200,
        ),
        other => panic!("no case {other}"),
    };
    Case { toxics, least: Duration::from_millis(least) }
}

async fn proxy_with(toxics: &[Value], upstream: std::net::SocketAddr) -> (ProxyServer, std::net::SocketAddr) {
    let server = ProxyServer::start().await;
    let listen = server.proxy_to("p", upstream).await;
    for toxic in toxics {
        server.add_toxic("p", toxic.clone()).await;
    }
    (server, listen)
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_written_just_before_the_upstream_closes_reaches_the_client_whole_after_the_toxic(
    #[values("latency", "latency_with_jitter", "bandwidth", "slicer", "slow_close", "noop", "chain")] kind: &str,
) {
    let Case { toxics, least } = case("downstream", kind);
    // The upstream answers the first byte it reads with the whole payload, and closes.
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = upstream.accept().await.unwrap();
        let mut request = [0; 1];
        socket.read_exact(&mut request).await.unwrap();
        socket.write_all(&payload()).await.unwrap();
    });
    let (_server, listen) = proxy_with(&toxics, upstream_addr).await;

    let mut client = TcpStream::connect(listen).await.unwrap();
    let started = Instant::now();
    client.write_all(b"?").await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(least + SLACK, client.read_to_end(&mut reply))
        .await
        .expect("the proxy closes the client's side once the reply is through")
        .expect("a clean close, not a reset");
    let took = started.elapsed();

    assert_eq!(reply.len(), payload().len(), "{kind}: bytes lost");
    assert!(reply == payload(), "{kind}: the bytes changed on the way");
    assert!(took >= least, "{kind}: the reply came after {took:?}, before the toxic's {least:?}");
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn what_a_client_writes_before_it_half_closes_reaches_the_upstream_whole_after_the_toxic(
    #[values("latency", "latency_with_jitter", "bandwidth", "slicer", "slow_close", "noop", "chain")] kind: &str,
) {
    let Case { toxics, least } = case("upstream", kind);
    // The upstream reads until the client's half-close reaches it.
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let received = tokio::spawn(async move {
        let (mut socket, _) = upstream.accept().await.unwrap();
        let mut received = Vec::new();
        socket.read_to_end(&mut received).await.map(|_| (received, Instant::now()))
    });
    let (_server, listen) = proxy_with(&toxics, upstream_addr).await;

    let mut client = TcpStream::connect(listen).await.unwrap();
    let started = Instant::now();
    client.write_all(&payload()).await.unwrap();
    client.shutdown().await.unwrap();
    let (bytes, at) = tokio::time::timeout(least + SLACK, received)
        .await
        .expect("the upstream sees the end of the stream")
        .unwrap()
        .expect("a clean end, not a reset");

    assert_eq!(bytes.len(), payload().len(), "{kind}: bytes lost");
    assert!(bytes == payload(), "{kind}: the bytes changed on the way");
    let took = at - started;
    assert!(took >= least, "{kind}: the upstream had everything after {took:?}, before the toxic's {least:?}");
}
