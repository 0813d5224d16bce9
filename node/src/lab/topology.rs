//! The lab's topologies, built in network namespaces: [`Lab`] (a client
//! and a server joined only through one node namespace) and [`AsymLab`]
//! (the asymmetric topology: two paths through two nodes, and a cluster
//! link). Data addresses are in 198.18.0.0/15, the cluster link in
//! 198.19.255.0/24; everything is removed on drop.

use super::netns::{Netns, NetnsError, NsThread, no_ipv6, sh, sysctl};

/// Client `198.18.0.10/24` on `c0`, server `198.18.0.20/24` on `s0`, and a
/// node namespace holding `c1` (inside) and `s1` (outside), no addresses,
/// and its loopback up (for a node's admin API).
#[derive(Debug)]
pub struct Lab {
    client: Netns,
    server: Netns,
    node: Netns,
}

/// A namespace of [`Lab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client host (`c0`).
    Client,
    /// The server host (`s0`).
    Server,
    /// The node between them (`c1`, `s1`).
    Node,
}

impl Lab {
    /// The namespace of a role.
    pub fn netns(&self, role: Role) -> &Netns {
        match role {
            Role::Client => &self.client,
            Role::Server => &self.server,
            Role::Node => &self.node,
        }
    }

    /// The namespace name of a role.
    pub fn ns(&self, role: Role) -> String {
        self.netns(role).name().to_string()
    }

    /// Build the topology under `prefix` (keep it short and unique), with
    /// segmentation offloads off on every link.
    pub fn new(prefix: &str) -> Result<Lab, NetnsError> {
        Lab::build(prefix, false)
    }

    /// The same with the links' offloads as the kernel sets them (TSO, GSO
    /// and GRO on): TCP crosses as 64 KiB super-packets.
    pub fn with_offloads(prefix: &str) -> Result<Lab, NetnsError> {
        Lab::build(prefix, true)
    }

