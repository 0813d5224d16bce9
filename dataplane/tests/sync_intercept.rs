//! TCP Intercept across a cluster (docs/asa-behaviour.md §2.2, docs/sync.md
//! §3, §4): the SYN cookie is keyed by the sequence key the nodes share,
//! so any node checks a cookie another gave; the handshake with the server
//! is ordinary connection state, synced as any other, and the node that
//! sees the server's SYN-ACK answers it. The shift of the server's
//! sequence numbers joins across nodes: once a node saw the SYN-ACK, the
//! shift replaces the cookie everywhere, whatever order the states arrive
//! in. From the first review: the asymmetric path with randomization
//! disabled, and a cookie's data segment reaching the other node before
//! the connection its ACK opened (it must wait, not open a second
//! connection that supersedes the established one).

mod common;
mod mesh;
mod pair_sync;

use std::time::Duration;

use mesh::{Mesh, ranked_as};
use rampart_dataplane::conntrack::{Entry, TcpState};
use rampart_dataplane::engine::Effect;
use rampart_dataplane::flow::Direction;
use rampart_dataplane::packet::{PacketMeta, Parsed, TcpFlags, Transport};
use rampart_dataplane::placement::Placement;
use rampart_dataplane::sync::SyncEvent;
use rampart_dataplane::trace::{Host, Seg, Side, TcpModel, tcp_frame, v4_pair};
use rampart_dataplane::{DropReason, Engine, IfaceId, Instant, Verdict};

const A: u16 = 1;
const B: u16 = 2;
const C: u16 = 3;

/// The sequence key the cluster's nodes share (docs/sync.md §1).
const SECRET: [u64; 2] = [0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321];

/// One class, one half-open place: past it, SYNs get a cookie.
/// Randomization stays on: an intercepted connection's client numbers
/// reach the server as the client sent them all the same.
const POLICY: &str = "class-map all\n match any\npolicy-map p\n class all\n  set connection embryonic-conn-max 1\nservice-policy p global\n";

/// [`POLICY`] with the class's randomization disabled.
const POLICY_UNRANDOMIZED: &str = "class-map all\n match any\npolicy-map p\n class all\n  set connection embryonic-conn-max 1\n  set connection random-sequence-number disable\nservice-policy p global\n";

const CLIENT_ISN: u32 = 5_000;
const SERVER_ISN: u32 = 3_000_000_000;

/// Node `id` of a cluster of `members` (two copies a flow), keyed by
/// `secret`, with `policy`.
fn node_keyed(id: u16, members: &[u16], secret: [u64; 2], policy: &str) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, members.len() - 1);
    let text = rampart_dataplane::policy::parse::parse_config(policy)
        .expect("parses")
        .config;
    let p = rampart_dataplane::policy::compile::compile(&text, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(p)).expect("fits");
    e.set_placement(Placement::new(members.iter().copied(), 2));
    e.set_seq_secret(secret);
    e
}

fn node(id: u16, members: &[u16]) -> Engine {
    node_keyed(id, members, SECRET, POLICY)
}

/// A segment from the client, without options ([`Seg::plain`]): the
/// cookie offered the client no window scaling, so neither end scales.
fn client(seq: u32, ack: u32, flags: u8, payload_len: u32) -> Seg {
    Seg::plain(Side::Client, seq, ack, flags, payload_len)
}

/// A segment from the server, as [`client`]'s.
fn server(seq: u32, ack: u32, flags: u8, payload_len: u32) -> Seg {
    Seg::plain(Side::Server, seq, ack, flags, payload_len)
}

/// The client's ACK of `cookie` (its handshake's last segment).
fn cookie_ack(cookie: u32) -> Seg {
    client(CLIENT_ISN + 1, cookie.wrapping_add(1), TcpFlags::ACK, 0)
}

/// The flags of a segment with data.
const DATA: u8 = TcpFlags::ACK | TcpFlags::PSH;

