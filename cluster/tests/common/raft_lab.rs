//! A Raft policy cluster in one process: real transports on loopback
//! with mutual TLS from the cluster PKI, a redb store per node in a
//! temporary directory, and the dataplane's own parser and compiler as
//! the validator. Shared by the Raft tests and the Raft benchmark.

#![allow(dead_code, clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_cluster::pki::{self, NodeTls};
use rampart_cluster::raft::{
    AppliedPolicy, MemberNode, NodeId, OpenError, PolicyRaft, RaftSettings, Role, StartError,
    Validator, Version,
};
use rampart_cluster::transport::{PeerSpec, Transport, TransportConfig};
use rampart_dataplane::EngineConfig;
use rampart_dataplane::conntrack::NodeId as EngineNodeId;
use rampart_dataplane::policy::compile::compile;
use rampart_dataplane::policy::parse_config;
use tokio::task::JoinHandle;

/// Longest wait for anything in these tests: far above what a healthy
/// loopback cluster needs (tens of ms), so only a real failure hits it.
pub const WAIT: Duration = Duration::from_secs(20);

/// A valid policy that differs by `port`.
pub fn policy(port: u16) -> String {
    format!(
        "access-list OUTSIDE_IN extended permit tcp any any eq {port}\n\
         access-group OUTSIDE_IN in interface outside\n"
    )
}

/// The line that binds a test policy to a version, as an operator's
/// signature binds a real one (the node's validator reads the signature).
const BOUND_TO: &str = "! for version ";

/// A valid policy that differs by `port`, bound to `version`: it commits
/// as that version or not at all.
pub fn bound(port: u16, version: Version) -> String {
    format!("{}{BOUND_TO}{version}\n", policy(port))
}

/// The validator a node runs: parse and compile against an inside and an
/// outside interface; a last line `! for version N` binds the text to N.
pub fn validator() -> Validator {
    let interfaces = EngineConfig::inside_outside(EngineNodeId(1), [1, 2, 3, 4]).interfaces;
    Arc::new(move |text: &str| {
        let parsed = parse_config(text).map_err(|e| e.to_string())?;
        compile(&parsed.config, &interfaces).map_err(|e| e.to_string())?;
        Ok(text
            .trim_end()
            .lines()
            .last()
            .and_then(|l| l.strip_prefix(BOUND_TO))
            .and_then(|v| v.parse().ok()))
    })
}

/// A running node.
pub struct Node {
    pub id: NodeId,
    pub transport: Transport,
    pub raft: PolicyRaft,
    drain: JoinHandle<()>,
}

/// The cluster under test.
pub struct Lab {
    pub dir: PathBuf,
    pub addrs: Vec<SocketAddr>,
    pub settings: RaftSettings,
    /// Nodes 1..=founders know each other from their configuration; a
    /// later node knows only the founders, and the founders learn of it
    /// through the Raft membership.
    founders: usize,
    tls: Vec<NodeTls>,
    nodes: Vec<Option<Node>>,
}

/// A loopback address with a port the kernel had free and that no other
/// lab of this test process was given: the tests run in parallel, and a
/// port released after the probe could otherwise be handed out twice (two
/// nodes on one port, the second failing to listen).
fn free_addr() -> SocketAddr {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = s.local_addr().expect("addr");
        if GIVEN.lock().expect("port registry").insert(addr.port()) {
            return addr;
        }
    }
}

/// Settings for tests: the defaults, but a short write timeout so the
/// no-quorum case ends soon.
pub fn test_settings() -> RaftSettings {
    RaftSettings {
        write_timeout: Duration::from_secs(3),
        ..RaftSettings::default()
    }
}

/// A snapshot every 2 entries, nothing kept behind it: a node that misses
/// a few writes finds its next entries purged on the leader.
pub fn compacting_settings() -> RaftSettings {
    RaftSettings {
        snapshot_logs_since_last: 2,
        max_in_snapshot_log_to_keep: 0,
        ..test_settings()
    }
}

pub fn member(id: NodeId, addr: SocketAddr) -> MemberNode {
    MemberNode {
        name: format!("fw-{id}"),
        address: addr.to_string(),
    }
}

impl Lab {
    /// `n` nodes with ids 1..=n, not yet started.
    pub fn new(tag: &str, n: usize, settings: RaftSettings) -> Lab {
        Lab::with_founders(tag, n, n, settings)
    }

