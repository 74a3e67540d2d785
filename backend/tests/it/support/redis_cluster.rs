//! A Redis Cluster of real `redis-server` processes on loopback: three primaries, each with a
//! replica, as Scaleway's cluster mode runs them.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::RedisServer;

pub struct RedisCluster {
    /// Primaries first, then their replicas, in the order `redis-cli --cluster create` paired them.
    pub nodes: Vec<RedisServer>,
}

/// A free port whose cluster bus port (the port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        if port < 55_536 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl RedisCluster {
    /// A cluster whose nodes fail over a primary that is silent for `node_timeout`.
    pub async fn start(node_timeout: Duration) -> Self {
        let timeout = node_timeout.as_millis().to_string();
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let args = ["--cluster-enabled", "yes", "--cluster-node-timeout", &timeout];
            nodes.push(RedisServer::start_on(free_cluster_port(), &args).await);
        }
        let addresses: Vec<String> = nodes.iter().map(|node| format!("127.0.0.1:{}", node.port())).collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs (apt-get install redis-tools)");
        assert!(output.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&output.stdout));
        let cluster = Self { nodes };
        cluster.wait_until_settled().await;
        cluster
    }

    /// Until every node says the cluster is ok and every primary has a replica in sync, one that
    /// could take over: `CLUSTER SLOTS` lists only those.
    async fn wait_until_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut settled = true;
            for node in &self.nodes {
                let info = node.cli(&["CLUSTER", "INFO"]);
                settled &= info.contains("cluster_state:ok");
            }
            // Each range is its first and last slot, then a node (host, port, id) per line.
            let slots = self.nodes[0].cli(&["CLUSTER", "SLOTS"]);
            let nodes_listed = slots.lines().filter(|line| line.trim() == "127.0.0.1").count();
            if settled && nodes_listed == 6 {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not settle within 30s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `REDIS_URL` for the backend: two seed nodes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{},redis://127.0.0.1:{}", self.nodes[0].port(), self.nodes[1].port())
    }

    /// The primary that serves `key`, as the cluster says.
    pub fn primary_of(&self, key: &str) -> &RedisServer {
        let slot = self.nodes[0].cli(&["CLUSTER", "KEYSLOT", key]).trim().parse::<u16>().expect("a slot");
        let nodes = self.nodes[0].cli(&["CLUSTER", "NODES"]);
        let address = nodes
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .find(|line| {
                line.split_whitespace().skip(8).any(|range| {
                    let (first, last) = range.split_once('-').unwrap_or((range, range));
                    first.parse::<u16>().is_ok_and(|first| first <= slot)
                        && last.parse::<u16>().is_ok_and(|last| slot <= last)
                })
            })
            .and_then(|line| line.split_whitespace().nth(1))
            .expect("a primary serves every slot");
        self.node_at(address)
    }

    /// The replica of `primary`, as the cluster says.
    pub fn replica_of(&self, primary: &RedisServer) -> &RedisServer {
        let id = primary.cli(&["CLUSTER", "MYID"]);
        let replicas = primary.cli(&["CLUSTER", "REPLICAS", id.trim()]);
        let address = replicas.split_whitespace().nth(1).expect("every primary has a replica");
        self.node_at(address)
    }

    /// Our node at `address` as `CLUSTER NODES` writes it (`127.0.0.1:7000@17000`).
    fn node_at(&self, address: &str) -> &RedisServer {
        let port: u16 = address.split(['@', ':']).nth(1).and_then(|port| port.parse().ok()).expect("a port");
        self.nodes.iter().find(|node| node.port() == port).expect("the node is one of ours")
    }
}
