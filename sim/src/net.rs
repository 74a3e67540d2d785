//! The simulated network between the backend and Redis's hosts: connections as pairs of
//! in-memory directions, each carrying data, an end (FIN) or a reset (RST) with the link's
//! latency, on tokio's clock.
//!
//! A link (the backend to one Redis host) is up, partitioned or held. Partitioned, it drops what
//! is sent: a connection that loses data has a gap no retransmission fills, so it is dead for
//! good without a word, and a connect never completes (as behind an IP filter). Held, it keeps
//! what is sent until released, then delivers it in order (a blackhole that heals). Its latency
//! adds to every delivery, and its loss makes TCP retransmit: a lost packet arrives a
//! retransmission timeout later (doubling each time it is lost again), and holds back what was
//! sent after it. A host that is down refuses connects, and its connections are reset.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, Bytes};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::trace::Trace;

/// The latency of a healthy link, each way.
pub const BASE_LATENCY: Duration = Duration::from_micros(200);
/// TCP's first retransmission timeout (Linux's minimum).
const RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);
/// Retransmissions of one packet, at most, before the simulation stops drawing more.
const MAX_RETRANSMISSIONS: u32 = 6;

/// What a link does with what is sent over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    Up,
    Partitioned,
    Held,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Link {
    mode: LinkMode,
    extra_latency: Duration,
    /// The chance that a packet is lost, each time it is sent.
    loss: f64,
}

impl Default for Link {
    fn default() -> Self {
        Self { mode: LinkMode::Up, extra_latency: Duration::ZERO, loss: 0.0 }
    }
}

/// What travels one way of a connection.
#[derive(Debug)]
enum Packet {
    /// Data, with the instant it was sent.
    Data(Bytes, Instant),
    Fin,
    Rst,
}

/// A connection a server accepts: its end, and its number for the trace.
pub struct Accepted {
    pub stream: SimStream,
    pub connection: u64,
}

/// The backend wrote on one of its connections.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub host: &'a str,
    pub connection: u64,
    /// When the connection was made.
    pub connected_at: Instant,
}