/// `len` bytes of the client's first data after its ACK of `cookie`.
fn first_data(cookie: u32, len: u32) -> Seg {
    client(CLIENT_ISN + 1, cookie.wrapping_add(1), DATA, len)
}

/// The sequence number, acknowledgement and flags of the TCP frame
/// `frame` (checksums verified).
fn tcp(frame: &[u8]) -> (u32, u32, u8) {
    match rampart_dataplane::packet::parse(frame, PacketMeta::default()) {
        Ok(Parsed::Ip {
            transport: Transport::Tcp(t),
            ..
        }) => (t.seq.0, t.ack.0, t.flags.0),
        other => panic!("not a valid TCP frame: {other:?}"),
    }
}

/// The frames among `effects` a node built (`released`: let go after
/// they waited), with their egress.
fn frames(effects: &[Effect], released: bool) -> Vec<(IfaceId, Vec<u8>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Transmit { egress, frame } if !released => Some((*egress, frame.clone())),
            Effect::Release { egress, frame, .. } if released => Some((*egress, frame.clone())),
            _ => None,
        })
        .collect()
}

/// The verdict of a segment the firewall answers itself (a SYN given a
/// cookie, the cookie's ACK, the server's SYN-ACK): `tcp-intercept`.
fn dropped_as_intercepted(v: Verdict) {
    assert_eq!(v, Verdict::Drop(DropReason::TcpIntercepted));
}

/// A SYN from another client to `m`'s server, which never answers it:
/// it takes the class's one half-open place. Its frame and ingress.
fn filler_syn(m: &TcpModel) -> (Vec<u8>, IfaceId) {
    let filler = Host {
        ip: "198.18.0.99".parse().unwrap(),
        ..m.client
    };
    let syn = client(77, 0, TcpFlags::SYN, 0);
    (tcp_frame(&filler, &m.server, &syn), filler.iface)
}

/// The embryonic count of `e`'s one class.
fn embryonic(e: &Engine) -> u32 {
    e.classes()
        .iter()
        .find(|(_, s)| s.name == "p/all")
        .expect("the policy's class")
        .1
        .embryonic
}

// === A pair ===

/// Nodes A and B (indices 0 and 1), a client and server, and the time.
struct Pair {
    nodes: [Engine; 2],
    m: TcpModel,
    now: Instant,
}

impl Pair {
    /// The pair, keyed alike (or not), with A's one half-open place taken
    /// by a SYN no server answers, known to B.
    fn new(secret_b: [u64; 2]) -> Pair {
        Pair::with(POLICY, secret_b)
    }

    /// [`Pair::new`] with `policy`.
    fn with(policy: &str, secret_b: [u64; 2]) -> Pair {
        let (c, s) = v4_pair(41_000, 80);
        let mut p = Pair {
            nodes: [
                node_keyed(A, &[A, B], SECRET, policy),
                node_keyed(B, &[A, B], secret_b, policy),
            ],
            m: TcpModel::new(c, s, [0, 0], [29_200, 29_200], [None, None]),
            now: Instant::from_secs(1_700_000_000),
        };
        let (mut f, ingress) = filler_syn(&p.m);
        let v = p.nodes[0].process(&mut f, PacketMeta::default(), ingress, p.now);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        pair_sync::deliver(&mut p.nodes, 0, p.now);
        p
    }

    /// `seg` enters node `i` on its sender's side: the verdict and the
    /// frame as it leaves.
    fn send(&mut self, i: usize, seg: &Seg) -> (Verdict, Vec<u8>) {
        self.now = self.now + Duration::from_millis(1);
        let mut f = self.m.frame(seg);
        let v = self.nodes[i].process(
            &mut f,
            PacketMeta::default(),
            self.m.iface(seg.from),
            self.now,
        );
        (v, f)
    }

    /// `seg` through node `i`, forwarded: the sequence number and
    /// acknowledgement it leaves with. Its sync effects reach the peer.
    fn through(&mut self, i: usize, seg: &Seg) -> (u32, u32) {
        let (v, f) = self.send(i, seg);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
        let (seq, ack, _) = tcp(&f);
        assert!(self.flush(i).is_empty());
        (seq, ack)
    }

