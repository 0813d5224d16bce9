//! The mesh topology of `rampart lab --nodes N`: a client and a server
//! joined by N paths, one through each node, and a cluster link that all
//! nodes share. Every ordered pair of nodes (i, j) has an address on the
//! client and one on the server whose packets go client→server through
//! node i and server→client through node j, so a flow's forward and
//! return nodes are chosen by the addresses it uses (docs/ARCHITECTURE.md
//! §9). Data addresses are in 198.18.0.0/15, the cluster link in
//! 198.19.255.0/24; everything is removed on drop.

use std::net::Ipv4Addr;

use crate::lab::netns::{Netns, NetnsError, no_ipv6, sh, sysctl};
use crate::lab::proc::NodeSpec;
use crate::lab::topology::SYNC_HUB;

/// The fewest nodes of a mesh lab: one asymmetric pair.
pub const MIN_MESH_NODES: usize = 2;
/// The most nodes of a mesh lab: its node table below (names `fw-a` to
/// `fw-f`), and 36 ordered pairs of addresses on each host.
pub const MAX_MESH_NODES: usize = 6;

/// The first routing table of the hosts' per-node tables (table
/// `MESH_TABLE_BASE + i` routes through node i).
const MESH_TABLE_BASE: usize = 100;
/// The preference of the hosts' source-address rules: before the main
/// table's (32766), after the local table's (0).
const RULE_PREF: &str = "1000";

/// The client's pair addresses (`198.18.10.x/32` on its loopback).
const CLIENT_PAIR_NET: [u8; 3] = [198, 18, 10];
/// The server's pair addresses (`198.18.20.x/32` on its loopback).
const SERVER_PAIR_NET: [u8; 3] = [198, 18, 20];

/// A mesh node: id, name, letter (of its namespace and devices), cluster
/// address. Node i's segment is 198.18.(i+1).0/24; `fw-a` and `fw-b` are
/// named, numbered and addressed as in the two-node lab.
const MESH_NODES: [(u16, &str, &str, &str); MAX_MESH_NODES] = [
    (1, "fw-a", "a", "198.19.255.1"),
    (2, "fw-b", "b", "198.19.255.2"),
    (3, "fw-c", "c", "198.19.255.3"),
    (4, "fw-d", "d", "198.19.255.4"),
    (5, "fw-e", "e", "198.19.255.5"),
    (6, "fw-f", "f", "198.19.255.6"),
];

/// The node devices of each letter: (inside `c?1`, outside `?s1`), as the
/// two-node lab names them (`ca1`/`as1` for A).
const MESH_DEVICES: [(&str, &str); MAX_MESH_NODES] = [
    ("ca1", "as1"),
    ("cb1", "bs1"),
    ("cc1", "cs1"),
    ("cd1", "ds1"),
    ("ce1", "es1"),
    ("cf1", "fs1"),
];

/// How many nodes a mesh lab has: 2 to 6, checked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCount(usize);

impl NodeCount {
    /// `n` if a mesh lab can have that many nodes.
    pub fn new(n: usize) -> Option<NodeCount> {
        (MIN_MESH_NODES..=MAX_MESH_NODES)
            .contains(&n)
            .then_some(NodeCount(n))
    }

    /// The number.
    pub fn get(self) -> usize {
        self.0
    }
}

/// Node `i` (0 = `fw-a`) of the mesh lab with `workers` worker threads.
///
/// # Panics
/// If `i` is not below [`MAX_MESH_NODES`].
pub const fn mesh_node(i: usize, workers: usize) -> NodeSpec {
    let (id, name, _, sync) = MESH_NODES[i];
    let (inside, outside) = MESH_DEVICES[i];
    NodeSpec {
        id,
        name,
        inside,
        outside,
        sync,
        workers,
        conn_log: false,
    }
}

/// The last octet of pair (i, j)'s addresses: `1` then `j + 1` after
/// `i + 1` tens, so pair (fw-a, fw-b) is `.12` on both hosts.
fn pair_octet(i: usize, j: usize) -> u8 {
    debug_assert!(i < MAX_MESH_NODES && j < MAX_MESH_NODES);
    (10 * (i + 1) + j + 1) as u8
}

/// The client's address of pair (i, j): packets from it to the server
/// cross node i.
pub fn client_addr(i: usize, j: usize) -> Ipv4Addr {
    let [a, b, c] = CLIENT_PAIR_NET;
    Ipv4Addr::new(a, b, c, pair_octet(i, j))
}

/// The server's address of pair (i, j): packets from it to the client
/// cross node j.
pub fn server_addr(i: usize, j: usize) -> Ipv4Addr {
    let [a, b, c] = SERVER_PAIR_NET;
    Ipv4Addr::new(a, b, c, pair_octet(i, j))
}

