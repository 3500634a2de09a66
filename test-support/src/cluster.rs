//! A local Redis Cluster built from [`RedisServer`]s.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, RedisServer};

/// How long the cluster may take to form or to fail over before the test fails.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(30);

/// A local Redis Cluster of three masters, optionally with one replica each.
pub struct RedisCluster {
    /// Every node, in the order they were started (masters first when created).
    pub nodes: Vec<RedisServer>,
    /// Which nodes were killed by [`kill`](Self::kill).
    killed: Vec<bool>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them, and waits for `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        RedisCluster::start_configured(0, &[])
    }

    /// Three masters with `replicas` replicas each; waits until the cluster is ok and every
    /// replica is in sync with its master.
    pub fn start_with_replicas(replicas: usize) -> RedisCluster {
        RedisCluster::start_configured(replicas, &[])
    }

    /// Three masters without replicas, with extra arguments for every node (e.g.
    /// `--cluster-require-full-coverage no`).
    pub fn start_with(extra: &[&str]) -> RedisCluster {
        RedisCluster::start_configured(0, extra)
    }

    /// Three masters with `replicas` replicas each and `extra` arguments for every node.
    pub fn start_configured(replicas: usize, extra: &[&str]) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|_| {
                let bus = free_port().to_string();
                let mut args = vec![
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-port",
                    &bus,
                ];
                args.extend_from_slice(extra);
                RedisServer::start_with(&args, None)
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let killed = vec![false; nodes.len()];
        let cluster = RedisCluster { nodes, killed };
        cluster.wait_ok();
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        while !cluster.replicas_in_sync(replicas) {
            assert!(Instant::now() < deadline, "replicas never synced");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    fn replicas_in_sync(&self, replicas: usize) -> bool {
        let synced = self
            .live()
            .filter(|n| {
                let info = n.cli(&["INFO", "replication"]);
                info.contains("role:slave") && info.contains("master_link_status:up")
            })
            .count();
        synced == 3 * replicas
    }

    fn live(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes
            .iter()
            .zip(&self.killed)
            .filter(|(_, killed)| !**killed)
            .map(|(n, _)| n)
    }

    /// Waits until every node still running reports `cluster_state:ok` and sees every slot
    /// served by a running master (after [`kill`](Self::kill): until a replica took over).
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        while !self.live().all(|n| self.healthy_as_seen_by(n)) {
            assert!(Instant::now() < deadline, "cluster never reached state ok");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn healthy_as_seen_by(&self, node: &RedisServer) -> bool {
        if !node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
            return false;
        }
        let live_ports: Vec<String> = self.live().map(|n| n.port().to_string()).collect();
        node.cli(&["CLUSTER", "NODES"]).lines().all(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() <= 8 {
                return true; // serves no slot
            }
            let flags = fields[2];
            let port = fields[1]
                .split(['@', ','])
                .next()
                .and_then(|a| a.rsplit(':').next())
                .unwrap_or("");
            flags.split(',').any(|f| f == "master")
                && !flags.contains("fail")
                && live_ports.iter().any(|p| p == port)
        })
    }

    /// The index in [`nodes`](Self::nodes) of the master serving `key` now.
    pub fn master_of(&self, key: &str) -> usize {
        let any = self.live().next().expect("a live node");
        let slot: u16 = any
            .cli(&["CLUSTER", "KEYSLOT", key])
            .parse()
            .expect("CLUSTER KEYSLOT");
        let nodes = any.cli(&["CLUSTER", "NODES"]);
        let port = nodes
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let is_master = fields.get(2)?.split(',').any(|f| f == "master");
                let serves = fields.iter().skip(8).any(|range| {
                    let mut ends = range.split('-').map(|n| n.parse::<u16>());
                    match (ends.next(), ends.next()) {
                        (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&slot),
                        (Some(Ok(a)), None) => a == slot,
                        _ => false,
                    }
                });
                let port = fields
                    .get(1)?
                    .split(['@', ','])
                    .next()?
                    .rsplit(':')
                    .next()?;
                (is_master && serves).then(|| port.parse::<u16>().ok())?
            })
            .expect("a master serves every slot");
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .expect("the master is one of ours")
    }

    /// The index of a replica of the master at `index`.
    pub fn replica_of(&self, index: usize) -> usize {
        let port = format!("master_port:{}", self.nodes[index].port());
        self.nodes
            .iter()
            .zip(&self.killed)
            .position(|(n, killed)| {
                !killed
                    && n.cli(&["INFO", "replication"])
                        .lines()
                        .any(|l| l.trim() == port)
            })
            .expect("the master has a replica")
    }

    /// Kills node `index` (SIGKILL); the cluster fails over to its replica, if it has one.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
        self.killed[index] = true;
    }

    /// The node URLs (including killed ones).
    /// Whether `node` serves hash slot `slot` (from its own `CLUSTER NODES` line).
    pub fn serves(&self, node: usize, slot: u16) -> bool {
        let nodes = self.nodes[node].cli(&["CLUSTER", "NODES"]);
        let Some(myself) = nodes.lines().find(|l| l.contains("myself")) else {
            return false;
        };
        myself.split(' ').skip(8).any(|range| {
            let mut bounds = range.split('-').map(|b| b.parse::<u16>().ok());
            match (bounds.next().flatten(), bounds.next()) {
                (Some(first), None) => first == slot,
                (Some(first), Some(Some(last))) => (first..=last).contains(&slot),
                _ => false,
            }
        })
    }

    /// The hash slot of `key`, as the cluster computes it.
    pub fn slot(&self, key: &str) -> u16 {
        self.nodes
            .iter()
            .find_map(|n| n.cli(&["CLUSTER", "KEYSLOT", key]).parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// The node URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