    /// Node `i`'s effects: its sync events applied by the peer, the
    /// rest returned.
    fn flush(&mut self, i: usize) -> Vec<Effect> {
        pair_sync::exchange(&mut self.nodes, i, self.now)
    }

    /// The connection's entry on node `i`.
    fn entry(&self, i: usize) -> Entry {
        *self.nodes[i]
            .find(&self.m.tuple(), self.now)
            .unwrap_or_else(|| panic!("node {i} holds the connection"))
    }

    /// The client's SYN through node `i`, answered with a cookie (which
    /// is returned), nothing kept.
    fn cookie_from(&mut self, i: usize) -> u32 {
        let before = self.nodes[i].table().len();
        let (v, _) = self.send(i, &client(CLIENT_ISN, 0, TcpFlags::SYN, 0));
        dropped_as_intercepted(v);
        assert_eq!(
            self.nodes[i].table().len(),
            before,
            "a cookie keeps nothing"
        );
        let out = frames(&self.flush(i), false);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, self.m.iface(Side::Client));
        let (cookie, ack, flags) = tcp(&out[0].1);
        assert_eq!(
            (ack, flags),
            (CLIENT_ISN + 1, TcpFlags::SYN | TcpFlags::ACK)
        );
        cookie
    }

    /// The client's ACK of `cookie` through node `i`: the node opens the
    /// connection, its SYN leaves toward the server, and its insert
    /// reaches the peer.
    fn accept_at(&mut self, i: usize, cookie: u32) {
        let ack = cookie_ack(cookie);
        dropped_as_intercepted(self.send(i, &ack).0);
        let out = frames(&self.flush(i), false);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, self.m.iface(Side::Server));
        assert_eq!(tcp(&out[0].1), (CLIENT_ISN, 0, TcpFlags::SYN));
        for n in [i, 1 - i] {
            let e = self.entry(n);
            assert!(e.intercepted() && e.intercept_pending(), "node {n}");
            assert_eq!(
                e.seq_offset, cookie,
                "node {n}: the cookie, until the server answers"
            );
            assert_eq!(e.tcp_state(), Some(TcpState::SynSent));
        }
    }

    /// The server's SYN-ACK through node `i`, which answers it itself
    /// (nothing reaches the client); the node's effects, its ACK among
    /// them, are left for the caller to deliver.
    fn server_answers_at(&mut self, i: usize) {
        dropped_as_intercepted(self.send(i, &syn_ack()).0);
    }

    /// Node `i`'s effects delivered: among them the firewall's ACK of the
    /// server's SYN-ACK, its one frame, toward the server.
    fn acknowledged_the_server(&mut self, i: usize) {
        let out = frames(&self.flush(i), false);
        assert_eq!(out.len(), 1, "node {i}: {out:?}");
        assert_eq!(out[0].0, self.m.iface(Side::Server));
        assert_eq!(
            tcp(&out[0].1),
            (CLIENT_ISN + 1, SERVER_ISN + 1, TcpFlags::ACK)
        );
    }

    /// The client and server exchange data, each through its own node
    /// (client A, server B), then close, each segment synced before the
    /// next; the frames leave in each end's own space.
    fn data_and_close(&mut self, cookie: u32) {
        let fin = TcpFlags::FIN | TcpFlags::ACK;
        // The client's acknowledgement reaches the server in its space...
        let d = first_data(cookie, 100);
        assert_eq!(self.through(0, &d), (CLIENT_ISN + 1, SERVER_ISN + 1));
        // ...and the server's numbers reach the client in the cookie's.
        let r = server(SERVER_ISN + 1, CLIENT_ISN + 101, DATA, 1000);
        assert_eq!(
            self.through(1, &r),
            (cookie.wrapping_add(1), CLIENT_ISN + 101)
        );
        let f = client(CLIENT_ISN + 101, cookie.wrapping_add(1001), fin, 0);
        assert_eq!(self.through(0, &f), (CLIENT_ISN + 101, SERVER_ISN + 1001));
        let f = server(SERVER_ISN + 1001, CLIENT_ISN + 102, fin, 0);
        assert_eq!(
            self.through(1, &f),
            (cookie.wrapping_add(1001), CLIENT_ISN + 102)
        );
        let last = client(
            CLIENT_ISN + 102,
            cookie.wrapping_add(1002),
            TcpFlags::ACK,
            0,
        );
        assert_eq!(
            self.through(0, &last),
            (CLIENT_ISN + 102, SERVER_ISN + 1002)
        );
        self.same_on_both(cookie, TcpState::TimeWait);
    }

    /// Both nodes hold the connection in `state`, shifted from the
    /// server's space into `cookie`'s.
    fn same_on_both(&self, cookie: u32, state: TcpState) {
        for i in 0..2 {
            let e = self.entry(i);
            assert_eq!(e.tcp_state(), Some(state), "node {i}");
            assert!(!e.intercept_pending(), "node {i}");
            assert_eq!(e.seq_offset, cookie.wrapping_sub(SERVER_ISN), "node {i}");
            assert_eq!(
                e.seq_shift(Direction::Reply),
                cookie.wrapping_sub(SERVER_ISN)
            );
            assert_eq!(e.seq_shift(Direction::Orig), 0, "node {i}");
        }
        let [a, b] = &self.nodes;
        let (sa, sb) = (a.flow_state(&self.entry(0)), b.flow_state(&self.entry(1)));
        let (sa, sb) = (sa.expect("synced"), sb.expect("synced"));
        assert_eq!((sa.proto, sa.seq_offset), (sb.proto, sb.seq_offset));
    }
}