/// The mesh topology.
///
/// Segment of node i (letter `x`, `a` for i = 0): client `cx0`
/// 198.18.(i+1).10/24 — node (`cx1` inside, `xs1` outside) — server `xs0`
/// 198.18.(i+1).20/24. Cluster link: `sync0` in each node namespace
/// (198.19.255.(i+1)/24), a veth to port `kx` of bridge `br0` in the hub
/// namespace (198.19.255.9/24), apart from the data path as an ASA cluster
/// control link is.
///
/// Pair addresses: for every ordered pair (i, j) the client has
/// [`client_addr`] and the server [`server_addr`] (/32 on their
/// loopbacks). Each host routes by source address: a rule sends what the
/// client sends from pair (i, j) to table 100+i (the server's pair
/// addresses via node i's segment), and what the server sends from pair
/// (i, j) to table 100+j (the client's via node j's). Reverse-path
/// filtering is off on both hosts, since replies arrive on another link.
#[derive(Debug)]
pub struct MeshLab {
    /// The client host.
    pub client: Netns,
    /// The server host.
    pub server: Netns,
    /// The node namespaces, `fw-a` first.
    pub nodes: Vec<Netns>,
    /// The cluster network's switch (a bridge `br0`).
    pub hub: Netns,
}

impl MeshLab {
    /// Build it with `n` nodes under `prefix` (short and unique):
    /// namespaces `<prefix>-c` (client), `-s` (server), `-k` (hub) and
    /// one named after each node, `<prefix>-fw-a` to `<prefix>-fw-f`.
    pub fn new(prefix: &str, n: NodeCount) -> Result<MeshLab, NetnsError> {
        // Each namespace made so far is removed on drop if a later step
        // fails.
        let client = Netns::new(&format!("{prefix}-c"))?;
        let server = Netns::new(&format!("{prefix}-s"))?;
        let hub = Netns::new(&format!("{prefix}-k"))?;
        let mut nodes = Vec::with_capacity(n.get());
        for (_, name, _, _) in &MESH_NODES[..n.get()] {
            nodes.push(Netns::new(&format!("{prefix}-{name}"))?);
        }
        let lab = MeshLab {
            client,
            server,
            nodes,
            hub,
        };
        lab.build()?;
        Ok(lab)
    }

    /// The namespace names: client, server, hub, then the nodes.
    pub fn names(&self) -> Vec<&str> {
        [&self.client, &self.server, &self.hub]
            .into_iter()
            .chain(&self.nodes)
            .map(Netns::name)
            .collect()
    }

