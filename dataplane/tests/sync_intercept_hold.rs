//! TCP Intercept in a cluster and the hold buffer: a cookie's data segment
//! the buffer has no room for opens the connection at once (a flood never
//! strands a proven client), and a held segment sends the SYN once.

mod common;

use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::SyncConfig;
use rampart_dataplane::packet::{PacketMeta, TcpFlags};
use rampart_dataplane::trace::{Host, Seg, Side, XorShift, tcp_frame, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, Instant, Verdict};

const POLICY: &str = "class-map all\n match any\npolicy-map p\n class all\n  set connection embryonic-conn-max 1\n  set connection random-sequence-number disable\nservice-policy p global\n";

fn with_policy(mut e: Engine) -> Engine {
    use rampart_dataplane::policy::compile::compile;
    let cfg = rampart_dataplane::policy::parse::parse_config(POLICY)
        .unwrap()
        .config;
    let p = compile(&cfg, &e.config().interfaces).unwrap();
    e.set_policy(std::sync::Arc::new(p)).unwrap();
    e.set_seq_secret([0xfeed, 0xbeef]);
    e
}

/// A node of a pair (its peer up), the default sync settings.
fn clustered() -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.sync = Some(SyncConfig {
        defer_deadline: Duration::ZERO,
        ..SyncConfig::default()
    });
    let mut e = Engine::new(cfg).expect("valid config");
    e.set_peers_up(1);
    e.set_ready(true);
    with_policy(e)
}

fn standalone() -> Engine {
    let cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    with_policy(Engine::new(cfg).expect("valid config"))
}

fn seg(from: Side, seq: u32, ack: u32, flags: u8, len: u32) -> Seg {
    Seg::plain(from, seq, ack, flags, len)
}

fn tcp(f: &[u8]) -> (u32, u32, u8) {
    let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!()
    };
    let h = t.to_header();
    let mut fl = 0;
    if h.syn {
        fl |= TcpFlags::SYN;
    }
    if h.ack {
        fl |= TcpFlags::ACK;
    }
    if h.rst {
        fl |= TcpFlags::RST;
    }
    (h.sequence_number, h.acknowledgment_number, fl)
}

struct Node {
    e: Engine,
    now: Instant,
}

impl Node {
    fn send(&mut self, from: &Host, to: &Host, s: &Seg) -> Verdict {
        self.now = self.now + Duration::from_micros(50);
        let mut f = tcp_frame(from, to, s);
        self.e
            .process(&mut f, PacketMeta::default(), from.iface, self.now)
    }
    /// Frames the node built (cookies, SYNs), its sync effects dropped.
    fn built(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(effect) = self.e.poll_effect(self.now) {
            if let Effect::Transmit { frame, egress } = effect {
                out.push((egress.0, frame));
            }
        }
        out
    }
    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        let _ = self
            .e
            .handle(rampart_dataplane::engine::Input::Timer, self.now);
    }
}

const CISN: u32 = 5_000;

impl Node {
    /// A node on `engine` whose class's one half-open place is taken (a
    /// filler SYN nobody answers), and the cookie its SYN-ACK gives the
    /// client on `port`: the node, the client, the server and the cookie.
    fn with_cookie(engine: Engine, port: u16) -> (Node, Host, Host, u32) {
        let (c, s) = v4_pair(port, 80);
        let filler = Host {
            ip: "198.18.0.99".parse().unwrap(),
            ..v4_pair(1, 80).0
        };
        let mut n = Node {
            e: engine,
            now: Instant::from_secs(1_700_000_000),
        };
        assert!(matches!(
            n.send(&filler, &s, &seg(Side::Client, 77, 0, TcpFlags::SYN, 0)),
            Verdict::Forward { .. }
        ));
        n.built();
        assert_eq!(
            n.send(&c, &s, &seg(Side::Client, CISN, 0, TcpFlags::SYN, 0)),
            Verdict::Drop(DropReason::TcpIntercepted)
        );
        let cookie = tcp(&n.built()[0].1).0;
        (n, c, s, cookie)
    }