/// The server's SYN-ACK to the firewall's SYN (no options).
fn syn_ack() -> Seg {
    server(SERVER_ISN, CLIENT_ISN + 1, TcpFlags::SYN | TcpFlags::ACK, 0)
}

#[test]
fn asymmetric_pair_the_server_answered_through_the_peer() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(0, cookie);
    // B holds A's copy: it acknowledges the server's SYN-ACK.
    p.server_answers_at(1);
    p.acknowledged_the_server(1);
    assert_eq!(p.nodes[1].counters().intercept.established, 1);
    p.same_on_both(cookie, TcpState::Established);
    p.data_and_close(cookie);
}

/// The same with the class's randomization disabled, every step synced
/// before the next (checked and found sound by the first review): B
/// answers the server's SYN-ACK, the shift joins to A, and data flows
/// both ways in each end's own space.
#[test]
fn asymmetric_intercept_through_two_nodes() {
    let mut p = Pair::with(POLICY_UNRANDOMIZED, SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(0, cookie);
    p.server_answers_at(1);
    p.acknowledged_the_server(1);
    let d = client(CLIENT_ISN + 1, cookie.wrapping_add(1), TcpFlags::ACK, 100);
    assert_eq!(p.through(0, &d).1, SERVER_ISN + 1);
    let r = server(SERVER_ISN + 1, CLIENT_ISN + 101, TcpFlags::ACK, 100);
    assert_eq!(p.through(1, &r).0, cookie.wrapping_add(1));
}

/// The client's data reaches A while A's copy still holds the cookie (the
/// server's SYN-ACK crossed B, whose state is on its way): it waits for
/// B's state, then leaves with its acknowledgement in the server's space.
/// Before the fix A dropped it as `intercept-unexpected`, and the client
/// had to resend it.
#[test]
fn asymmetric_pair_client_data_waits_for_the_peers_answer() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(0, cookie);
    p.server_answers_at(1);
    let d = first_data(cookie, 100);
    let (v, _) = p.send(0, &d);
    assert_eq!(v, Verdict::Hold, "A waits for the peer's state");
    let from_a = p.flush(0);
    assert!(frames(&from_a, true).is_empty(), "nothing passed yet");
    // As a node alone, A sends its SYN again (it may have been lost); a
    // server that answered answers it with a challenge ACK (RFC 5961 §4).
    let again = frames(&from_a, false);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(tcp(&again[0].1), (CLIENT_ISN, 0, TcpFlags::SYN));
    // B's state arrives: the data leaves A, its ack in the server's space.
    p.acknowledged_the_server(1);
    let from_a = p.flush(0);
    let out = frames(&from_a, true);
    assert_eq!(out.len(), 1, "{from_a:?}");
    assert_eq!(out[0].0, p.m.iface(Side::Server));
    assert_eq!(tcp(&out[0].1), (CLIENT_ISN + 1, SERVER_ISN + 1, DATA));
    let sc = p.nodes[0].sync_counters().unwrap();
    assert_eq!((sc.held, sc.held_released), (1, 1));
    assert_eq!(p.nodes[0].counters().intercept.established, 0, "B's doing");
    // The client's data is in both nodes' state: the server's answer to
    // it passes B.
    let r = server(SERVER_ISN + 1, CLIENT_ISN + 101, DATA, 1000);
    assert_eq!(p.through(1, &r), (cookie.wrapping_add(1), CLIENT_ISN + 101));
    p.same_on_both(cookie, TcpState::Established);
}

