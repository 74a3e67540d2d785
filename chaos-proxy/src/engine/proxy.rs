//! A running proxy: its listener, the connections it accepted, and the toxics they follow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::connection::{Command, Connection, Counters};
use super::listen;
use super::toxic::{Chains, Direction};
use crate::metrics::ProxyMetrics;

/// What a proxy needs to start.
#[derive(Debug, Clone)]
pub struct ProxySpec {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    /// `-seed`: makes toxicity and jitter draws repeatable.
    pub seed: Option<u64>,
    /// Toxiproxy's proxy metrics, when `-proxy-metrics` is on.
    pub metrics: Option<Arc<ProxyMetrics>>,
}

/// A listening proxy. Dropping it without [`RunningProxy::stop`] leaves its tasks running.
#[derive(Debug)]
pub struct RunningProxy {
    /// The address it bound: Toxiproxy reports this as the proxy's `listen` once it is enabled.
    pub listen: SocketAddr,
    shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    spec: ProxySpec,
    listen: SocketAddr,
    next_connection: AtomicU64,
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    chains: Arc<Chains>,
    connections: HashMap<u64, Open>,
    stopped: bool,
}

#[derive(Debug)]
struct Open {
    commands: mpsc::UnboundedSender<Command>,
    /// Resolves (as closed) when the connection's task has ended and dropped its sockets.
    finished: oneshot::Receiver<()>,
}

impl RunningProxy {
    /// Binds the listen address and starts accepting clients. The error is Go's, as Toxiproxy
    /// answers it: `listen tcp 127.0.0.1:3310: bind: address already in use`.
    pub async fn start(spec: ProxySpec, chains: Arc<Chains>) -> Result<Self, String> {
        let listener = listen::bind(&spec.listen).await?;
        let listen = listener.local_addr().map_err(|error| format!("listen tcp {}: {error}", spec.listen))?;
        let shared = Arc::new(Shared {
            spec,
            listen,
            next_connection: AtomicU64::new(0),
            registry: Mutex::new(Registry { chains, ..Registry::default() }),
        });
        let (stop, stopped) = oneshot::channel();
        let accept = tokio::spawn(accept_clients(listener, Arc::clone(&shared), stopped));
        tracing::info!(proxy = shared.spec.name, %listen, upstream = shared.spec.upstream, "started proxy");
        Ok(Self { listen, shared, stop, accept })
    }

    /// Applies `chains` to every open connection, and returns once each of them follows it, as
    /// Toxiproxy's collection waits for every link.
    pub(crate) async fn set_toxics(&self, chains: Arc<Chains>) {
        let senders: Vec<mpsc::UnboundedSender<Command>> = {
            let mut registry = self.shared.registry.lock().expect("registry lock");
            registry.chains = Arc::clone(&chains);
            registry.connections.values().map(|open| open.commands.clone()).collect()
        };
        let mut applied = Vec::with_capacity(senders.len());
        for commands in senders {
            let (done, waiting) = oneshot::channel();
            if commands.send(Command::Toxics(Arc::clone(&chains), done)).is_ok() {
                applied.push(waiting);
            }
        }
        for waiting in applied {
            // An error means the connection ended meanwhile, which is as good.
            let _ = waiting.await;
        }
    }

    /// Stops accepting (new connects are refused once this returns) and closes every connection.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.accept.await;
        let open: Vec<Open> = {
            let mut registry = self.shared.registry.lock().expect("registry lock");
            registry.stopped = true;
            registry.connections.drain().map(|(_, open)| open).collect()
        };
        for connection in &open {
            let _ = connection.commands.send(Command::Close);
        }
        for connection in open {
            let _ = connection.finished.await;
        }
        tracing::info!(proxy = self.shared.spec.name, listen = %self.listen, "stopped proxy");
    }
}

async fn accept_clients(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    tracing::debug!(proxy = shared.spec.name, %peer, "accepted client");
                    tokio::spawn(serve(client, Arc::clone(&shared)));
                }
                Err(error) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(proxy = shared.spec.name, %error, "error while accepting a client");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// Connects `client` to the upstream and runs the connection until it ends.
async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let spec = &shared.spec;
    let upstream = match TcpStream::connect(&spec.upstream).await {
        Ok(upstream) => upstream,
        Err(error) => {
            tracing::error!(proxy = spec.name, upstream = spec.upstream, %error, "unable to open connection to upstream");
            return;
        }
    };
    // Go's TCP connections have Nagle's algorithm off; a proxy must not add its delay.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let (commands_in, commands) = mpsc::unbounded_channel();
    let (finished, finished_rx) = oneshot::channel::<()>();
    let chains = {
        let mut registry = shared.registry.lock().expect("registry lock");
        if registry.stopped {
            return;
        }
        registry.connections.insert(id, Open { commands: commands_in, finished: finished_rx });
        Arc::clone(&registry.chains)
    };
    let rng = spec.seed.map_or_else(StdRng::from_os_rng, |seed| StdRng::seed_from_u64(seed.wrapping_add(id)));
    let connection = Connection {
        client,
        upstream,
        chains,
        commands,
        rng,
        upstream_counters: counters(&shared, Direction::Upstream),
        downstream_counters: counters(&shared, Direction::Downstream),
    };
    connection.run().await;
    shared.registry.lock().expect("registry lock").connections.remove(&id);
    drop(finished);
}

fn counters(shared: &Shared, direction: Direction) -> Counters {
    let Some(metrics) = &shared.spec.metrics else { return Counters::default() };
    let (received, sent) =
        metrics.counters(direction.as_str(), &shared.spec.name, &shared.listen.to_string(), &shared.spec.upstream);
    Counters { received: Some(received), sent: Some(sent) }
}