    /// How many of the frames the node built since the last look are SYNs.
    fn syns_built(&mut self) -> usize {
        self.built()
            .into_iter()
            .filter(|(_, f)| tcp(f).2 == TcpFlags::SYN)
            .count()
    }
}

/// The client's first data segment (500 bytes), acknowledging `cookie`.
fn first_data(cookie: u32) -> Seg {
    seg(
        Side::Client,
        CISN + 1,
        cookie.wrapping_add(1),
        TcpFlags::ACK | TcpFlags::PSH,
        500,
    )
}

/// Fill the class's one half-open place, and the hold buffer's share for
/// frames of flows unknown here with stray ACKs from spoofed sources (an
/// ACK flood toward the protected servers; each is `tcp-not-syn`, which a
/// peer's state could lift, so it is held).
fn flood(n: &mut Node, round: u32) -> usize {
    let (c0, s) = v4_pair(1, 80);
    let mut held = 0;
    for i in 0..4200u32 {
        let c = Host {
            ip: std::net::IpAddr::from([198, 19, (i >> 8) as u8, i as u8]),
            port: 1024 + (round as u16) * 7 + (i as u16 & 0x3ff),
            ..c0
        };
        if n.send(
            &c,
            &s,
            &seg(Side::Client, i * 77 + round, 12345 + i, TcpFlags::ACK, 0),
        ) == Verdict::Hold
        {
            held += 1;
        }
    }
    n.built();
    held
}

/// The client's handshake ACK was lost; its first data segment (and each
/// retransmission) acknowledges the cookie. Standalone, it opens the
/// connection at once. In a cluster it waits (`tcp-not-syn`) for a peer's
/// state until its hold deadline; when the hold buffer has no room for it
/// (the strangers' half full, which any ACK flood from spoofed sources
/// does during the SYN flood that triggered TCP Intercept), it opens the
/// connection at once. It was once dropped (`hold-overflow`) with every
/// retransmission, locking the proven client out for as long as the flood
/// lasted.
#[test]
fn a_cookies_data_segment_the_hold_refuses_opens_the_connection_at_once() {
    // Standalone, for comparison.
    let (mut alone, c, s, cookie) = Node::with_cookie(standalone(), 44_000);
    assert_eq!(
        alone.send(&c, &s, &first_data(cookie)),
        Verdict::Drop(DropReason::TcpIntercepted)
    );
    assert_eq!(
        tcp(&alone.built()[0].1).2,
        TcpFlags::SYN,
        "standalone: the SYN leaves at once"
    );

    // In a cluster.
    let (mut n, c, s, cookie) = Node::with_cookie(clustered(), 44_000);
    let data = first_data(cookie);
    // The client's RTO doubles from 1 s; the flood goes on (4,096 stray
    // ACKs per 200 ms hold deadline fill the strangers' half).
    let mut verdicts = Vec::new();
    let mut rto = Duration::from_secs(1);
    let mut held = 0;
    for round in 0..6 {
        held += flood(&mut n, round);
        verdicts.push(n.send(&c, &s, &data));
        if n.syns_built() > 0 {
            break;
        }
        n.advance(rto);
        rto *= 2;
    }
    let opened = n.e.counters().intercept.accepted;
    assert!(held > 0, "the flood was held");
    assert!(
        opened > 0,
        "the proven client's data-carrying cookie ACKs over 31 s: {verdicts:?}; \
         connections opened: {opened}"
    );
}

/// Control: without the flood the same segment waits its 200 ms and opens.
#[test]
fn control_without_a_flood_the_data_segment_opens_at_its_hold_deadline() {
    let (mut n, c, s, cookie) = Node::with_cookie(clustered(), 44_001);
    assert_eq!(n.send(&c, &s, &first_data(cookie)), Verdict::Hold);
    n.advance(Duration::from_millis(250));
    let syns = n.syns_built();
    assert_eq!((n.e.counters().intercept.accepted, syns), (1, 1));
}