    fn build(prefix: &str, offloads: bool) -> Result<Lab, NetnsError> {
        let lab = Lab {
            client: Netns::new(&format!("{prefix}-c"))?,
            server: Netns::new(&format!("{prefix}-s"))?,
            node: Netns::new(&format!("{prefix}-n"))?,
        };
        let (c, s, n) = (
            lab.ns(Role::Client),
            lab.ns(Role::Server),
            lab.ns(Role::Node),
        );
        sh(&[
            "ip", "-n", &c, "link", "add", "c0", "type", "veth", "peer", "name", "c1", "netns", &n,
        ])?;
        sh(&[
            "ip", "-n", &s, "link", "add", "s0", "type", "veth", "peer", "name", "s1", "netns", &n,
        ])?;
        sh(&["ip", "-n", &c, "addr", "add", "198.18.0.10/24", "dev", "c0"])?;
        sh(&["ip", "-n", &s, "addr", "add", "198.18.0.20/24", "dev", "s0"])?;
        // Segmentation offloads off: AF_PACKET would otherwise hand the
        // bridge 64 KiB super-frames it cannot send as they are. Transmit
        // checksums stay partial, which the bridge completes.
        for (ns, dev) in [(&c, "c0"), (&s, "s0"), (&n, "c1"), (&n, "s1")] {
            if !offloads {
                sh(&[
                    "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                    "gro", "off",
                ])?;
            }
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        sh(&["ip", "-n", &n, "link", "set", "lo", "up"])?;
        Ok(lab)
    }

    /// Give the client and the server IPv6 addresses too: 2001:2::10/64 on
    /// `c0` and 2001:2::20/64 on `s0` (benchmarking addresses, RFC 5180
    /// §5), usable at once (no duplicate address detection).
    pub fn add_ipv6(&self) -> Result<(), NetnsError> {
        for (role, addr, dev) in [
            (Role::Client, "2001:2::10/64", "c0"),
            (Role::Server, "2001:2::20/64", "s0"),
        ] {
            sh(&[
                "ip",
                "-n",
                &self.ns(role),
                "addr",
                "add",
                addr,
                "dev",
                dev,
                "nodad",
            ])?;
        }
        Ok(())
    }

    /// Start `exe` as a standalone node `fw-a` (id 1) between `c1` (inside)
    /// and `s1` (outside) in the node's namespace, with `workers` workers
    /// and `policy` as its policy file, its files under `dir`; returns once
    /// it is ready.
    pub fn start_node(
        &self,
        exe: &std::path::Path,
        dir: &std::path::Path,
        policy: &str,
        workers: usize,
    ) -> Result<super::NodeProc, super::NodeError> {
        std::fs::create_dir_all(dir).map_err(|source| super::NodeError::File {
            path: dir.to_path_buf(),
            source,
        })?;
        let policy_file = dir.join("policy.cfg");
        std::fs::write(&policy_file, policy).map_err(|source| super::NodeError::File {
            path: policy_file,
            source,
        })?;
        let me = super::NodeSpec {
            id: 1,
            name: "fw-a",
            inside: "c1",
            outside: "s1",
            sync: "127.0.0.1",
            workers,
            conn_log: false,
        };
        let file = super::write_standalone(dir, &me, "")?;
        let mut node = super::NodeProc::start(self.netns(Role::Node), exe, &file, me.name)?;
        node.wait_ready(std::time::Duration::from_secs(10))?;
        Ok(node)
    }

    /// Run `f` on a new thread inside namespace `role`.
    pub fn spawn<T: Send + 'static>(
        &self,
        role: Role,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<NsThread<T>, NetnsError> {
        self.netns(role).spawn(f)
    }
}

/// The asymmetric topology (see `docs/ARCHITECTURE.md`): a client and a server with two
/// links each, one through node A and one through node B.
///
/// Segment A: client `ca0` 198.18.1.10/24 — node A (`ca1` inside, `as1`
/// outside) — server `as0` 198.18.1.20/24. Segment B: client `cb0`
/// 198.18.2.10/24 — node B (`cb1`, `bs1`) — server `bs0` 198.18.2.20/24.
/// Cluster link: `sync0` in node A (198.19.255.1/24) and in node B
/// (198.19.255.2/24), each a veth to a bridge in a hub namespace, apart
/// from the data path as an ASA cluster control link is; a third node
/// can join the same segment ([`AsymLab::third_node`]).
/// Service addresses on the hosts' loopbacks: for asymmetric traffic the
/// client uses 198.18.10.10 and the server 198.18.20.20, routed
/// client→server via A and server→client via B; for symmetric traffic
/// 198.18.10.11 and 198.18.20.21, routed both ways via A.
#[derive(Debug)]
pub struct AsymLab {
    /// Client, server, node A, node B.
    pub client: Netns,
    /// The server host.
    pub server: Netns,
    /// Node A (client→server path).
    pub node_a: Netns,
    /// Node B (server→client path).
    pub node_b: Netns,
    /// The cluster network's switch (a bridge `br0`).
    pub hub: Netns,
}

/// Node A's address on the cluster (sync) link between the two nodes.
pub const SYNC_A: &str = "198.19.255.1";
/// Node B's address on the cluster link.
pub const SYNC_B: &str = "198.19.255.2";
/// The hub's own address on the cluster link (where a user-space link
/// emulator can listen, such as the chaos suite's lossy relay).
pub const SYNC_HUB: &str = "198.19.255.9";
/// A third node's address on the cluster link.
pub const SYNC_C: &str = "198.19.255.3";
/// The cluster link's device in each node's namespace (for `tc netem`).
pub const SYNC_DEV: &str = "sync0";

/// Client address for asymmetric flows.
pub const ASYM_CLIENT: &str = "198.18.10.10";
/// Server address for asymmetric flows.
pub const ASYM_SERVER: &str = "198.18.20.20";
/// Client address for asymmetric IPv6 flows ([`AsymLab::add_ipv6`];
/// benchmarking addresses, RFC 5180 §5).
pub const ASYM_CLIENT_V6: &str = "2001:2:0:10::10";
/// Server address for asymmetric IPv6 flows.
pub const ASYM_SERVER_V6: &str = "2001:2:0:20::20";
/// Client address for symmetric flows.
pub const SYM_CLIENT: &str = "198.18.10.11";
/// Server address for symmetric flows.
pub const SYM_SERVER: &str = "198.18.20.21";

impl AsymLab {
    /// Leave the namespaces in place (for `rampart lab up`; `lab down`
    /// removes them by name).
    pub fn keep(self) {
        std::mem::forget(self);
    }