type WriteObserver = Arc<dyn Fn(Write<'_>) + Send + Sync>;

struct State {
    /// Each host's link to the backend, watched by the directions held on it.
    links: BTreeMap<String, watch::Sender<Link>>,
    /// The servers listening, by `host:port`.
    listeners: BTreeMap<String, mpsc::UnboundedSender<Accepted>>,
    /// The open connections' server ends, by host, to reset when the host goes down.
    open: BTreeMap<String, Vec<Direction>>,
    next_connection: u64,
    /// The backend's open connections to each host now, and the most there ever were.
    client_streams: BTreeMap<String, usize>,
    most_client_streams: BTreeMap<String, usize>,
    /// Each of the backend's connections: its host, when it opened, and when it closed.
    lifetimes: BTreeMap<u64, (String, Instant, Option<Instant>)>,
    /// Draws which packets a lossy link loses.
    rng: StdRng,
    write_observer: Option<WriteObserver>,
}

/// The network. Clones share it.
#[derive(Clone)]
pub struct Net {
    state: Arc<Mutex<State>>,
    trace: Trace,
}

impl Net {
    /// A network whose losses are drawn from `seed`.
    pub fn new(trace: Trace, seed: u64) -> Self {
        let state = State {
            links: BTreeMap::new(),
            listeners: BTreeMap::new(),
            open: BTreeMap::new(),
            next_connection: 0,
            client_streams: BTreeMap::new(),
            most_client_streams: BTreeMap::new(),
            lifetimes: BTreeMap::new(),
            rng: StdRng::seed_from_u64(seed),
            write_observer: None,
        };
        Self { state: Arc::new(Mutex::new(state)), trace }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("no panic holds the network")
    }

    fn link(&self, host: &str) -> watch::Receiver<Link> {
        self.lock().links.entry(host.to_owned()).or_insert_with(|| watch::channel(Link::default()).0).subscribe()
    }

    /// Changes the link to `host`; traces `what` when that changed anything.
    fn change(&self, host: &str, change: impl FnOnce(&mut Link), what: impl FnOnce() -> String) {
        let changed = {
            let mut state = self.lock();
            let link = state.links.entry(host.to_owned()).or_insert_with(|| watch::channel(Link::default()).0);
            link.send_if_modified(|link| {
                let before = *link;
                change(link);
                *link != before
            })
        };
        if changed {
            self.trace.line(what());
        }
    }

    /// Sets the link to `host` up, partitioned or held.
    pub fn set_mode(&self, host: &str, mode: LinkMode) {
        self.change(host, |link| link.mode = mode, || format!("net: link to {host} {mode:?}"));
    }

    /// Adds `latency` to every delivery over the link to `host`.
    pub fn set_latency(&self, host: &str, latency: Duration) {
        self.change(host, |link| link.extra_latency = latency, || format!("net: link to {host} latency +{latency:?}"));
    }

    /// Loses each packet over the link to `host` with probability `loss`.
    pub fn set_loss(&self, host: &str, loss: f64) {
        let what = || format!("net: link to {host} loses {:.0}% of packets", loss * 100.0);
        self.change(host, |link| link.loss = loss, what);
    }

    /// Calls `observer` whenever the backend writes on a connection.
    pub fn observe_writes(&self, observer: impl Fn(Write<'_>) + Send + Sync + 'static) {
        self.lock().write_observer = Some(Arc::new(observer));
    }

    /// How many connections the backend has made so far.
    pub fn connections_made(&self) -> u64 {
        self.lock().next_connection
    }

    /// The backend's connections open now, to every host.
    pub fn client_streams_open(&self) -> usize {
        self.lock().client_streams.values().sum()
    }

    /// The most connections the backend ever had open to each host at once.
    pub fn most_client_streams(&self) -> BTreeMap<String, usize> {
        self.lock().most_client_streams.clone()
    }

    /// The most connections the backend held open to each host at once, counting only those
    /// that stayed open at least `held`: a client that opens several at once and keeps one
    /// (redis-rs's cluster client reconnecting a node from two paths) holds one.
    pub fn most_client_streams_held(&self, held: Duration) -> BTreeMap<String, usize> {
        let state = self.lock();
        let mut events: BTreeMap<&str, Vec<(Instant, i32)>> = BTreeMap::new();
        for (host, opened, closed) in state.lifetimes.values() {
            if closed.is_some_and(|closed| closed - *opened < held) {
                continue;
            }
            let host = events.entry(host.as_str()).or_default();
            host.push((*opened, 1));
            if let Some(closed) = closed {
                host.push((*closed, -1));
            }
        }
        events
            .into_iter()
            .map(|(host, mut changes)| {
                // A close at the same instant as an open counts first.
                changes.sort();
                let (mut open, mut most) = (0_i32, 0_i32);
                for (_, change) in changes {
                    open += change;
                    most = most.max(open);
                }
                (host.to_owned(), usize::try_from(most).unwrap_or_default())
            })
            .collect()
    }

    /// Listens on `host:port`: connects there are handed to the receiver.
    pub fn listen(&self, host: &str, port: u16) -> mpsc::UnboundedReceiver<Accepted> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.lock().listeners.insert(format!("{host}:{port}"), sender);
        receiver
    }

    /// `host` goes down: it stops listening, and every connection to it is reset (the resets
    /// travel the link, so a partitioned client never hears of them).
    pub fn crash(&self, host: &str) {
        let open = {
            let mut state = self.lock();
            state.listeners.retain(|address, _| !address.starts_with(&format!("{host}:")));
            state.open.remove(host).unwrap_or_default()
        };
        self.trace.line(format!("net: {host} down, {} connections reset", open.len()));
        for direction in open {
            direction.send(Packet::Rst);
        }
    }

    /// The delay TCP's retransmissions add to one packet over a link that loses `loss` of them.
    fn retransmission_delay(&self, loss: f64) -> Duration {
        if loss <= 0.0 {
            return Duration::ZERO;
        }
        let mut state = self.lock();
        let mut delay = Duration::ZERO;
        let mut timeout = RETRANSMISSION_TIMEOUT;
        for _ in 0..MAX_RETRANSMISSIONS {
            if !state.rng.random_bool(loss.min(1.0)) {
                break;
            }
            delay += timeout;
            timeout *= 2;
        }
        delay
    }

    /// Connects the backend to `host:port`. It takes a round trip over the link; behind a
    /// partition it never completes, and a host that is not listening refuses it.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<SimStream> {
        let mut link = self.link(host);
        loop {
            let now = *link.borrow_and_update();
            match now.mode {
                LinkMode::Up => break,
                // The SYN waits with everything else; a dropped one is retried until the caller
                // gives up, as the kernel does.
                LinkMode::Held | LinkMode::Partitioned => {
                    if link.changed().await.is_err() {
                        return Err(io::ErrorKind::ConnectionAborted.into());
                    }
                }
            }
        }
        let (extra, loss) = {
            let now = link.borrow();
            (now.extra_latency, now.loss)
        };
        let handshake = (BASE_LATENCY + extra) * 2 + self.retransmission_delay(loss);
        tokio::time::sleep(handshake).await;
        let address = format!("{host}:{port}");
        let listener = self.lock().listeners.get(&address).cloned();
        let Some(listener) = listener else {
            self.trace.line(format!("net: connect to {address} refused"));
            return Err(io::ErrorKind::ConnectionRefused.into());
        };
        let connection = {
            let mut state = self.lock();
            state.next_connection += 1;
            state.next_connection
        };
        let (to_server, server_inbox) = mpsc::unbounded_channel();
        let (to_client, client_inbox) = mpsc::unbounded_channel();
        let upstream = Direction::start(to_server, self.link(host), self.clone());
        let downstream = Direction::start(to_client, self.link(host), self.clone());
        let backend_end =
            Backend { net: self.clone(), host: host.to_owned(), connection, connected_at: Instant::now() };
        let client = SimStream::new(client_inbox, upstream, Some(backend_end));
        let server = SimStream::new(server_inbox, downstream.clone(), None);
        {
            let mut state = self.lock();
            state.open.entry(host.to_owned()).or_default().push(downstream);
            let open = state.client_streams.entry(host.to_owned()).or_default();
            *open += 1;
            let open = *open;
            let most = state.most_client_streams.entry(host.to_owned()).or_default();
            *most = (*most).max(open);
            state.lifetimes.insert(connection, (host.to_owned(), Instant::now(), None));
        }
        if self.trace.is_on() {
            let open = self.lock().client_streams.get(host).copied().unwrap_or_default();
            self.trace.line(format!("net: connection #{connection} to {address}; {open} open"));
        }
        if listener.send(Accepted { stream: server, connection }).is_err() {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        Ok(client)
    }
}

/// One way of one connection: packets stamped when sent, delivered in order after the link's
/// latency, held while it is held, and dropped for good once the link drops one.
#[derive(Clone)]
struct Direction {
    sender: mpsc::UnboundedSender<(Instant, Packet)>,
}

impl Direction {
    fn start(inbox: mpsc::UnboundedSender<Packet>, mut link: watch::Receiver<Link>, net: Net) -> Self {
        let (sender, mut queue) = mpsc::unbounded_channel::<(Instant, Packet)>();
        tokio::spawn(async move {
            let mut last_arrival = Instant::now();
            let mut broken = false;
            while let Some((sent, packet)) = queue.recv().await {
                loop {
                    let now = *link.borrow_and_update();
                    match now.mode {
                        LinkMode::Partitioned => broken = true,
                        LinkMode::Held => {
                            if link.changed().await.is_ok() {
                                continue;
                            }
                            broken = true;
                        }
                        LinkMode::Up => {}
                    }
                    break;
                }
                if broken {
                    continue;
                }
                let (extra, loss) = {
                    let now = link.borrow();
                    (now.extra_latency, now.loss)
                };
                let latency = BASE_LATENCY + extra + net.retransmission_delay(loss);
                let arrival = (sent + latency).max(last_arrival).max(Instant::now());
                last_arrival = arrival;
                tokio::time::sleep_until(arrival).await;
                if link.borrow().mode == LinkMode::Partitioned {
                    broken = true;
                    continue;
                }
                if inbox.send(packet).is_err() {
                    return;
                }
            }
        });
        Self { sender }
    }

    fn send(&self, packet: Packet) {
        let _ = self.sender.send((Instant::now(), packet));
    }
}

/// What the backend's end of a connection knows of it.
struct Backend {
    net: Net,
    host: String,
    connection: u64,
    connected_at: Instant,
}

/// One end of a connection.
pub struct SimStream {
    inbox: mpsc::UnboundedReceiver<Packet>,
    read: VecDeque<Bytes>,
    /// When the data last read was sent.
    last_sent: Option<Instant>,
    ended: Option<io::ErrorKind>,
    outbound: Direction,
    write_closed: bool,
    /// The backend's end: its connection is counted and its writes observed.
    backend: Option<Backend>,
}

impl SimStream {
    fn new(inbox: mpsc::UnboundedReceiver<Packet>, outbound: Direction, backend: Option<Backend>) -> Self {
        Self { inbox, read: VecDeque::new(), last_sent: None, ended: None, outbound, write_closed: false, backend }
    }

    /// When the data read last was sent by the other end.
    pub fn last_sent(&self) -> Option<Instant> {
        self.last_sent
    }
}

impl AsyncRead for SimStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(front) = self.read.front_mut() {
                let take = front.len().min(buf.remaining());
                buf.put_slice(&front[..take]);
                front.advance(take);
                if front.is_empty() {
                    self.read.pop_front();
                }
                return Poll::Ready(Ok(()));
            }
            match self.ended {
                Some(io::ErrorKind::UnexpectedEof) => return Poll::Ready(Ok(())),
                Some(kind) => return Poll::Ready(Err(kind.into())),
                None => {}
            }
            match self.inbox.poll_recv(cx) {
                Poll::Ready(Some(Packet::Data(data, sent))) => {
                    self.last_sent = Some(sent);
                    self.read.push_back(data);
                }
                Poll::Ready(Some(Packet::Fin) | None) => self.ended = Some(io::ErrorKind::UnexpectedEof),
                Poll::Ready(Some(Packet::Rst)) => self.ended = Some(io::ErrorKind::ConnectionReset),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.write_closed || self.ended == Some(io::ErrorKind::ConnectionReset) {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if let Some(backend) = &self.backend {
            let observer = backend.net.lock().write_observer.clone();
            if let Some(observer) = observer {
                observer(Write {
                    host: &backend.host,
                    connection: backend.connection,
                    connected_at: backend.connected_at,
                });
            }
        }
        self.outbound.send(Packet::Data(Bytes::copy_from_slice(data), Instant::now()));
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write_closed {
            self.outbound.send(Packet::Fin);
            self.write_closed = true;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        if !self.write_closed {
            self.outbound.send(Packet::Fin);
        }
        if let Some(backend) = &self.backend {
            let open = {
                let mut state = backend.net.lock();
                if let Some((_, _, closed)) = state.lifetimes.get_mut(&backend.connection) {
                    *closed = Some(Instant::now());
                }
                let open = state.client_streams.entry(backend.host.clone()).or_default();
                *open -= 1;
                *open
            };
            if backend.net.trace.is_on() {
                backend
                    .net
                    .trace
                    .line(format!("net: connection #{} to {} closed; {open} open", backend.connection, backend.host));
            }
        }
    }
}