/// The SYN is sent again once per client flight. In a cluster a segment
/// of a pending connection is held (intercept-unexpected) and judged again
/// at each peer event for its flow and at its deadline: only its first
/// judgement sends the SYN and counts `syn_resent` and `unexpected` (they
/// were once sent and counted at every judgement).
#[test]
fn a_held_first_segment_sends_the_syn_once() {
    let (mut n, c, s, cookie) = Node::with_cookie(clustered(), 44_002);
    // The handshake's ACK opens at once: the firewall's SYN.
    let ack = seg(
        Side::Client,
        CISN + 1,
        cookie.wrapping_add(1),
        TcpFlags::ACK,
        0,
    );
    assert_eq!(
        n.send(&c, &s, &ack),
        Verdict::Drop(DropReason::TcpIntercepted)
    );
    assert_eq!(n.built().len(), 1);
    // The server is slow; the client's first data segment.
    assert_eq!(n.send(&c, &s, &first_data(cookie)), Verdict::Hold);
    let mut syns = n.syns_built();
    n.advance(Duration::from_millis(250));
    syns += n.syns_built();
    let k = &n.e.counters().intercept;
    let drops = n.e.counters().drops[DropReason::InterceptUnexpected.index()];
    assert_eq!(
        (syns, k.syn_resent, k.unexpected, drops),
        (1, 1, 1, 1),
        "SYNs sent for one client segment, syn_resent, unexpected, intercept-unexpected drops"
    );
}

mod pair {
    use super::*;
    use rampart_dataplane::engine::sync::SyncOut;
    use rampart_dataplane::sync::SyncEvent;
    use std::collections::VecDeque;

    pub struct Pair {
        pub nodes: [Engine; 2],
        pub inbox: [VecDeque<SyncOut>; 2],
        pub now: Instant,
        pub out: [Vec<(u8, Vec<u8>)>; 2],
    }

    fn node(id: u16) -> Engine {
        with_policy(common::synced_node(id, Duration::ZERO, 1))
    }

    impl Pair {
        pub fn new() -> Self {
            Pair {
                nodes: [node(1), node(2)],
                inbox: [VecDeque::new(), VecDeque::new()],
                now: Instant::from_secs(1_700_000_000),
                out: [Vec::new(), Vec::new()],
            }
        }
        pub fn collect(&mut self, i: usize) {
            while let Some(effect) = self.nodes[i].poll_effect(self.now) {
                match effect {
                    Effect::Release { frame, egress, .. } | Effect::Transmit { frame, egress } => {
                        self.out[i].push((egress.0, frame))
                    }
                    sync => self.inbox[1 - i].extend(sync.into_sync()),
                }
            }
        }
        /// Deliver up to `n` of node `i`'s pending sync events.
        pub fn deliver(&mut self, i: usize, n: usize) {
            for _ in 0..n {
                let Some(o) = self.inbox[i].pop_front() else {
                    break;
                };
                self.nodes[i].apply_sync(&o.event, self.now).expect("valid");
                if o.want_ack
                    && let SyncEvent::Upsert(s) = &o.event
                {
                    self.nodes[1 - i].sync_acked(&s.key, &s.inc);
                }
            }
            self.collect(i);
            self.collect(1 - i);
        }
        pub fn send(&mut self, i: usize, from: &Host, to: &Host, s: &Seg) -> Verdict {
            self.now = self.now + Duration::from_micros(50);
            let mut f = tcp_frame(from, to, s);
            let v = self.nodes[i].process(&mut f, PacketMeta::default(), from.iface, self.now);
            self.collect(i);
            v
        }
    }
}