/// The server speaks first (a banner) and its path moved to A, whose copy
/// still holds the cookie: its data waits for B's state too, and leaves
/// shifted into the cookie's space.
#[test]
fn server_data_crossing_a_pending_copy_waits_for_the_peers_answer() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(0, cookie);
    p.server_answers_at(1);
    let banner = server(SERVER_ISN + 1, CLIENT_ISN + 1, DATA, 300);
    assert_eq!(p.send(0, &banner).0, Verdict::Hold);
    assert!(frames(&p.flush(0), true).is_empty());
    p.acknowledged_the_server(1);
    let out = frames(&p.flush(0), true);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, p.m.iface(Side::Client));
    assert_eq!(
        tcp(&out[0].1),
        (cookie.wrapping_add(1), CLIENT_ISN + 1, DATA)
    );
    p.same_on_both(cookie, TcpState::Established);
}

/// The same wait with no answer from the peer: the data is refused at
/// the hold's deadline as a node alone refuses it, never passed with the
/// cookie's numbers.
#[test]
fn client_data_on_a_pending_copy_is_not_passed_without_the_peers_answer() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(0, cookie);
    let d = first_data(cookie, 100);
    assert_eq!(p.send(0, &d).0, Verdict::Hold);
    p.now = p.now + Duration::from_secs(1);
    p.nodes[0].expire(p.now);
    let from_a = p.flush(0);
    assert!(frames(&from_a, true).is_empty(), "{from_a:?}");
    let a = &p.nodes[0];
    assert_eq!(
        a.counters().drops[DropReason::InterceptUnexpected.index()],
        1
    );
    assert_eq!(a.sync_counters().unwrap().held_expired, 1);
    assert!(p.entry(0).intercept_pending());
}

/// The server's SYN-ACK reaches B before A's insert: B holds it, and
/// acknowledges it once A's state arrives (pushed here; a pull brings it
/// the same way, see the mesh below).
#[test]
fn a_syn_ack_that_beats_the_insert_waits_for_it() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    let ack = cookie_ack(cookie);
    dropped_as_intercepted(p.send(0, &ack).0);
    assert_eq!(p.send(1, &syn_ack()).0, Verdict::Hold);
    assert!(frames(&p.flush(1), false).is_empty());
    // A's insert (and its SYN toward the server) leaves A.
    assert_eq!(frames(&p.flush(0), false).len(), 1);
    p.acknowledged_the_server(1);
    p.flush(0);
    assert_eq!(p.nodes[1].counters().intercept.established, 1);
    p.same_on_both(cookie, TcpState::Established);
    p.data_and_close(cookie);
}

// === The cookie on another node ===

