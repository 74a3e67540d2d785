//! One proxied connection: a task that reads both peers, runs each direction's chain, and writes
//! what comes out, until both directions have ended.
//!
//! The sockets are driven by readiness (`readable`, `try_read`, `try_write`), so that one task can
//! wait on both peers, both chains' timers and the proxy's commands at once without locks.

use std::sync::Arc;

use bytes::BytesMut;
use prometheus_client::metrics::counter::Counter;
use rand::rngs::StdRng;
use socket2::SockRef;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::pipeline::{Outbox, Pipeline};
use super::stage::{Chunk, Ending};
use super::toxic::{Chains, Direction};

/// Toxiproxy copies with Go's 32 KiB `io.Copy` buffer; reads here are at most as large.
const READ_CHUNK: usize = 32 * 1024;

/// What the proxy tells an open connection.
#[derive(Debug)]
pub(crate) enum Command {
    /// The proxy's toxics changed; answer once the chains follow them.
    Toxics(Arc<Chains>, oneshot::Sender<()>),
    /// The proxy is disabled or deleted: close at once.
    Close,
}

/// Bytes counted for Toxiproxy's proxy metrics, per direction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub received: Option<Counter>,
    pub sent: Option<Counter>,
}

/// One direction: read from `source`, through `pipeline`, into `out`, written to the other peer.
struct Flow {
    direction: Direction,
    pipeline: Pipeline,
    out: Outbox,
    buffer: BytesMut,
    /// The buffer of pass-through reads, which never leave it unless the destination is slow.
    scratch: Vec<u8>,
    /// The last write would have blocked: wait until the destination can take more.
    write_blocked: bool,
    /// Nothing more will be written; the destination has been shut down as the stream ended.
    done: bool,
    counters: Counters,
}

impl Flow {
    fn new(direction: Direction, chains: &Chains, rng: &mut StdRng, counters: Counters) -> Self {
        Self {
            direction,
            pipeline: Pipeline::new(chains.of(direction), rng, Instant::now()),
            out: Outbox::default(),
            buffer: BytesMut::new(),
            scratch: Vec::new(),
            write_blocked: false,
            done: false,
            counters,
        }
    }

    fn wants_read(&self) -> bool {
        !self.done && self.pipeline.accepts(&self.out)
    }

    fn wants_write(&self) -> bool {
        !self.done && !self.out.is_empty()
    }

