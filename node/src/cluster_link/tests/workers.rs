//! Two nodes of two workers each on an asymmetric path (the client's
//! packets cross node A, the server's node B): each worker's engine is
//! the node's (`worker_engine_config`), the kernel's fanout program
//! (interpreted) gives each frame its worker, and the driver's own routing
//! (`DriverEnd::route`) takes what one node's engines tell the other to
//! the workers of that node, as the sync protocol would hand it over:
//! changes, acknowledgements, pulls and their answers. A flow's state
//! must reach the worker its packets reach (docs/io.md §9).

use super::*;
use rampart_afpacket::fanout::interp::kernel_worker;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::PullOut;
use rampart_dataplane::flow::{Tuple, proto};
use rampart_dataplane::trace::{Side, TcpModel, v4_pair, v6_pair};
use rampart_dataplane::{EngineConfig, Verdict};

/// Workers per node.
const WORKERS: usize = 2;

struct Node {
    id: u16,
    engines: Vec<Engine>,
    ports: Vec<Port>,
    end: DriverEnd,
}

impl Node {
    fn new(id: u16) -> Node {
        let mut cfg = EngineConfig::inside_outside(NodeId(id), [u64::from(id), 2, 3, 4]);
        cfg.sync = Some(SyncConfig::default());
        let engines = (0..WORKERS)
            .map(|w| {
                let mut e = Engine::new(crate::run::worker_engine_config(&cfg, w, WORKERS))
                    .expect("valid config");
                e.set_peers_up(1);
                e.set_ready(true);
                e
            })
            .collect();
        let wakes: Vec<Wake> = (0..WORKERS)
            .map(|_| Wake::new().expect("eventfd"))
            .collect();
        let (ports, end) = link(Arc::new(LinkCounters::default()), &wakes);
        Node {
            id,
            engines,
            ports,
            end,
        }
    }
}

/// What one node's engines tell the other, in order.
enum Told {
    /// A change, and whether its sender wants it acknowledged.
    Event(SyncEvent, bool),
    Pull(FlowKey),
    State(FlowState, PeerSet, AnswerCopy),
    Confirm(Confirm),
}