    /// `n` nodes of which only the first `founders` are in each other's
    /// configuration.
    pub fn with_founders(tag: &str, n: usize, founders: usize, settings: RaftSettings) -> Lab {
        let dir = std::env::temp_dir().join(format!("rampart-raft-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = dir.join("ca");
        pki::init_ca(&ca).expect("ca");
        let tls = (1..=n)
            .map(|id| {
                let id = u16::try_from(id).expect("small id");
                let issued = pki::issue_node_cert(&ca, id, &format!("fw-{id}"), &ca).expect("cert");
                NodeTls::load(&ca.join(pki::CA_CERT), &issued.cert, &issued.key).expect("tls")
            })
            .collect();
        Lab {
            dir,
            addrs: (0..n).map(|_| free_addr()).collect(),
            settings,
            founders,
            tls,
            nodes: (0..n).map(|_| None).collect(),
        }
    }

    fn data_dir(&self, id: NodeId) -> PathBuf {
        self.dir.join(format!("node-{id}"))
    }

    /// Start node `id` (its transport, then its Raft on its data dir).
    /// Retries while a stopped node's UDP socket or store file is still
    /// being released.
    pub async fn start(&mut self, id: NodeId) {
        self.start_with(id, validator()).await;
    }

    /// Start node `id` with a validator of the test's own.
    pub async fn start_with(&mut self, id: NodeId, validator: Validator) {
        if let Err(e) = self.start_raft(id, validator, true).await {
            panic!("node {id}: raft: {e}");
        }
    }

    /// Start node `id`, and hand back why its Raft refused to start (its
    /// transport is stopped again then). Retries only while a stopped
    /// node's store file is still being released.
    pub async fn try_start(&mut self, id: NodeId) -> Result<(), StartError> {
        self.start_raft(id, validator(), false).await
    }

    async fn start_raft(
        &mut self,
        id: NodeId,
        validator: Validator,
        retry_any: bool,
    ) -> Result<(), StartError> {
        let i = usize::try_from(id - 1).expect("index");
        let me = u16::try_from(id).expect("small id");
        let peers = self
            .addrs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i && *j < self.founders)
            .map(|(j, a)| PeerSpec {
                id: u16::try_from(j + 1).expect("small id"),
                name: format!("fw-{}", j + 1),
                address: *a,
            })
            .collect();
        let mut tcfg = TransportConfig::new(me, self.addrs[i], peers);
        tcfg.idle_timeout = Duration::from_secs(1);
        tcfg.keep_alive = Duration::from_millis(200);
        tcfg.backoff_max = Duration::from_millis(200);
        let deadline = Instant::now() + WAIT;
        let (transport, mut events) = loop {
            match Transport::start(tcfg.clone(), self.tls[i].clone()) {
                Ok(t) => break t,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("node {id}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("node {id}: transport: {e}"),
            }
        };
        // The sync side is not under test: drain its events so the
        // transport never waits on them.
        let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
        let dir = self.data_dir(id);
        let raft = loop {
            match PolicyRaft::start(
                id,
                &dir,
                transport.clone(),
                validator.clone(),
                self.settings.clone(),
            )
            .await
            {
                Ok(r) => break r,
                Err(e)
                    if Instant::now() < deadline
                        && (retry_any
                            || matches!(e, StartError::Store(OpenError::Database { .. }))) =>
                {
                    eprintln!("node {id}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    transport.shutdown().await;
                    drain.abort();
                    return Err(e);
                }
            }
        };
        self.nodes[i] = Some(Node {
            id,
            transport,
            raft,
            drain,
        });
        Ok(())
    }

    /// Stop node `id` as a crash would leave it: Raft and transport shut,
    /// its store kept.
    pub async fn stop(&mut self, id: NodeId) {
        let i = usize::try_from(id - 1).expect("index");
        if let Some(n) = self.nodes[i].take() {
            n.raft.shutdown().await;
            n.transport.shutdown().await;
            n.drain.abort();
        }
    }

    pub fn node(&self, id: NodeId) -> &PolicyRaft {
        let i = usize::try_from(id - 1).expect("index");
        &self.nodes[i].as_ref().expect("node running").raft
    }

    pub fn transport(&self, id: NodeId) -> &Transport {
        let i = usize::try_from(id - 1).expect("index");
        &self.nodes[i].as_ref().expect("node running").transport
    }

    pub fn running(&self) -> Vec<NodeId> {
        self.nodes.iter().flatten().map(|n| n.id).collect()
    }

    /// A running node other than `not` (a follower, when `not` leads).
    pub fn follower_of(&self, not: NodeId) -> NodeId {
        self.running()
            .into_iter()
            .find(|id| *id != not)
            .expect("a follower")
    }

    /// Form the cluster with `bootstrap`, wait for a follower to apply
    /// it, and stop that follower: the follower stopped.
    pub async fn form_and_stop_a_follower(&mut self, bootstrap: &str) -> NodeId {
        self.form(bootstrap).await;
        let leader = self.wait_leader().await;
        let down = self.follower_of(leader);
        self.wait_version(down, 1).await;
        self.stop(down).await;
        down
    }

    pub fn member(&self, id: NodeId) -> MemberNode {
        member(id, self.addrs[usize::try_from(id - 1).expect("index")])
    }

    /// Start every node, initialise node 1 with `bootstrap`, and join the
    /// others as learners, then voters (as `rampart cluster join` does).
    pub async fn form(&mut self, bootstrap: &str) -> Version {
        self.form_with(bootstrap, |_| validator()).await
    }

    /// [`Lab::form`], each node with the validator `validators` gives it.
    pub async fn form_with(
        &mut self,
        bootstrap: &str,
        validators: impl Fn(NodeId) -> Validator,
    ) -> Version {
        let n = self.nodes.len() as NodeId;
        for id in 1..=n {
            self.start_with(id, validators(id)).await;
        }
        let v = self
            .node(1)
            .initialize(self.member(1), bootstrap)
            .await
            .expect("initialize");
        assert_eq!(v, 1, "the bootstrap policy is version 1");
        for id in 2..=n {
            let m = self.member(id);
            self.node(1).join(id, m).await.expect("join");
        }
        self.wait_voters(n as usize).await;
        v
    }

    /// Until every running node sees `n` voters.
    pub async fn wait_voters(&self, n: usize) {
        self.wait_voters_among(&self.running(), n).await;
    }

    /// Until each of `ids` sees `n` voters.
    pub async fn wait_voters_among(&self, ids: &[NodeId], n: usize) {
        for &id in ids {
            let node = self.node(id);
            wait_until(&format!("node {id} sees {n} voters"), || {
                let s = node.status();
                s.voters.len() == n && !s.joint
            })
            .await;
        }
    }

    /// Until some running node leads, seen by every running node.
    pub async fn wait_leader(&self) -> NodeId {
        self.wait_leader_among(&self.running()).await
    }

    /// Until one of `ids` leads, seen by each of them.
    pub async fn wait_leader_among(&self, ids: &[NodeId]) -> NodeId {
        let running = ids.to_vec();
        let mut leader = 0;
        wait_until("a leader that every running node follows", || {
            let leaders: Vec<Option<NodeId>> = running
                .iter()
                .map(|id| self.node(*id).status().leader)
                .collect();
            match leaders.first().copied().flatten() {
                Some(l)
                    if leaders.iter().all(|x| *x == Some(l))
                        && running.contains(&l)
                        && self.node(l).status().role == Role::Leader =>
                {
                    leader = l;
                    true
                }
                _ => false,
            }
        })
        .await;
        leader
    }

    /// Until node `id` has applied `version`; returns what it applied.
    pub async fn wait_version(&self, id: NodeId, version: Version) -> AppliedPolicy {
        let mut rx = self.node(id).subscribe();
        tokio::time::timeout(WAIT, rx.wait_for(|p| p.version >= version))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "node {id} did not apply version {version} within {WAIT:?}: {:?}",
                    self.node(id).status()
                )
            })
            .expect("raft running")
            .clone()
    }

    /// A cluster of `n` formed with `policy(7001)`, then `policy(7002)`
    /// written and applied on every node; its leader.
    pub async fn formed_and_written(tag: &str, n: usize) -> (Lab, NodeId) {
        let mut lab = Lab::new(tag, n, test_settings());
        lab.form(&policy(7001)).await;
        let leader = lab.wait_leader().await;
        let v = lab.node(leader).write(&policy(7002)).await.expect("write");
        for id in lab.running() {
            lab.wait_version(id, v).await;
        }
        (lab, leader)
    }

    pub async fn shutdown(mut self) {
        for id in self.running() {
            self.stop(id).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Poll `cond` every 20 ms until it holds or [`WAIT`] passes.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The data directory of node `id` in `lab` (tests look at its files).
pub fn data_dir(lab: &Lab, id: NodeId) -> PathBuf {
    lab.dir.join(format!("node-{id}"))
}
