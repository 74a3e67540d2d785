//! The simulated network's rules, each on its own: latency, a partition that leaves a connection
//! dead, a hold that delivers when released, loss as TCP retransmissions, refused and hanging
//! connects, a crashed host's resets, and a close read as the end of the stream.

use std::io;
use std::time::Duration;

use sim::net::{Accepted, BASE_LATENCY, LinkMode, Net, SimStream};
use sim::trace::Trace;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

const HOST: &str = "redis";
const PORT: u16 = 6379;
/// Longer than anything a test waits for to arrive.
const NEVER: Duration = Duration::from_mins(1);
/// tokio's timers fire on the next whole millisecond.
const TICK: Duration = Duration::from_millis(1);

/// A network with a server listening, and one connection to it: the client's end and the
/// server's.
async fn connected() -> (Net, SimStream, SimStream) {
    let net = Net::new(Trace::new(false), 1);
    let mut listener = net.listen(HOST, PORT);
    let client = net.connect(HOST, PORT).await.expect("the server listens");
    let Accepted { stream: server, .. } = listener.recv().await.expect("the connection is accepted");
    (net, client, server)
}

/// Whether `elapsed` is `expected`, as a timer that fires on the next tick reaches it.
fn reached(elapsed: Duration, expected: Duration) -> bool {
    (expected..=expected + TICK).contains(&elapsed)
}

/// Reads exactly `length` bytes, or gives up after [`NEVER`].
async fn read(stream: &mut SimStream, length: usize) -> Option<Vec<u8>> {
    let mut data = vec![0; length];
    tokio::time::timeout(NEVER, stream.read_exact(&mut data)).await.ok()?.ok()?;
    Some(data)
}

#[tokio::test(start_paused = true)]
async fn data_arrives_in_order_after_the_links_latency() {
    let (net, mut client, mut server) = connected().await;
    net.set_latency(HOST, Duration::from_millis(10));
    let sent = Instant::now();
    client.write_all(b"one").await.unwrap();
    client.write_all(b"two").await.unwrap();
    assert_eq!(read(&mut server, 6).await.as_deref(), Some(&b"onetwo"[..]));
    let latency = BASE_LATENCY + Duration::from_millis(10);
    assert!(reached(sent.elapsed(), latency), "arrived after {:?}, not {latency:?}", sent.elapsed());
    assert_eq!(server.last_sent(), Some(sent), "the reader knows when the data was sent");
}

#[tokio::test(start_paused = true)]
async fn a_partition_leaves_a_connection_dead_after_it_heals_while_new_ones_work() {
    let (net, mut client, mut server) = connected().await;
    net.set_mode(HOST, LinkMode::Partitioned);
    client.write_all(b"lost").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    net.set_mode(HOST, LinkMode::Up);
    client.write_all(b"after").await.unwrap();
    assert_eq!(read(&mut server, 1).await, None, "nothing fills the gap the partition left");

    let mut listener = net.listen(HOST, PORT);
    let mut fresh = net.connect(HOST, PORT).await.expect("the healed link carries a new connection");
    let Accepted { stream: mut accepted, .. } = listener.recv().await.unwrap();
    fresh.write_all(b"hello").await.unwrap();
    assert_eq!(read(&mut accepted, 5).await.as_deref(), Some(&b"hello"[..]));
}

#[tokio::test(start_paused = true)]
async fn data_sent_into_a_partition_is_lost_though_the_partition_heals_before_it_would_arrive() {
    let (net, mut client, mut server) = connected().await;
    net.set_mode(HOST, LinkMode::Partitioned);
    client.write_all(b"lost").await.unwrap();
    // The link takes the packet while partitioned, and heals while it would be on its way.
    tokio::task::yield_now().await;
    net.set_mode(HOST, LinkMode::Up);
    assert_eq!(read(&mut server, 1).await, None);
}

#[tokio::test(start_paused = true)]
async fn data_in_flight_when_a_partition_starts_is_lost() {
    let (net, mut client, mut server) = connected().await;
    client.write_all(b"lost").await.unwrap();
    // On its way when the partition starts, which heals long after it would have arrived.
    tokio::task::yield_now().await;
    net.set_mode(HOST, LinkMode::Partitioned);
    tokio::time::sleep(Duration::from_secs(1)).await;
    net.set_mode(HOST, LinkMode::Up);
    assert_eq!(read(&mut server, 1).await, None);
}

#[tokio::test(start_paused = true)]
async fn a_held_link_delivers_everything_in_order_once_released() {
    let (net, mut client, mut server) = connected().await;
    net.set_mode(HOST, LinkMode::Held);
    let held = Instant::now();
    client.write_all(b"one").await.unwrap();
    client.write_all(b"two").await.unwrap();
    let release = Duration::from_secs(3);
    let releaser = net.clone();
    tokio::spawn(async move {
        tokio::time::sleep(release).await;
        releaser.set_mode(HOST, LinkMode::Up);
    });
    assert_eq!(read(&mut server, 6).await.as_deref(), Some(&b"onetwo"[..]));
    assert!(held.elapsed() >= release, "delivered after {:?}, before the release", held.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_lost_packet_arrives_a_retransmission_timeout_later_doubling_each_time() {
    let (net, mut client, mut server) = connected().await;
    // Every transmission lost: the simulation stops drawing after six retransmissions, whose
    // timeouts double from Linux's 200 ms: 200 + 400 + 800 + 1600 + 3200 + 6400 ms.
    net.set_loss(HOST, 1.0);
    let sent = Instant::now();
    client.write_all(b"x").await.unwrap();
    assert_eq!(read(&mut server, 1).await.as_deref(), Some(&b"x"[..]));
    let delay = BASE_LATENCY + Duration::from_millis(12_600);
    assert!(reached(sent.elapsed(), delay), "arrived after {:?}, not {delay:?}", sent.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_connect_behind_a_partition_hangs_and_one_to_a_closed_port_is_refused() {
    let net = Net::new(Trace::new(false), 1);
    let _listener = net.listen(HOST, PORT);
    let refused = net.connect(HOST, PORT + 1).await.err().map(|error| error.kind());
    assert_eq!(refused, Some(io::ErrorKind::ConnectionRefused));

    net.set_mode(HOST, LinkMode::Partitioned);
    let hung = tokio::time::timeout(NEVER, net.connect(HOST, PORT)).await;
    assert!(hung.is_err(), "a connect behind a partition never completes, as behind an IP filter");
}

#[tokio::test(start_paused = true)]
async fn a_crashed_host_resets_its_connections_and_refuses_new_ones() {
    let (net, mut client, _server) = connected().await;
    net.crash(HOST);
    let mut byte = [0; 1];
    let read = tokio::time::timeout(NEVER, client.read(&mut byte)).await.expect("the reset arrives");
    assert_eq!(read.err().map(|error| error.kind()), Some(io::ErrorKind::ConnectionReset));
    assert!(client.write_all(b"x").await.is_err(), "a reset connection takes no more writes");
    let again = net.connect(HOST, PORT).await.err().map(|error| error.kind());
    assert_eq!(again, Some(io::ErrorKind::ConnectionRefused));
}

#[tokio::test(start_paused = true)]
async fn a_closed_end_reads_as_the_end_of_the_stream_and_is_counted_closed() {
    let (net, client, mut server) = connected().await;
    assert_eq!(net.client_streams_open(), 1);
    drop(client);
    assert_eq!(net.client_streams_open(), 0);
    let mut byte = [0; 1];
    let read = tokio::time::timeout(NEVER, server.read(&mut byte)).await.expect("the FIN arrives");
    assert_eq!(read.ok(), Some(0));
}