struct Cluster {
    nodes: [Node; 2],
    rt: tokio::runtime::Runtime,
    now: Instant,
    /// Frames released after a wait, by node.
    released: [usize; 2],
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            nodes: [Node::new(1), Node::new(2)],
            rt: runtime(),
            now: T0,
            released: [0, 0],
        }
    }

    /// `frame` crosses node `i`, at the worker the kernel gives it; its
    /// verdict there (a frame that worker hands on is judged by the other
    /// when the nodes settle, and counts as released if it passes).
    fn send(
        &mut self,
        i: usize,
        mut frame: Vec<u8>,
        ingress: rampart_dataplane::IfaceId,
    ) -> Verdict {
        self.now = self.now + std::time::Duration::from_micros(50);
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let w = kernel_worker(&frame[14..], ethertype, WORKERS);
        let now = self.now;
        self.nodes[i].engines[w].process(&mut frame, PacketMeta::default(), ingress, now)
    }

    /// Carry everything both nodes' engines tell each other until
    /// nothing is left: the node that hears it routes it to its workers
    /// (`DriverEnd::route`), which take it at their next turn.
    fn settle(&mut self) {
        for _ in 0..32 {
            let now = self.now;
            let mut left = false;
            for node in &mut self.nodes {
                for (port, engine) in node.ports.iter_mut().zip(&mut node.engines) {
                    left |= port.exchange(engine, now);
                }
            }
            let told = [self.drain(0), self.drain(1)];
            if !left && told.iter().all(Vec::is_empty) {
                return;
            }
            let [to_b, to_a] = told;
            self.tell(1, to_b);
            self.tell(0, to_a);
        }
        panic!("the nodes never settled");
    }

    /// What node `i`'s engines ask of the other node; hand-offs between
    /// its own workers are taken at once (and what the taker makes of
    /// them drained too), releases counted.
    fn drain(&mut self, i: usize) -> Vec<Told> {
        let now = self.now;
        let mut told = Vec::new();
        let node = &mut self.nodes[i];
        let mut any = true;
        while any {
            any = false;
            for w in 0..WORKERS {
                while let Some(effect) = node.engines[w].poll_effect(now) {
                    any = true;
                    match effect {
                        Effect::Release { .. } => self.released[i] += 1,
                        Effect::HandOff { worker, chain } => {
                            node.engines[worker].take_handoff(chain, now)
                        }
                        Effect::Pull(PullOut::Want { key, .. }) => told.push(Told::Pull(key)),
                        Effect::Pull(PullOut::Answer {
                            state,
                            copy,
                            holders,
                            ..
                        }) => told.push(Told::State(state, holders, copy)),
                        Effect::Pull(PullOut::Confirm { confirm, .. }) => {
                            told.push(Told::Confirm(confirm))
                        }
                        Effect::Pull(PullOut::Miss { .. }) | Effect::Transmit { .. } => {}
                        other => {
                            if let Some(out) = other.into_sync() {
                                told.push(Told::Event(out.event, out.want_ack));
                            }
                        }
                    }
                }
            }
        }
        told
    }

    /// Node `to` hears `told` from the other node: its driver routes it;
    /// the inserts that want it are acknowledged, and the sender's driver
    /// routes the acknowledgements.
    fn tell(&mut self, to: usize, told: Vec<Told>) {
        let from = self.nodes[1 - to].id;
        let (end, sender) = (&self.nodes[to].end, &self.nodes[1 - to].end);
        self.rt.block_on(async {
            let mut acked = Vec::new();
            for t in told {
                match t {
                    Told::Event(event, want_ack) => {
                        if want_ack && let SyncEvent::Upsert(s) = &event {
                            acked.push((s.key, s.inc));
                        }
                        route_apply(end, (from, Some(from), false, vec![event])).await
                    }
                    Told::Pull(key) => {
                        end.route(
                            vec![(key, None)],
                            |(k, _)| k,
                            |keys| ToEngine::Pull {
                                origin: from,
                                keys,
                                forwardable: true,
                            },
                        )
                        .await
                    }
                    Told::State(state, holders, copy) => {
                        end.route(
                            vec![(state, holders)],
                            |(s, _)| &s.key,
                            |flows| ToEngine::State { from, copy, flows },
                        )
                        .await
                    }
                    Told::Confirm(c) => {
                        end.route(
                            vec![c],
                            |c| &c.key,
                            |flows| ToEngine::Confirm { from, flows },
                        )
                        .await
                    }
                }
            }
            sender.route(acked, |(k, _)| k, ToEngine::Acked).await;
        });
    }

    /// `frame` crosses node `i` and passes: forwarded at once, or released
    /// once the nodes have settled.
    fn passes(
        &mut self,
        i: usize,
        frame: Vec<u8>,
        ingress: rampart_dataplane::IfaceId,
        name: &str,
    ) {
        let v = self.send(i, frame, ingress);
        self.settle();
        let released = std::mem::take(&mut self.released[i]);
        let drops: Vec<Vec<(&str, u64)>> = self.nodes[i]
            .engines
            .iter()
            .map(|e| {
                rampart_dataplane::DropReason::ALL
                    .iter()
                    .map(|r| (r.label(), e.counters().drops[r.index()]))
                    .filter(|(_, n)| *n != 0)
                    .collect()
            })
            .collect();
        assert!(
            matches!(v, Verdict::Forward { .. }) || released == 1,
            "{name}: at node {i}: {v:?}, {released} released; drops by worker {drops:?}"
        );
    }

    /// The client's SYN (wrapped as the case says) through node A, which
    /// passes once B has the state; the model then shifts the client's
    /// sequence numbers as A randomized them. Returns A's workers holding
    /// the flow.
    fn open(&mut self, m: &mut TcpModel, case: Wrap, name: &str) -> Vec<usize> {
        let syn = m.syn();
        self.passes(0, case.frame(m.frame(&syn)), m.iface(Side::Client), name);
        let t = m.tuple();
        let a = self.holders(0, &t);
        assert_eq!(a.len(), 1, "{name}: one worker of A holds the flow");
        m.set_shift(
            self.nodes[0].engines[a[0]]
                .find(&t, self.now)
                .unwrap()
                .seq_offset,
        );
        a
    }

    /// The workers of node `i` whose tables hold `t`'s flow.
    fn holders(&self, i: usize, t: &Tuple) -> Vec<usize> {
        (0..WORKERS)
            .filter(|&w| self.nodes[i].engines[w].find(t, self.now).is_some())
            .collect()
    }
}