/// Checked sound: a pair with random paths and random sync delivery keeps
/// each node's class counts equal to its table through TCP Intercept.
#[test]
fn class_counts_follow_the_table_on_both_nodes() {
    use std::collections::HashMap;
    let mut accepted = 0;
    for seed in 1..120u64 {
        let mut r = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut p = pair::Pair::new();
        let (_, s0) = v4_pair(1, 80);
        let clients = rampart_dataplane::trace::v4_clients(3, 20);
        let mut st: HashMap<(usize, u16), (u32, u32, u32)> = HashMap::new();
        for step in 0..300 {
            let ci = r.below(3) as usize;
            let port = 47_000 + r.below(2) as u16;
            let (c, s) = (
                Host {
                    port,
                    ..clients[ci]
                },
                s0,
            );
            let key = (ci, port);
            let (isn, cookie, sisn) =
                *st.entry(key)
                    .or_insert((r.next_u64() as u32, 0, r.next_u64() as u32));
            let at = r.below(2) as usize;
            let op = r.below(13);
            let (from, to, sg) = match op {
                0 | 1 => (c, s, seg(Side::Client, isn, 0, TcpFlags::SYN, 0)),
                2 | 3 => (
                    c,
                    s,
                    seg(
                        Side::Client,
                        isn.wrapping_add(1),
                        cookie.wrapping_add(1),
                        TcpFlags::ACK,
                        0,
                    ),
                ),
                4 => (
                    c,
                    s,
                    seg(
                        Side::Client,
                        isn.wrapping_add(1),
                        cookie.wrapping_add(1),
                        TcpFlags::ACK | TcpFlags::PSH,
                        100,
                    ),
                ),
                5 => (
                    s,
                    c,
                    seg(
                        Side::Server,
                        sisn,
                        isn.wrapping_add(1),
                        TcpFlags::SYN | TcpFlags::ACK,
                        0,
                    ),
                ),
                6 => (
                    s,
                    c,
                    seg(
                        Side::Server,
                        0,
                        isn.wrapping_add(1),
                        TcpFlags::RST | TcpFlags::ACK,
                        0,
                    ),
                ),
                7 => (
                    c,
                    s,
                    seg(
                        Side::Client,
                        isn.wrapping_add(1),
                        cookie.wrapping_add(1),
                        TcpFlags::RST | TcpFlags::ACK,
                        0,
                    ),
                ),
                8 => (
                    s,
                    c,
                    seg(
                        Side::Server,
                        sisn.wrapping_add(1),
                        isn.wrapping_add(1),
                        TcpFlags::ACK | TcpFlags::PSH,
                        50,
                    ),
                ),
                9 | 10 => {
                    p.deliver(r.below(2) as usize, r.below(4) as usize);
                    continue;
                }
                _ => {
                    p.now = p.now
                        + Duration::from_millis([10, 300, 12_000, 31_000][r.below(4) as usize]);
                    for i in 0..2 {
                        let _ = p.nodes[i].handle(rampart_dataplane::engine::Input::Timer, p.now);
                        p.nodes[i].expire(p.now);
                        p.collect(i);
                    }
                    continue;
                }
            };
            let _ = p.send(at, &from, &to, &sg);
            for (_, f) in std::mem::take(&mut p.out[at]) {
                let (sq, _, fl) = tcp(&f);
                if fl == TcpFlags::SYN | TcpFlags::ACK {
                    let (i, _, si) = st[&key];
                    st.insert(key, (i, sq, si));
                }
            }
            p.out = [Vec::new(), Vec::new()];
            for n in 0..2 {
                let mut conns = HashMap::<u16, (u32, u32)>::new();
                for (_, en) in p.nodes[n].table().iter() {
                    let c = conns.entry(en.class.0).or_default();
                    c.0 += 1;
                    c.1 += u32::from(en.tcp_state().is_some_and(|s| s.is_embryonic()));
                }
                for (id, slot) in p.nodes[n].classes().iter() {
                    let want = conns.get(&id.0).copied().unwrap_or_default();
                    assert_eq!(
                        (slot.conns, slot.embryonic),
                        want,
                        "seed {seed} step {step} op {op} node {n}"
                    );
                }
            }
        }
        accepted +=
            p.nodes[0].counters().intercept.accepted + p.nodes[1].counters().intercept.accepted;
    }
    assert!(accepted > 100, "{accepted}");
}
