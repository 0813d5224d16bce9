//! Real traffic across the mesh lab: each flow goes out through one node
//! and comes back through another (or the same, for symmetric flows),
//! the pair drawn from a seeded generator so a run can be replayed. TCP
//! connections carry a payload checked by digest, UDP exchanges echo a
//! datagram. Every kind is bounded in flows and in time; `stop` ends it
//! early (Ctrl-C).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::topology::{MeshLab, NodeCount, client_addr, server_addr};
use crate::lab::LabError;
use crate::lab::lossy::next as splitmix64;
use crate::lab::report::KindReport;
use crate::lab::traffic::{
    Failure, Failures, SERVER_GRACE, UDP_PORT, client_against_server, one_tcp, serve_tcp,
    serve_udp, socket_error,
};

/// How long the client waits for an echoed datagram (one try: a lost
/// reply is a failure, as in the two-node lab).
const UDP_REPLY_WAIT: Duration = Duration::from_secs(1);

/// One flow's path: out through node `fwd`, back through node `ret`
/// (indices, 0 = `fw-a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// The node client→server packets cross.
    pub fwd: usize,
    /// The node server→client packets cross.
    pub ret: usize,
}

impl Flow {
    /// The client's address of this flow's pair.
    pub fn client(self) -> Ipv4Addr {
        client_addr(self.fwd, self.ret)
    }

    /// The server's address of this flow's pair.
    pub fn server(self) -> Ipv4Addr {
        server_addr(self.fwd, self.ret)
    }
}

/// `count` flows over `nodes` nodes drawn from `rng` (splitmix64 state):
/// symmetric flows use one node both ways, asymmetric ones two different
/// nodes.
pub fn plan(rng: &mut u64, nodes: NodeCount, count: usize, symmetric: bool) -> Vec<Flow> {
    let n = nodes.get() as u64;
    (0..count)
        .map(|_| {
            let fwd = splitmix64(rng) % n;
            let ret = if symmetric {
                fwd
            } else {
                // One of the n - 1 other nodes, uniformly.
                (fwd + 1 + splitmix64(rng) % (n - 1)) % n
            };
            Flow {
                fwd: fwd as usize,
                ret: ret as usize,
            }
        })
        .collect()
}

/// A kind's outcome and the flows that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindOutcome {
    /// Attempted, succeeded, bytes verified.
    pub report: KindReport,
    /// The flows that failed, in order.
    pub failed: Vec<Flow>,
}

/// What the client side of a kind counted.
#[derive(Debug, Default)]
struct ClientTally {
    attempted: usize,
    succeeded: usize,
    verified: usize,
    failed: Vec<Flow>,
    failures: Failures,
}

impl ClientTally {
    fn outcome(self, name: &str) -> KindOutcome {
        KindOutcome {
            report: KindReport::new(name, self.attempted, self.succeeded, self.verified)
                .with_failures(self.failures.into_map()),
            failed: self.failed,
        }
    }
}

/// TCP connections along `flows` to the server's pair addresses on
/// `port`, each sending `bytes` and checking the server's digest of what
/// arrived; no new connection starts after `limit`.
pub fn tcp_kind(
    lab: &MeshLab,
    name: &str,
    flows: Vec<Flow>,
    port: u16,
    bytes: usize,
    limit: Duration,
    stop: &'static AtomicBool,
) -> Result<KindOutcome, LabError> {
    // Bound in the server's namespace before the first connection, so no
    // SYN finds the port closed; a socket stays in the namespace it was
    // made in.
    let listener = lab
        .server
        .run(move || TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)))?
        .map_err(socket_error(format!("listening on TCP port {port}")))?;
    listener
        .set_nonblocking(true)
        .map_err(socket_error(format!("TCP port {port} non-blocking")))?;
    let deadline = Instant::now() + limit + SERVER_GRACE;
    let serve = move |done: &AtomicBool| serve_tcp(&listener, done, deadline, stop);
    let tally = client_against_server(&lab.server, &lab.client, serve, move || {
        let payload: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
        let t0 = Instant::now();
        let mut t = ClientTally::default();
        for f in flows {
            if stop.load(Ordering::Relaxed) || t0.elapsed() >= limit {
                break;
            }
            t.attempted += 1;
            match one_tcp(f.client(), f.server(), port, &payload) {
                Ok(()) => {
                    t.succeeded += 1;
                    t.verified += payload.len();
                }
                Err(why) => {
                    t.failed.push(f);
                    t.failures.add(why);
                }
            }
        }
        t
    })?;
    Ok(tally.outcome(name))
}