/// The client's SYN crossed A, its ACK B (the route flipped): B checks
/// A's cookie with the key they share and opens the connection.
#[test]
fn a_cookie_given_by_one_node_is_accepted_by_its_peer() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(1, cookie);
    assert_eq!(p.nodes[1].counters().intercept.accepted, 1);
    assert_eq!((p.entry(0).owner.0, p.entry(1).owner.0), (B, B));
    p.server_answers_at(1);
    p.acknowledged_the_server(1);
    p.same_on_both(cookie, TcpState::Established);
    p.data_and_close(cookie);
}

/// F7 (the first review): the client's first segment after its cookie
/// ACK (same sequence number, same acknowledgement) reaching the other
/// node before the owner's insert does: that node opened a second
/// incarnation of the tuple (a non-SYN no entry holds is otherwise held
/// for the peer's state). The later incarnation won everywhere, so the
/// connection the server had established through node A was replaced by
/// node B's unanswered one. Now B opens nothing and both nodes hold A's
/// connection.
#[test]
fn a_cookies_data_at_the_other_node_never_supersedes_the_established_connection() {
    let mut p = Pair::with(POLICY_UNRANDOMIZED, SECRET);
    let cookie = p.cookie_from(0);
    // The pure ACK at node A...
    dropped_as_intercepted(p.send(0, &cookie_ack(cookie)).0);
    // ...and the client's first data right behind it at node B, before
    // A's insert arrives.
    let d = client(CLIENT_ISN + 1, cookie.wrapping_add(1), TcpFlags::ACK, 100);
    let (v, _) = p.send(1, &d);
    let b_opened = p.nodes[1].counters().intercept.accepted;
    // The server answers node A's SYN; A acknowledges it.
    p.server_answers_at(0);
    // Every state synced: B's, A's, then B's answers.
    for i in [1, 0, 1] {
        p.flush(i);
    }
    let tuple = p.m.tuple();
    let a = p.nodes[0]
        .find(&tuple, p.now)
        .map(|e| (e.owner, e.intercept_pending()));
    let b = p.nodes[1]
        .find(&tuple, p.now)
        .map(|e| (e.owner, e.intercept_pending()));
    assert_eq!(
        (b_opened, a, b),
        (0, a, a),
        "node B's verdict on the data: {v:?}; node B opened a second incarnation; after sync \
         A holds {a:?} and B {b:?} (owner, still pending)"
    );
    // The client's data now, through node A: its connection is
    // established at the server.
    let (v, _) = p.send(0, &d);
    let from_a = p.flush(0);
    let built = [frames(&from_a, false), frames(&from_a, true)].concat();
    assert!(
        matches!(v, Verdict::Forward { .. }),
        "the client's data: {v:?}; A built {:?}",
        built.iter().map(|(i, f)| (i.0, tcp(f))).collect::<Vec<_>>()
    );
}

/// A node keyed otherwise takes the ACK of A's cookie for a stray ACK:
/// it waits for a peer's state as any ACK without an entry, and opens
/// nothing.
#[test]
fn a_node_with_another_key_does_not_accept_the_cookie() {
    let mut p = Pair::new([7, 7]);
    let cookie = p.cookie_from(0);
    let ack = cookie_ack(cookie);
    assert_eq!(p.send(1, &ack).0, Verdict::Hold);
    assert!(frames(&p.flush(1), false).is_empty());
    p.now = p.now + Duration::from_secs(1);
    p.nodes[1].expire(p.now);
    assert!(frames(&p.flush(1), true).is_empty());
    let b = &p.nodes[1];
    assert_eq!(b.counters().intercept.accepted, 0);
    assert_eq!(b.counters().drops[DropReason::TcpNotSyn.index()], 1);
    assert!(b.find(&p.m.tuple(), p.now).is_none());
    assert!(p.nodes[0].find(&p.m.tuple(), p.now).is_none());
}