/// `frame` (IPv4) with an authentication header between its IP and TCP
/// headers (RFC 4302 §2: next header, payload length in 32-bit words
/// minus 2, reserved, SPI, sequence number, 96 bits of ICV). The TCP
/// checksum is unchanged: its pseudo-header names TCP, not AH.
fn with_ah(mut frame: Vec<u8>) -> Vec<u8> {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let mut ah = vec![frame[14 + 9], 4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1];
    ah.extend([0xa5; 12]);
    frame[14 + 9] = proto::AH;
    let total = u16::from_be_bytes([frame[16], frame[17]]) + ah.len() as u16;
    frame[16..18].copy_from_slice(&total.to_be_bytes());
    frame.splice(14 + ihl..14 + ihl, ah);
    rampart_dataplane::packet::set_ipv4_checksum(&mut frame[14..14 + ihl]);
    frame
}

/// `frame` (IPv6) with `n` destination options headers (RFC 8200 §4.6,
/// each 8 bytes: a PadN option) before its transport header. The TCP
/// checksum is unchanged: its pseudo-header names TCP and its length.
fn with_destination_options(mut frame: Vec<u8>, n: usize) -> Vec<u8> {
    let mut next = frame[14 + 6];
    let mut headers = Vec::new();
    for _ in 0..n {
        headers.splice(0..0, [next, 0, 1, 4, 0, 0, 0, 0]);
        next = 60;
    }
    frame[14 + 6] = next;
    frame.splice(54..54, headers);
    let payload = u16::from_be_bytes([frame[18], frame[19]]) + 8 * n as u16;
    frame[18..20].copy_from_slice(&payload.to_be_bytes());
    frame
}

/// The first client port (from 40,000) whose TCP flow to `server_port`
/// goes to another worker by its ports than by its addresses alone, so
/// that the two rules make a difference.
fn port_apart(v6: bool, server_port: u16) -> u16 {
    use rampart_afpacket::fanout::worker_of;
    (40_000..)
        .find(|&port| {
            let (c, s) = if v6 {
                v6_pair(port, server_port)
            } else {
                v4_pair(port, server_port)
            };
            let m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
            let mut key = FlowKey::of(&m.tuple()).0;
            let by_ports = worker_of(&key, WORKERS);
            (key.lo.port, key.hi.port) = (0, 0);
            by_ports != worker_of(&key, WORKERS)
        })
        .expect("some port")
}

/// How a case wraps its frames.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    /// Plain IPv4 TCP: the harness's control.
    Plain,
    /// IPv4, an authentication header before TCP.
    Ah,
    /// IPv6, this many destination options headers before TCP.
    Options(usize),
}

/// Each case: AH over IPv4, and IPv6 behind one destination options
/// header, behind six (as many as RFC 8200 §4.1's order holds), and
/// behind eight (more than the kernel's program walks: the engine hands
/// such packets on, docs/io.md §9).
const CASES: [Wrap; 5] = [
    Wrap::Plain,
    Wrap::Ah,
    Wrap::Options(1),
    Wrap::Options(6),
    Wrap::Options(8),
];

impl Wrap {
    fn v6(self) -> bool {
        matches!(self, Wrap::Options(_))
    }