    /// The namespace names, client first.
    pub fn names(&self) -> [&str; 5] {
        [
            self.client.name(),
            self.server.name(),
            self.node_a.name(),
            self.node_b.name(),
            self.hub.name(),
        ]
    }

    /// Build it under `prefix` (short and unique per test).
    pub fn new(prefix: &str) -> Result<AsymLab, NetnsError> {
        let lab = AsymLab {
            client: Netns::new(&format!("{prefix}-c"))?,
            server: Netns::new(&format!("{prefix}-s"))?,
            node_a: Netns::new(&format!("{prefix}-a"))?,
            node_b: Netns::new(&format!("{prefix}-b"))?,
            hub: Netns::new(&format!("{prefix}-k"))?,
        };
        // IPv4 only: no IPv6 autoconfiguration or MLD noise on the links.
        for ns in [&lab.client, &lab.server, &lab.node_a, &lab.node_b] {
            no_ipv6(ns.name())?;
        }
        let k = lab.hub.name();
        sh(&["ip", "-n", k, "link", "add", "br0", "type", "bridge"])?;
        sh(&[
            "ip",
            "-n",
            k,
            "addr",
            "add",
            "198.19.255.9/24",
            "dev",
            "br0",
        ])?;
        sh(&["ip", "-n", k, "link", "set", "br0", "up"])?;
        switch_only(k);
        let (c, s, a, b) = (
            lab.client.name(),
            lab.server.name(),
            lab.node_a.name(),
            lab.node_b.name(),
        );
        for (ns, dev, peer_ns, peer) in [
            (c, "ca0", a, "ca1"),
            (s, "as0", a, "as1"),
            (c, "cb0", b, "cb1"),
            (s, "bs0", b, "bs1"),
        ] {
            sh(&[
                "ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer, "netns",
                peer_ns,
            ])?;
        }
        for (ns, addr, dev) in [
            (c, "198.18.1.10/24", "ca0"),
            (c, "198.18.2.10/24", "cb0"),
            (s, "198.18.1.20/24", "as0"),
            (s, "198.18.2.20/24", "bs0"),
            (c, "198.18.10.10/32", "lo"),
            (c, "198.18.10.11/32", "lo"),
            (s, "198.18.20.20/32", "lo"),
            (s, "198.18.20.21/32", "lo"),
        ] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev])?;
        }
        for (ns, dev) in [
            (c, "ca0"),
            (c, "cb0"),
            (s, "as0"),
            (s, "bs0"),
            (a, "ca1"),
            (a, "as1"),
            (b, "cb1"),
            (b, "bs1"),
        ] {
            sh(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off",
            ])?;
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        for (ns, port) in [(a, "ka"), (b, "kb")] {
            lab.hub_port(ns, port)?;
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        for (ns, devs) in [(c, ["ca0", "cb0"]), (s, ["as0", "bs0"])] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            // Replies arrive on the other link: strict reverse-path
            // filtering would drop them before the firewall matters.
            for key in ["all", "default", devs[0], devs[1]] {
                sysctl(ns, &format!("net.ipv4.conf.{key}.rp_filter=0"))?;
            }
        }
        // Asymmetric: client->server via A, server->client via B.
        // Symmetric: both ways via A.
        for (ns, dst, via, dev) in [
            (c, "198.18.20.20/32", "198.18.1.20", "ca0"),
            (c, "198.18.20.21/32", "198.18.1.20", "ca0"),
            (s, "198.18.10.10/32", "198.18.2.10", "bs0"),
            (s, "198.18.10.11/32", "198.18.1.10", "as0"),
        ] {
            sh(&["ip", "-n", ns, "route", "add", dst, "via", via, "dev", dev])?;
        }
        for (ns, addr) in [(a, "198.19.255.1/24"), (b, "198.19.255.2/24")] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", "sync0"])?;
        }
        Ok(lab)
    }

    /// Give the client and the server IPv6 too, on the same asymmetric
    /// paths: [`ASYM_CLIENT_V6`] to [`ASYM_SERVER_V6`] via A, back via B
    /// (links 2001:2:0:1::/64 through A, 2001:2:0:2::/64 through B; no
    /// duplicate address detection, no router advertisements taken). The
    /// nodes' namespaces keep IPv6 off: they bridge frames, they have no
    /// address on the data links.
    pub fn add_ipv6(&self) -> Result<(), NetnsError> {
        let (c, s) = (self.client.name(), self.server.name());
        for (ns, devs) in [(c, ["lo", "ca0", "cb0"]), (s, ["lo", "as0", "bs0"])] {
            for key in ["all", "default", devs[0], devs[1], devs[2]] {
                sysctl(ns, &format!("net.ipv6.conf.{key}.disable_ipv6=0"))?;
                sysctl(ns, &format!("net.ipv6.conf.{key}.accept_ra=0"))?;
            }
        }
        for (ns, addr, dev) in [
            (c, "2001:2:0:1::10/64", "ca0"),
            (c, "2001:2:0:2::10/64", "cb0"),
            (s, "2001:2:0:1::20/64", "as0"),
            (s, "2001:2:0:2::20/64", "bs0"),
            (c, "2001:2:0:10::10/128", "lo"),
            (s, "2001:2:0:20::20/128", "lo"),
        ] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad"])?;
        }
        for (ns, dst, via, dev) in [
            (c, "2001:2:0:20::20/128", "2001:2:0:1::20", "ca0"),
            (s, "2001:2:0:10::10/128", "2001:2:0:2::10", "bs0"),
        ] {
            sh(&[
                "ip", "-n", ns, "-6", "route", "add", dst, "via", via, "dev", dev,
            ])?;
        }
        Ok(())
    }

    /// Connect `sync0` in namespace `ns` to the hub's bridge as `port`.
    fn hub_port(&self, ns: &str, port: &str) -> Result<(), NetnsError> {
        let k = self.hub.name();
        sh(&[
            "ip", "-n", ns, "link", "add", "sync0", "type", "veth", "peer", "name", port, "netns",
            k,
        ])?;
        sh(&["ip", "-n", k, "link", "set", port, "master", "br0"])?;
        sh(&["ip", "-n", k, "link", "set", port, "up"])?;
        sh(&["ip", "-n", ns, "link", "set", "sync0", "up"])
    }

    /// A third node's namespace `<prefix>-n3`: on the cluster link as
    /// [`SYNC_C`], with two data interfaces `nc1` and `ns1` (veths whose
    /// other ends stay unused in the same namespace), so it can join the
    /// cluster and hold state without carrying traffic. Removed on drop.
    pub fn third_node(&self) -> Result<Netns, NetnsError> {
        let name = self.hub.name().trim_end_matches("-k").to_string() + "-n3";
        let n = Netns::new(&name)?;
        no_ipv6(n.name())?;
        self.hub_port(n.name(), "kc")?;
        sh(&[
            "ip",
            "-n",
            n.name(),
            "addr",
            "add",
            "198.19.255.3/24",
            "dev",
            "sync0",
        ])?;
        for (dev, peer) in [("nc1", "nc0"), ("ns1", "ns0")] {
            sh(&[
                "ip",
                "-n",
                n.name(),
                "link",
                "add",
                dev,
                "type",
                "veth",
                "peer",
                "name",
                peer,
            ])?;
            sh(&["ip", "-n", n.name(), "link", "set", dev, "up"])?;
            sh(&["ip", "-n", n.name(), "link", "set", peer, "up"])?;
        }
        sh(&["ip", "-n", n.name(), "link", "set", "lo", "up"])?;
        Ok(n)
    }
}

/// The hub's bridge stands for the cluster network's switch, which runs
/// no firewall: with `br_netfilter` loaded (the kernel baselines of the
/// lab benchmarks load it) the kernel would pass every cluster datagram
/// through the hub namespace's iptables hooks, a cost no real cluster
/// link has. Its `bridge-nf-call-*` settings are per namespace; absent
/// when the module is not loaded, and then there is nothing to turn off.
fn switch_only(hub: &str) {
    for table in ["iptables", "ip6tables", "arptables"] {
        let key = format!("net.bridge.bridge-nf-call-{table}=0");
        let _ = sh(&["ip", "netns", "exec", hub, "sysctl", "-qw", &key]);
    }
}