/// The client's ACK crosses both nodes (a retransmission over a path
/// that flipped) before either heard of the other's: each opens the
/// connection, with the same cookie; the sync keeps one incarnation, and
/// the class counts one half-open connection, then none.
#[test]
fn a_cookie_ack_accepted_on_both_nodes_leaves_one_connection() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    let ack = cookie_ack(cookie);
    dropped_as_intercepted(p.send(0, &ack).0);
    dropped_as_intercepted(p.send(1, &ack).0);
    for i in [0, 1, 0, 1] {
        let out = frames(&p.flush(i), false);
        assert!(out.len() <= 1, "node {i}: at most its SYN: {out:?}");
    }
    assert_eq!(p.entry(0).incarnation(), p.entry(1).incarnation());
    for i in 0..2 {
        assert_eq!(p.entry(i).seq_offset, cookie, "node {i}");
        assert_eq!(p.nodes[i].table().len(), 2, "node {i}");
        assert_eq!(
            embryonic(&p.nodes[i]),
            2,
            "node {i}: the filler and this one"
        );
    }
    p.server_answers_at(1);
    p.acknowledged_the_server(1);
    p.flush(0);
    p.same_on_both(cookie, TcpState::Established);
    for i in 0..2 {
        assert_eq!(embryonic(&p.nodes[i]), 1, "node {i}: the filler only");
    }
    p.data_and_close(cookie);
}

// === The server's SYN-ACK on both nodes ===

/// The server's SYN-ACK crosses B, and its retransmission A before B's
/// state arrived there: both acknowledge it, both compute the same shift,
/// and the join leaves one state, counted established once a node.
#[test]
fn both_nodes_see_the_syn_ack_before_either_hears_of_the_other() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(0, cookie);
    p.server_answers_at(1);
    p.server_answers_at(0);
    p.acknowledged_the_server(0);
    p.acknowledged_the_server(1);
    p.flush(0);
    p.same_on_both(cookie, TcpState::Established);
    for i in 0..2 {
        let n = &p.nodes[i];
        assert_eq!(n.counters().intercept.established, 1, "node {i}");
        assert_eq!(
            n.table().len(),
            2,
            "node {i}: the filler and the connection"
        );
        assert_eq!(embryonic(n), 1, "node {i}: the filler only");
    }
    p.data_and_close(cookie);
    for i in 0..2 {
        assert_eq!(embryonic(&p.nodes[i]), 1, "node {i}");
    }
}

/// The retransmission reaches A after B's state: A acknowledges it again
/// and changes nothing.
#[test]
fn a_syn_ack_retransmitted_through_the_peer_is_acknowledged_again() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    p.accept_at(0, cookie);
    p.server_answers_at(1);
    p.acknowledged_the_server(1);
    let before = p.nodes[0].flow_state(&p.entry(0));
    p.server_answers_at(0);
    p.acknowledged_the_server(0);
    assert_eq!(
        p.nodes[0].flow_state(&p.entry(0)).map(|s| s.proto),
        before.map(|s| s.proto)
    );
    assert_eq!(p.nodes[0].counters().intercept.established, 0);
    p.same_on_both(cookie, TcpState::Established);
    p.data_and_close(cookie);
}

// === The join ===

/// A's pending state (the cookie as its offset) delivered again, late,
/// after the established one (a retransmitted batch, a bulk taken
/// before the SYN-ACK): the shift stays, on the nodes and on a newcomer
/// that hears the two states in either order.
#[test]
fn a_stale_pending_state_never_brings_the_cookie_back() {
    let mut p = Pair::new(SECRET);
    let cookie = p.cookie_from(0);
    let ack = cookie_ack(cookie);
    dropped_as_intercepted(p.send(0, &ack).0);
    let stale = p.nodes[0]
        .flow_state(&p.entry(0))
        .map(SyncEvent::Upsert)
        .expect("synced");
    p.flush(0);
    p.server_answers_at(1);
    p.flush(1);
    let fresh = p.nodes[1]
        .flow_state(&p.entry(1))
        .map(SyncEvent::Upsert)
        .expect("synced");
    for i in 0..2 {
        p.nodes[i].apply_sync(&stale, p.now).expect("valid");
    }
    p.same_on_both(cookie, TcpState::Established);
    // The server's data still reaches the client in the cookie's space.
    let r = server(SERVER_ISN + 1, CLIENT_ISN + 1, DATA, 500);
    assert_eq!(p.through(1, &r), (cookie.wrapping_add(1), CLIENT_ISN + 1));
    for order in [[stale, fresh], [fresh, stale]] {
        let mut c = node(C, &[A, B, C]);
        for ev in &order {
            c.apply_sync(ev, p.now).expect("valid");
        }
        let e = *c.find(&p.m.tuple(), p.now).expect("learnt");
        assert_eq!(e.seq_offset, cookie.wrapping_sub(SERVER_ISN));
        assert!(!e.intercept_pending());
    }
}