/// UDP request/response exchanges along `flows` (one datagram each way,
/// one socket per flow); no new exchange starts after `limit`.
pub fn udp_kind(
    lab: &MeshLab,
    name: &str,
    flows: Vec<Flow>,
    limit: Duration,
    stop: &'static AtomicBool,
) -> Result<KindOutcome, LabError> {
    // One socket per server address the flows use, each bound to it, so
    // an echo leaves from the address the client sent to and the
    // server's source rule picks the flow's return node.
    let addrs: BTreeSet<Ipv4Addr> = flows.iter().map(|f| f.server()).collect();
    let sockets = lab
        .server
        .run(move || {
            addrs
                .iter()
                .map(|a| UdpSocket::bind((*a, UDP_PORT)))
                .collect::<std::io::Result<Vec<_>>>()
        })?
        .map_err(socket_error(format!("binding UDP port {UDP_PORT}")))?;
    for s in &sockets {
        s.set_nonblocking(true)
            .map_err(socket_error(format!("UDP port {UDP_PORT} non-blocking")))?;
    }
    let deadline = Instant::now() + limit + SERVER_GRACE;
    let serve = move |done: &AtomicBool| serve_udp(&sockets, done, deadline, stop);
    let tally = client_against_server(&lab.server, &lab.client, serve, move || {
        let t0 = Instant::now();
        let mut t = ClientTally::default();
        for (k, f) in flows.into_iter().enumerate() {
            if stop.load(Ordering::Relaxed) || t0.elapsed() >= limit {
                break;
            }
            t.attempted += 1;
            match one_udp(f, k) {
                Ok(n) => {
                    t.succeeded += 1;
                    t.verified += n;
                }
                Err(why) => {
                    t.failed.push(f);
                    t.failures.add(why);
                }
            }
        }
        t
    })?;
    Ok(tally.outcome(name))
}

/// One exchange of flow `f` (the `k`th): the bytes echoed intact, or
/// the step it failed at.
fn one_udp(f: Flow, k: usize) -> Result<usize, Failure> {
    let s = UdpSocket::bind((f.client(), 0)).map_err(|_| Failure::Socket)?;
    s.set_read_timeout(Some(UDP_REPLY_WAIT))
        .map_err(|_| Failure::Socket)?;
    let msg = format!("rampart mesh lab datagram {k}");
    s.send_to(msg.as_bytes(), (f.server(), UDP_PORT))
        .map_err(|_| Failure::Send)?;
    let mut buf = [0u8; 2048];
    let n = s.recv(&mut buf).map_err(|_| Failure::Reply)?;
    if &buf[..n] == msg.as_bytes() {
        Ok(n)
    } else {
        Err(Failure::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> NodeCount {
        NodeCount::new(n).expect("a mesh size")
    }

    #[test]
    fn asymmetric_flows_use_two_different_nodes_and_cover_the_pairs() {
        let mut rng = 7;
        let flows = plan(&mut rng, nodes(4), 400, false);
        assert!(
            flows
                .iter()
                .all(|f| f.fwd != f.ret && f.fwd < 4 && f.ret < 4)
        );
        let pairs: BTreeSet<(usize, usize)> = flows.iter().map(|f| (f.fwd, f.ret)).collect();
        assert_eq!(pairs.len(), 12, "every ordered pair of 4 nodes: {pairs:?}");
    }

    #[test]
    fn symmetric_flows_use_one_node_both_ways() {
        let mut rng = 7;
        let flows = plan(&mut rng, nodes(3), 100, true);
        assert!(flows.iter().all(|f| f.fwd == f.ret && f.fwd < 3));
        let used: BTreeSet<usize> = flows.iter().map(|f| f.fwd).collect();
        assert_eq!(used.len(), 3);
    }

    #[test]
    fn a_seed_replays_its_plan() {
        let run = |seed: u64| {
            let mut rng = seed;
            plan(&mut rng, nodes(6), 50, false)
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn two_nodes_alternate_for_asymmetric_flows() {
        let mut rng = 1;
        for f in plan(&mut rng, nodes(2), 20, false) {
            assert_eq!(f.ret, 1 - f.fwd);
        }
    }
}
