//! The client against a Toxiproxy-compatible server: chaos-proxy, started in-process on a free
//! port, in front of a TCP echo server. Each test drives one feature end to end and checks what
//! a connection through the proxy sees, not only what the API answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chaos_proxy::InProcess;
use rstest::rstest;
use testcontainers_toxiproxy::{Stream, Toxic, ToxicKind, ToxiproxyClient};
use testkit::net::echo_server;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

struct Server {
    client: ToxiproxyClient,
    echo: SocketAddr,
    _proxy: InProcess,
}

async fn server() -> Server {
    let server = InProcess::start(Some(1), false, false).await.unwrap();
    Server { client: ToxiproxyClient::new(server.url()), echo: echo_server().await, _proxy: server }
}

/// Sends `message` through the proxy and returns what came back and how long it took.
async fn round_trip(listen: &str, message: &[u8]) -> (Vec<u8>, Duration) {
    let mut stream = TcpStream::connect(listen).await.expect("the proxy accepts");
    let started = Instant::now();
    stream.write_all(message).await.unwrap();
    let mut reply = vec![0; message.len()];
    stream.read_exact(&mut reply).await.unwrap();
    (reply, started.elapsed())
}

/// The client keeps its own list, since it must not depend on the server; the two must agree.
#[test]
fn the_client_and_chaos_proxy_know_the_same_toxic_types() {
    let mut client = testcontainers_toxiproxy::TOXIC_TYPES.to_vec();
    let mut server = chaos_proxy::engine::TOXIC_TYPES.to_vec();
    client.sort_unstable();
    server.sort_unstable();
    assert_eq!(client, server);
}

#[tokio::test]
async fn the_client_reads_the_version_the_server_follows() {
    let server = server().await;
    assert_eq!(server.client.version().await.unwrap(), "2.12.0");
}

#[tokio::test]
async fn a_created_proxy_forwards_and_reports_the_address_it_bound() {
    let server = server().await;
    let proxy = server.client.create_proxy("echo", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    assert!(proxy.enabled);
    assert_ne!(proxy.listen, "127.0.0.1:0", "the bound port is reported");
    assert_eq!(round_trip(&proxy.listen, b"ping").await.0, b"ping");
    assert_eq!(server.client.proxies().await.unwrap()["echo"], proxy);
}

#[tokio::test]
async fn a_latency_toxic_delays_answers_until_it_is_removed() {
    let server = server().await;
    let proxy = server.client.create_proxy("echo", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    let latency = Duration::from_millis(200);

    let added = server.client.add_toxic("echo", &Toxic::latency(latency)).await.unwrap();
    assert_eq!(added, Toxic::latency(latency), "the server keeps the toxic as it was sent");
    let (_, slow) = round_trip(&proxy.listen, b"slow").await;
    assert!(slow >= latency, "{slow:?}");

    server.client.remove_toxic("echo", "latency_downstream").await.unwrap();
    let (_, fast) = round_trip(&proxy.listen, b"fast").await;
    assert!(fast < latency, "{fast:?}");
}

#[tokio::test]
async fn an_update_changes_toxicity_and_attributes_but_keeps_type_and_stream() {
    let server = server().await;
    server.client.create_proxy("echo", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    let toxic = Toxic::latency(Duration::from_millis(10)).on(Stream::Upstream);
    server.client.add_toxic("echo", &toxic).await.unwrap();

    let mut changed = toxic.clone().with_toxicity(0.25);
    changed.kind = ToxicKind::Latency { latency: Duration::from_millis(40), jitter: Duration::from_millis(5) };
    let updated = server.client.update_toxic("echo", &changed).await.unwrap();
    assert_eq!(updated, changed);
    assert_eq!(server.client.toxics("echo").await.unwrap(), [changed]);
}

#[tokio::test]
async fn a_disabled_proxy_refuses_connections_until_it_is_reset() {
    let server = server().await;
    let proxy = server.client.create_proxy("echo", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    server.client.add_toxic("echo", &Toxic::bandwidth(1)).await.unwrap();

    assert!(!server.client.set_enabled("echo", false).await.unwrap().enabled);
    assert!(TcpStream::connect(&proxy.listen).await.is_err(), "a partition refuses connects");

    server.client.reset().await.unwrap();
    let reset = server.client.proxy("echo").await.unwrap();
    assert!(reset.enabled && reset.toxics.is_empty(), "{reset:?}");
    assert_eq!(round_trip(&reset.listen, b"back").await.0, b"back");
}

#[rstest]
#[case::unknown_proxy("missing", 404, "proxy not found")]
#[case::unknown_toxic("echo", 404, "toxic not found")]
#[tokio::test]
async fn a_refused_call_carries_toxiproxys_status_and_message(
    #[case] proxy: &str,
    #[case] status: u16,
    #[case] message: &str,
) {
    let server = server().await;
    server.client.create_proxy("echo", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    let error = server.client.remove_toxic(proxy, "nothing").await.unwrap_err();
    assert_eq!(error.status(), Some(status), "{error}");
    assert!(error.to_string().ends_with(message), "{error}");
}

#[tokio::test]
async fn deleting_a_proxy_frees_its_name_and_address() {
    let server = server().await;
    let proxy = server.client.create_proxy("echo", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    server.client.delete_proxy("echo").await.unwrap();
    assert!(server.client.proxies().await.unwrap().is_empty());
    assert!(TcpStream::connect(&proxy.listen).await.is_err());
    server.client.create_proxy("echo", &proxy.listen, &server.echo.to_string()).await.unwrap();
}

#[tokio::test]
async fn a_limit_data_toxic_closes_the_connection_after_that_many_bytes() {
    let server = server().await;
    let proxy = server.client.create_proxy("echo", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    server.client.add_toxic("echo", &Toxic::limit_data(4)).await.unwrap();

    let mut stream = TcpStream::connect(&proxy.listen).await.unwrap();
    stream.write_all(b"12345678").await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"1234", "four bytes come back, then the connection closes");
}

/// A server that answers every connection with its name and closes, to tell upstreams apart.
async fn named(name: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(name).await;
        }
    });
    addr
}

#[tokio::test]
async fn a_new_upstream_takes_new_connections_and_closes_the_old_ones() {
    let server = server().await;
    let proxy = server.client.create_proxy("moving", "127.0.0.1:0", &server.echo.to_string()).await.unwrap();
    let mut held = TcpStream::connect(&proxy.listen).await.unwrap();
    held.write_all(b"x").await.unwrap();
    let mut byte = [0; 1];
    held.read_exact(&mut byte).await.unwrap();

    let other = named(b"other").await;
    let moved = server.client.set_upstream("moving", &other.to_string()).await.unwrap();
    assert_eq!(moved.upstream, other.to_string());
    let closed = tokio::time::timeout(Duration::from_secs(5), held.read(&mut byte)).await.unwrap();
    assert!(matches!(closed, Ok(0) | Err(_)), "the connection the proxy held is closed: {closed:?}");
    let mut fresh = TcpStream::connect(&moved.listen).await.unwrap();
    let mut greeting = vec![0; 5];
    fresh.read_exact(&mut greeting).await.unwrap();
    assert_eq!(greeting, b"other");
}