    fn frame(self, frame: Vec<u8>) -> Vec<u8> {
        match self {
            Wrap::Plain => frame,
            Wrap::Ah => with_ah(frame),
            Wrap::Options(n) => with_destination_options(frame, n),
        }
    }

    /// The client and server of the case's connection to `server_port`,
    /// from a client port whose flow the two rules (ports, or addresses
    /// alone) give different workers.
    fn model(self, server_port: u16) -> TcpModel {
        let port = port_apart(self.v6(), server_port);
        let (c, s) = if self.v6() {
            v6_pair(port, server_port)
        } else {
            v4_pair(port, server_port)
        };
        TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None])
    }
}

/// Run `test` on every case; fail naming each case that failed.
fn each_case(test: impl Fn(Wrap) + std::panic::RefUnwindSafe) {
    let failed: Vec<String> = CASES
        .into_iter()
        .filter(|&case| std::panic::catch_unwind(|| test(case)).is_err())
        .map(|case| format!("{case:?}"))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// An asymmetric connection whose every packet carries an authentication
/// header or IPv6 extension headers: its state, sent by the node that
/// saw the SYN, reaches the other node's worker that gets the server's
/// packets, and the handshake and data pass on both nodes.
#[test]
fn the_state_of_a_flow_behind_extension_headers_reaches_its_packets_worker() {
    each_case(|case| {
        let name = &format!("{case:?}");
        let mut c = Cluster::new();
        let mut m = case.model(443);
        let t = m.tuple();
        let a = c.open(&mut m, case, name);
        let segs = [
            m.syn_ack(),
            m.ack(Side::Client),
            m.data(Side::Client, 1000),
            m.ack(Side::Server),
        ];
        for seg in segs {
            let node = usize::from(seg.from == Side::Server);
            c.passes(node, case.frame(m.frame(&seg)), m.iface(seg.from), name);
        }
        let b = c.holders(1, &t);
        assert_eq!(
            b, a,
            "{name}: B's copy is on the worker of the flow's packets"
        );
    });
}

/// The same with the server's SYN-ACK at B before A's insert arrived: it
/// waits, its pull reaches A's worker that holds the flow, and the
/// answer B's worker that holds the SYN-ACK, which then leaves.
#[test]
fn a_pull_for_a_flow_behind_extension_headers_is_answered_where_its_packets_wait() {
    each_case(|case| {
        let name = &format!("{case:?}");
        let mut c = Cluster::new();
        let mut m = case.model(8443);
        let t = m.tuple();
        let syn = m.syn();
        let v = c.send(0, case.frame(m.frame(&syn)), m.iface(Side::Client));
        assert_eq!(
            v,
            Verdict::Hold,
            "{name}: the SYN waits for B's acknowledgement"
        );
        // A's insert is late: the SYN-ACK waits at B and pulls.
        let late = c.drain(0);
        let a = c.holders(0, &t);
        assert_eq!(a.len(), 1, "{name}: one worker of A holds the flow");
        m.set_shift(c.nodes[0].engines[a[0]].find(&t, c.now).unwrap().seq_offset);
        let syn_ack = m.syn_ack();
        let v = c.send(1, case.frame(m.frame(&syn_ack)), m.iface(Side::Server));
        assert_eq!(v, Verdict::Hold, "{name}: the SYN-ACK waits at B");
        // Only the pull and its answer: A's own events wait.
        let pulls = c.drain(1);
        c.tell(0, pulls);
        c.settle();
        assert_eq!(
            c.released[1], 1,
            "{name}: the SYN-ACK left B once the answer came"
        );
        // The late insert, acknowledged, lets the SYN out of A.
        c.tell(1, late);
        c.settle();
        assert_eq!(
            c.released[0], 1,
            "{name}: the SYN left A once B had its state"
        );
        assert_eq!(
            c.holders(1, &t),
            a,
            "{name}: B's copy is where its packets go"
        );
    });
}