    /// How many nodes it has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn build(&self) -> Result<(), NetnsError> {
        let (c, s, k) = (self.client.name(), self.server.name(), self.hub.name());
        // IPv4 only: no IPv6 autoconfiguration or MLD noise on the links.
        for ns in [&self.client, &self.server].into_iter().chain(&self.nodes) {
            no_ipv6(ns.name())?;
        }
        sh(&["ip", "-n", k, "link", "add", "br0", "type", "bridge"])?;
        let hub_addr = format!("{SYNC_HUB}/24");
        sh(&["ip", "-n", k, "addr", "add", &hub_addr, "dev", "br0"])?;
        sh(&["ip", "-n", k, "link", "set", "br0", "up"])?;
        for (i, node) in self.nodes.iter().enumerate() {
            self.node_links(i, node.name())?;
        }
        for ns in [c, s] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            // Replies arrive on another link than requests leave by:
            // strict reverse-path filtering would drop them before the
            // firewall matters.
            for key in ["all", "default"] {
                sysctl(ns, &format!("net.ipv4.conf.{key}.rp_filter=0"))?;
            }
        }
        let n = self.node_count();
        for i in 0..n {
            for j in 0..n {
                let (ca, sa) = (client_addr(i, j), server_addr(i, j));
                sh(&[
                    "ip",
                    "-n",
                    c,
                    "addr",
                    "add",
                    &format!("{ca}/32"),
                    "dev",
                    "lo",
                ])?;
                sh(&[
                    "ip",
                    "-n",
                    s,
                    "addr",
                    "add",
                    &format!("{sa}/32"),
                    "dev",
                    "lo",
                ])?;
                let (fwd, ret) = (
                    (MESH_TABLE_BASE + i).to_string(),
                    (MESH_TABLE_BASE + j).to_string(),
                );
                sh(&[
                    "ip",
                    "-n",
                    c,
                    "rule",
                    "add",
                    "from",
                    &ca.to_string(),
                    "lookup",
                    &fwd,
                    "pref",
                    RULE_PREF,
                ])?;
                sh(&[
                    "ip",
                    "-n",
                    s,
                    "rule",
                    "add",
                    "from",
                    &sa.to_string(),
                    "lookup",
                    &ret,
                    "pref",
                    RULE_PREF,
                ])?;
            }
        }
        Ok(())
    }

    /// Node i's segment (its two veth pairs, addresses, offloads off,
    /// rp_filter off on the hosts' ends), its port on the hub, and the
    /// hosts' table 100+i through it.
    fn node_links(&self, i: usize, node: &str) -> Result<(), NetnsError> {
        let (c, s, k) = (self.client.name(), self.server.name(), self.hub.name());
        let (_, _, x, sync) = MESH_NODES[i];
        let (inside, outside) = MESH_DEVICES[i];
        let (cdev, sdev, port) = (format!("c{x}0"), format!("{x}s0"), format!("k{x}"));
        let net = i + 1;
        let (caddr, saddr) = (format!("198.18.{net}.10"), format!("198.18.{net}.20"));
        for (ns, dev, peer) in [(c, cdev.as_str(), inside), (s, sdev.as_str(), outside)] {
            sh(&[
                "ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer, "netns",
                node,
            ])?;
        }
        sh(&[
            "ip",
            "-n",
            c,
            "addr",
            "add",
            &format!("{caddr}/24"),
            "dev",
            &cdev,
        ])?;
        sh(&[
            "ip",
            "-n",
            s,
            "addr",
            "add",
            &format!("{saddr}/24"),
            "dev",
            &sdev,
        ])?;
        // Segmentation offloads off, as in the two-node lab: AF_PACKET
        // would otherwise hand the node 64 KiB super-frames it cannot
        // send as they are.
        for (ns, dev) in [
            (c, cdev.as_str()),
            (s, sdev.as_str()),
            (node, inside),
            (node, outside),
        ] {
            sh(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off",
            ])?;
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        for (ns, dev) in [(c, &cdev), (s, &sdev)] {
            sysctl(ns, &format!("net.ipv4.conf.{dev}.rp_filter=0"))?;
        }
        // The cluster link.
        sh(&[
            "ip", "-n", node, "link", "add", "sync0", "type", "veth", "peer", "name", &port,
            "netns", k,
        ])?;
        sh(&["ip", "-n", k, "link", "set", &port, "master", "br0"])?;
        sh(&["ip", "-n", k, "link", "set", &port, "up"])?;
        sh(&[
            "ip",
            "-n",
            node,
            "addr",
            "add",
            &format!("{sync}/24"),
            "dev",
            "sync0",
        ])?;
        sh(&["ip", "-n", node, "link", "set", "sync0", "up"])?;
        sh(&["ip", "-n", node, "link", "set", "lo", "up"])?;
        // Table 100+i on each host: the other host's pair addresses via
        // node i's segment.
        let table = (MESH_TABLE_BASE + i).to_string();
        let [a, b, n3] = SERVER_PAIR_NET;
        let servers = format!("{a}.{b}.{n3}.0/24");
        let [a, b, n3] = CLIENT_PAIR_NET;
        let clients = format!("{a}.{b}.{n3}.0/24");
        sh(&[
            "ip", "-n", c, "route", "add", &servers, "via", &saddr, "dev", &cdev, "table", &table,
        ])?;
        sh(&[
            "ip", "-n", s, "route", "add", &clients, "via", &caddr, "dev", &sdev, "table", &table,
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ordered_pair_has_addresses_of_its_own() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..MAX_MESH_NODES {
            for j in 0..MAX_MESH_NODES {
                assert!(seen.insert(client_addr(i, j)), "client ({i},{j})");
                assert!(seen.insert(server_addr(i, j)), "server ({i},{j})");
            }
        }
        assert_eq!(client_addr(0, 1), Ipv4Addr::new(198, 18, 10, 12));
        assert_eq!(server_addr(5, 5), Ipv4Addr::new(198, 18, 20, 66));
    }

    #[test]
    fn the_first_two_nodes_are_the_two_node_labs() {
        use crate::lab::proc::asym_node;
        for i in 0..2 {
            let (m, a) = (mesh_node(i, 1), asym_node(i, 1));
            assert_eq!(
                (m.id, m.name, m.inside, m.outside, m.sync),
                (a.id, a.name, a.inside, a.outside, a.sync)
            );
        }
    }

    #[test]
    fn a_mesh_has_two_to_six_nodes() {
        assert_eq!(NodeCount::new(1), None);
        assert_eq!(NodeCount::new(2).map(NodeCount::get), Some(2));
        assert_eq!(NodeCount::new(6).map(NodeCount::get), Some(6));
        assert_eq!(NodeCount::new(7), None);
    }
}
