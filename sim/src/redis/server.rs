//! One connection's life on the simulated Redis: frames in, commands run on the node it reached
//! (after the cluster's redirects), replies out, with the server's faults.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use rand::Rng as _;
use redis_protocol::codec::Resp3;
use redis_protocol::resp3::types::BytesFrame;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::commands::{self, Node, Outcome, first_key};
use super::reply::{Reply, short};
use super::{Arrival, Redis, Shape};
use crate::net::SimStream;

/// Where and when a command arrived.
#[derive(Clone, Copy)]
struct Arrived {
    node: usize,
    connection: u64,
    connected_at: Instant,
    sent_at: Instant,
}

impl Redis {
    /// Serves one connection, bound to `node` for good, as a TCP connection stays with the
    /// machine it reached when the address moves.
    pub(super) async fn serve(self, stream: SimStream, connection: u64, node: usize) {
        let connected_at = Instant::now();
        let mut framed = Framed::new(stream, Resp3::default());
        let mut last_write = 0;
        // The client sent `ASKING`: the next command may touch a slot that moves here.
        let mut asking = false;
        while let Some(Ok(frame)) = framed.next().await {
            let Some(command) = command_of(frame) else {
                let _ = framed.send(Reply::Error("ERR Protocol error".to_owned()).frame()).await;
                continue;
            };
            let sent_at = framed.get_ref().last_sent().unwrap_or_else(Instant::now);
            let arrived = Arrived { node, connection, connected_at, sent_at };
            let Some((outcome, lose)) = self.execute(arrived, &command, &mut asking, &mut last_write) else { return };
            if lose {
                // Applied, and never answered: the connection goes silent.
                std::future::pending::<()>().await;
            }
            let reply = match outcome {
                Outcome::Reply(reply) => reply,
                Outcome::Wait { replicas, timeout } => Reply::Integer(self.wait(last_write, replicas, timeout).await),
            };
            let slow = self.lock().faults.slow;
            if let Some(slow) = slow {
                tokio::time::sleep(slow).await;
            }
            if framed.send(reply.frame()).await.is_err() {
                return;
            }
        }
    }

    /// Runs one command that `arrived`, as the node it reached runs it (after the cluster's
    /// redirects); gives its outcome and whether its reply is lost, or `None` when the node is
    /// down.
    fn execute(
        &self,
        arrived: Arrived,
        command: &[Bytes],
        asking: &mut bool,
        last_write: &mut u64,
    ) -> Option<(Outcome, bool)> {
        let Arrived { node, connection, connected_at, sent_at } = arrived;
        let mut state = self.lock();
        if !state.nodes[node].up {
            return None;
        }
        state.replicate();
        let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
        state.arrivals.push(Arrival {
            at: Instant::now(),
            sent_at,
            node,
            connection,
            connected_at,
            name: name.clone(),
            args: command[1..].to_vec(),
            reply_lost: false,
        });
        let arrival = state.arrivals.len() - 1;
        let was_asking = std::mem::replace(asking, name == "ASKING");
        let redirect = match (&state.slots, first_key(command)) {
            (Some(slots), Some(key)) => {
                let nodes = &state.nodes;
                let has = |holder: usize| nodes[holder].db.contains(key);
                slots.redirect(node, key, was_asking, has, |other| nodes[other].address())
            }
            _ => None,
        };
        let (outcome, effects) = match redirect {
            Some(redirect) => (Outcome::Reply(redirect), Vec::new()),
            None if name == "ASKING" || name == "READONLY" => (Outcome::Reply(Reply::Ok), Vec::new()),
            None => {
                // Only `CLUSTER SLOTS` reads it: built for every command, it cost a cluster
                // seed a tenth of its time.
                let slots = state.slots.as_ref().filter(|_| name == "CLUSTER").map(|slots| {
                    let nodes = &state.nodes;
                    slots.reply(|owner| (nodes[owner].host.clone(), nodes[owner].port))
                });
                let node_state = &mut state.nodes[node];
                let mut target = Node {
                    db: &mut node_state.db,
                    scripts: &mut node_state.scripts,
                    read_only: node_state.read_only,
                    slots,
                };
                commands::run(&mut target, command)
            }
        };
        let wrote = !effects.is_empty();
        if wrote
            && node == state.primary
            && let Shape::Pair { lag } = state.shape
        {
            state.written += 1;
            *last_write = state.written;
            let offset = state.written;
            state.backlog.push_back((offset, Instant::now() + lag, effects));
        }
        let lose = wrote && state.faults.lose_replies.is_some_and(|chance| state.faults.rng.random_bool(chance));
        state.arrivals[arrival].reply_lost = lose;
        if self.trace.is_on() {
            let shown = match &outcome {
                Outcome::Reply(reply) => reply.brief(),
                Outcome::Wait { replicas, timeout } => format!("(waiting for {replicas} within {timeout:?})"),
            };
            let words = command[1..].iter().fold(String::new(), |mut words, arg| {
                words.push(' ');
                words.push_str(&short(arg));
                words
            });
            let gone = if lose { " (reply lost)" } else { "" };
            let host = &state.nodes[node].host;
            let role = match (state.nodes.len(), node) {
                (2, 0) => "-a",
                (2, _) => "-b",
                _ => "",
            };
            self.trace.line(format!("redis #{connection} {host}{role} {name}{words} -> {shown}{gone}"));
        }
        Some((outcome, lose))
    }

    /// `WAIT`: blocks until the replica has this connection's last write, or `timeout` passes;
    /// answers how many replicas have it.
    async fn wait(&self, write: u64, replicas: u64, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let (has, next) = {
                let mut state = self.lock();
                state.replicate();
                match state.shape {
                    Shape::Standalone | Shape::Cluster { .. } => (false, None),
                    Shape::Pair { .. } => {
                        let replica = 1 - state.primary;
                        let has = state.nodes[replica].applied >= write;
                        let next = state.backlog.iter().find(|(offset, ..)| *offset >= write).map(|(_, due, _)| *due);
                        (has, next)
                    }
                }
            };
            if has || replicas == 0 {
                return i64::from(has);
            }
            match next {
                Some(due) if due < deadline => tokio::time::sleep_until(due).await,
                _ => {
                    tokio::time::sleep_until(deadline).await;
                    let mut state = self.lock();
                    state.replicate();
                    let replica = 1 - state.primary;
                    return i64::from(
                        matches!(state.shape, Shape::Pair { .. }) && state.nodes[replica].applied >= write,
                    );
                }
            }
        }
    }
}

/// A command's words, from the array of strings a client sends.
fn command_of(frame: BytesFrame) -> Option<Vec<Bytes>> {
    let BytesFrame::Array { data, .. } = frame else { return None };
    let words: Option<Vec<Bytes>> = data
        .into_iter()
        .map(|word| match word {
            BytesFrame::BlobString { data, .. } | BytesFrame::SimpleString { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    words.filter(|words| !words.is_empty())
}