    /// Reads what `source` has. Returns false when it had nothing after all.
    fn read(&mut self, source: &TcpStream, destination: &TcpStream) -> bool {
        if self.pipeline.passes_through(&self.out) && !self.write_blocked {
            return self.pass_through(source, destination);
        }
        if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 4 {
            self.buffer.reserve(READ_CHUNK);
        }
        let buffer = &mut self.buffer;
        match drain_read(source, || {
            let room = buffer.capacity() - buffer.len();
            Ok((source.try_read_buf(buffer)?, room))
        }) {
            Ok(0) => self.pipeline.end_input(),
            Ok(read) => {
                if let Some(counter) = &self.counters.received {
                    counter.inc_by(read as u64);
                }
                let data = self.buffer.split_to(read).freeze();
                self.pipeline.push(Chunk { data, timestamp: Instant::now() }, &mut self.out);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return false,
            // Toxiproxy ends a link's input on a read error as on EOF.
            Err(error) => {
                tracing::debug!(direction = self.direction.as_str(), %error, "source read failed");
                self.pipeline.end_input();
            }
        }
        true
    }

    /// The path without toxics: read into one buffer and write it on at once, as `io.Copy` does.
    /// Only what the destination does not take now is copied aside.
    fn pass_through(&mut self, source: &TcpStream, destination: &TcpStream) -> bool {
        if self.scratch.is_empty() {
            self.scratch = vec![0; READ_CHUNK];
        }
        let scratch = &mut self.scratch;
        let read = match drain_read(source, || Ok((source.try_read(scratch)?, scratch.len()))) {
            Ok(0) => {
                self.pipeline.end_input();
                return true;
            }
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(error) => {
                tracing::debug!(direction = self.direction.as_str(), %error, "source read failed");
                self.pipeline.end_input();
                return true;
            }
        };
        if let Some(counter) = &self.counters.received {
            counter.inc_by(read as u64);
        }
        // Blocked or failed, nothing was written: the next write from the outbox finds out which.
        let written = destination.try_write(&self.scratch[..read]).unwrap_or_default();
        if let Some(counter) = &self.counters.sent {
            counter.inc_by(written as u64);
        }
        if written < read {
            self.out.push(bytes::Bytes::copy_from_slice(&self.scratch[written..read]));
        }
        true
    }

    /// Writes as much of `out` as `destination` takes now, and says how much that was. Err when
    /// the destination is gone.
    fn write(&mut self, destination: &TcpStream) -> std::io::Result<usize> {
        let mut total = 0;
        while let Some(bytes) = self.out.front() {
            match destination.try_write(bytes) {
                Ok(written) => {
                    if let Some(counter) = &self.counters.sent {
                        counter.inc_by(written as u64);
                    }
                    self.out.advance(written);
                    total += written;
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return Ok(total);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(total)
    }

    /// Moves what can move now through the chain and out to `destination`, then ends the stream
    /// there if it has ended. Returns when the chain next waits for time.
    fn settle(
        &mut self,
        destination: &TcpStream,
        other: &TcpStream,
        rng: &mut StdRng,
        now: Instant,
    ) -> Result<Option<Instant>, Abort> {
        let deadline = loop {
            let deadline = self.pipeline.pump(now, rng, &mut self.out);
            if self.write_blocked {
                break deadline;
            }
            match self.write(destination) {
                // Writing made room: the chain may have more to hand on.
                Ok(written) if written > 0 && !self.write_blocked => {}
                Ok(_) => break deadline,
                Err(error) => {
                    // The destination is gone: Toxiproxy closes it and stops the link; the other
                    // direction then reads an end from it.
                    tracing::debug!(direction = self.direction.as_str(), %error, "destination write failed");
                    shutdown(destination, std::net::Shutdown::Both);
                    self.done = true;
                    return Ok(None);
                }
            }
        };
        if self.out.is_empty()
            && let Some(ending) = self.pipeline.ended()
        {
            match ending {
                Ending::Eof => shutdown(destination, std::net::Shutdown::Write),
                // A toxic closed the stream: the peer sees the whole connection close, and the
                // other direction then reads an end from it.
                Ending::Close => shutdown(destination, std::net::Shutdown::Both),
                Ending::Reset => {
                    for socket in [destination, other] {
                        let _ = SockRef::from(socket).set_linger(Some(std::time::Duration::ZERO));
                    }
                    return Err(Abort);
                }
            }
            self.done = true;
        }
        Ok(deadline)
    }
}

/// The connection must end now: both sockets are dropped (with linger zero, for a reset).
struct Abort;

pub(crate) struct Connection {
    pub client: TcpStream,
    pub upstream: TcpStream,
    pub chains: Arc<Chains>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub rng: StdRng,
    pub upstream_counters: Counters,
    pub downstream_counters: Counters,
}

impl Connection {
    /// Runs until both directions have ended, a toxic ends the connection, or the proxy closes it.
    pub(super) async fn run(self) {
        let Self { client, upstream, chains, mut commands, mut rng, upstream_counters, downstream_counters } = self;
        let mut up = Flow::new(Direction::Upstream, &chains, &mut rng, upstream_counters);
        let mut down = Flow::new(Direction::Downstream, &chains, &mut rng, downstream_counters);
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sleep);
        loop {
            let now = Instant::now();
            let Ok(up_deadline) = (if up.done { Ok(None) } else { up.settle(&upstream, &client, &mut rng, now) })
            else {
                return;
            };
            let Ok(down_deadline) = (if down.done { Ok(None) } else { down.settle(&client, &upstream, &mut rng, now) })
            else {
                return;
            };
            let deadline = match (up_deadline, down_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if up.done && down.done {
                return;
            }
            if let Some(at) = deadline {
                sleep.as_mut().reset(at);
            }
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Toxics(chains, applied)) => {
                        let now = Instant::now();
                        for flow in [&mut up, &mut down] {
                            flow.pipeline.reconcile(chains.of(flow.direction), &mut rng, now, &mut flow.out);
                        }
                        let _ = applied.send(());
                    }
                    Some(Command::Close) | None => return,
                },
                ready = client.readable(), if up.wants_read() => if ready.is_ok() { up.read(&client, &upstream); },
                ready = upstream.readable(), if down.wants_read() => if ready.is_ok() { down.read(&upstream, &client); },
                ready = upstream.writable(), if up.wants_write() && up.write_blocked => if ready.is_ok() { up.write_blocked = false; },
                ready = client.writable(), if down.wants_write() && down.write_blocked => if ready.is_ok() { down.write_blocked = false; },
                () = &mut sleep, if deadline.is_some() => {}
            }
        }
    }
}

/// Runs `read` (returning bytes read and the room there was) and, when it filled less than the
/// room, tells tokio the socket is empty, so that it forgets the readiness now instead of after
/// one more `read` that finds nothing. tokio forgets it only if no new data arrived meanwhile, so
/// nothing is missed; the count goes round `try_io`, which returns a bare `WouldBlock`.
fn drain_read(source: &TcpStream, mut read: impl FnMut() -> std::io::Result<(usize, usize)>) -> std::io::Result<usize> {
    let mut short = None;
    let result = source.try_io(tokio::io::Interest::READABLE, || {
        let (read, room) = read()?;
        if read > 0 && read < room {
            short = Some(read);
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(read)
    });
    match (result, short) {
        (_, Some(read)) => Ok(read),
        (result, None) => result,
    }
}

fn shutdown(socket: &TcpStream, how: std::net::Shutdown) {
    // Fails only when the peer is already gone, which is what was wanted.
    let _ = SockRef::from(socket).shutdown(how);
}