// === A mesh ===

/// Three nodes; A directs the flow and B backs it up, C holds nothing.
/// The connection is intercepted at A, the server answers through B;
/// mid-connection the server's path moves to C, which pulls the flow and
/// passes the server's data shifted into the cookie's space.
#[test]
fn a_third_node_pulls_the_intercepted_flow_and_shifts_the_servers_data() {
    let ids = [A, B, C];
    let (m, _key) = ranked_as(&ids, &[A, B, C]);
    let mut mesh = Mesh::new(&ids, |i| node(i, &ids));
    let mut now = Instant::from_secs(1_700_000_000);
    // A's half-open place taken.
    let (mut f, ingress) = filler_syn(&m);
    let v = mesh
        .get(A)
        .process(&mut f, PacketMeta::default(), ingress, now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    mesh.pump(now);
    let syn = client(CLIENT_ISN, 0, TcpFlags::SYN, 0);
    dropped_as_intercepted(mesh.send(A, &m, &syn, now));
    mesh.pump(now);
    let cookie = tcp(&mesh.out.last().expect("the cookie").frame).0;
    let ack = cookie_ack(cookie);
    dropped_as_intercepted(mesh.send(A, &m, &ack, now));
    mesh.pump(now);
    assert!(mesh.get(B).find(&m.tuple(), now).is_some(), "B backs A up");
    assert!(
        mesh.get(C).find(&m.tuple(), now).is_none(),
        "C holds nothing"
    );
    now = now + Duration::from_millis(1);
    dropped_as_intercepted(mesh.send(B, &m, &syn_ack(), now));
    assert_eq!(mesh.pump(now), vec![(B, m.iface(Side::Server))]);
    now = now + Duration::from_millis(1);
    let d = first_data(cookie, 100);
    let (v, f) = mesh.send_frame(A, &m, &d, now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(tcp(&f).1, SERVER_ISN + 1);
    mesh.pump(now);
    assert!(mesh.get(C).find(&m.tuple(), now).is_none());
    // The server's answer crosses C: held, pulled, passed shifted.
    now = now + Duration::from_millis(1);
    let r = server(SERVER_ISN + 1, CLIENT_ISN + 101, DATA, 1000);
    assert_eq!(mesh.send(C, &m, &r, now), Verdict::Hold);
    for _ in 0..10 {
        now = now + Duration::from_millis(5);
        mesh.tick(now);
    }
    assert!(mesh.get(C).sync_counters().unwrap().pulls_sent >= 1);
    let released: Vec<_> = mesh.out.iter().filter(|o| o.released).collect();
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(
        (released[0].node, released[0].egress),
        (C, m.iface(Side::Client))
    );
    assert_eq!(
        tcp(&released[0].frame),
        (cookie.wrapping_add(1), CLIENT_ISN + 101, DATA)
    );
    let shift = cookie.wrapping_sub(SERVER_ISN);
    for id in ids {
        let e = *mesh.get(id).find(&m.tuple(), now).expect("held");
        assert!(e.intercepted() && !e.intercept_pending(), "node {id}");
        assert_eq!(e.seq_offset, shift, "node {id}");
    }
    // The server's next data crosses C at once, shifted.
    now = now + Duration::from_millis(1);
    let r = server(SERVER_ISN + 1001, CLIENT_ISN + 101, DATA, 500);
    let (v, f) = mesh.send_frame(C, &m, &r, now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(tcp(&f).0, cookie.wrapping_add(1001));
}
