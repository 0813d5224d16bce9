//! Seeds of the setups other than the default (see `src/setup.rs`): the
//! ASA policies with access lists, `tcp-state-bypass`, class limits, the
//! idle reset and sequence randomization off; batch mode; the fast path
//! off. Each drives the engine to the path it is named for, and the
//! generator asserts it got there, so a seed that stops reaching its path
//! fails `make_corpus` and the tests rather than going stale quietly.

use std::net::{IpAddr, Ipv4Addr};

use rampart_dataplane::packet::ChecksumState;
use rampart_dataplane::packet::TcpFlags;
use rampart_dataplane::trace::{Host, Seg, Side, TcpModel, tcp_frame, udp_frame, v4_pair};
use rampart_dataplane::{DropReason, IfaceId, Verdict};

use super::{Gen, Seed, TICK, arp_request, tcp_model, v6_pair};
use crate::{MAX_BATCH_FRAMES, Outcome, PolicyChoice, Setup};

/// A clock step of 6 s: two of them pass the policies' 10 s idle timeout,
/// one passes the 5 s embryonic timeout of `NO_RANDOMIZATION`.
const SIX_S: u8 = 120;

fn setup(policy: PolicyChoice) -> Setup {
    Setup {
        policy,
        ..Setup::default()
    }
}

/// An inside client numbered `n` (198.18.0.`10 + n`), on `port`.
fn client(n: u8, port: u16) -> Host {
    let (c, _) = v4_pair(port, 0);
    Host {
        mac: [0x02, 0, 0, 0, 1, n],
        ip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10 + n)),
        ..c
    }
}

/// The outside server of the trace models, on `port`.
fn server(port: u16) -> Host {
    v4_pair(0, port).1
}

/// A connection from `c` to `s` with the seeds' usual numbers.
fn model(c: Host, s: Host) -> TcpModel {
    TcpModel::new(
        c,
        s,
        [1_000, 2_000_000],
        [64_240, 65_160],
        [Some(7), Some(7)],
    )
}

impl Gen {
    /// Pass the client's SYN and learn the engine's sequence shift.
    fn syn(&mut self, m: &mut TcpModel) {
        let syn = m.syn();
        self.pass(&m.frame(&syn), m.iface(Side::Client));
        self.learn_shift(m, m.tuple());
    }

    /// The model follows the shift of the entry of `tuple`.
    fn learn_shift(&mut self, m: &mut TcpModel, tuple: rampart_dataplane::flow::Tuple) {
        let entry = self
            .driver
            .engine()
            .find(&tuple, self.driver.now())
            .expect("the SYN opened an entry");
        m.set_shift(entry.seq_offset);
    }

    /// Pass the SYN-ACK and the client's ACK.
    fn finish(&mut self, m: &mut TcpModel) {
        for seg in [m.syn_ack(), m.ack(Side::Client)] {
            self.pass(&m.frame(&seg), m.iface(seg.from));
        }
    }

    /// A frame the engine takes without tracking it (an ARP request),
    /// `advance` after the previous one: the clock moves, the sweep runs.
    fn tick(&mut self, advance: u8) {
        let (verdict, _) = self.send_at(
            &arp_request(&server(0), Ipv4Addr::new(198, 18, 1, 1)),
            IfaceId(1),
            advance,
        );
        assert!(matches!(verdict, Verdict::Forward { .. }), "{verdict:?}");
    }

    /// How many frames the engine sent of its own so far.
    fn transmits(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Transmit(_)))
            .count()
    }
}

/// Every seed of this module.
pub(super) fn all() -> Vec<Seed> {
    vec![
        acl_deny(),
        bypass(),
        bypass_teardown(),
        idle_reset(),
        idle_dcd(),
        idle_reset_no_randomization(),
        class_limits(),
        embryonic_limits(),
        batch(),
        slow_path(),
    ]
}

/// Access lists: outbound telnet, X11 and NetBIOS denied; inbound SSH
/// denied, TCP 8080 and DNS permitted.
fn acl_deny() -> Seed {
    let mut g = Gen::with(setup(PolicyChoice::AclClasses), ChecksumState::Verified);
    for (port, to) in [(40_100, 23), (40_101, 6010)] {
        let mut m = model(client(0, port), server(to));
        let syn = m.syn();
        g.drop_for(&m.frame(&syn), IfaceId(0), TICK, DropReason::AclDeny);
    }
    let netbios = udp_frame(&client(0, 5_000), &server(137), b"nbns");
    g.drop_for(&netbios, IfaceId(0), TICK, DropReason::AclDeny);
    // From outside: to SSH refused, to 8080 a whole conversation.
    let mut m = model(server(50_000), client(0, 22));
    let syn = m.syn();
    g.drop_for(&m.frame(&syn), IfaceId(1), TICK, DropReason::AclDeny);
    let mut m = model(server(50_001), client(0, 8080));
    g.open(&mut m);
    g.exchange(&mut m);
    let query = udp_frame(&server(5_353), &client(0, 53), b"query");
    g.pass(&query, IfaceId(1));
    g.done("seed-acl-deny")
}

/// `tcp-state-bypass` by access list: a connection to 9000 opened and
/// closed, a mid-stream segment to 9001 (a bypass class takes any TCP
/// segment, docs/asa-behaviour.md §1.5), and one opened from outside.
fn bypass() -> Seed {
    let mut g = Gen::with(setup(PolicyChoice::AclClasses), ChecksumState::Verified);
    let mut m = model(client(0, 40_110), server(9_000));
    g.open(&mut m);
    g.exchange(&mut m);
    for seg in [
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        g.pass(&m.frame(&seg), m.iface(seg.from));
    }
    let mut m = model(client(0, 40_111), server(9_001));
    m.handshake();
    let mid = m.data(Side::Client, 30);
    g.pass(&m.frame(&mid), IfaceId(0));
    let mut m = model(server(50_010), client(0, 9_050));
    let syn = m.syn();
    g.pass(&m.frame(&syn), IfaceId(1));
    let created = g.driver.engine().counters().bypass_conns_created;
    assert_eq!(created, 3, "three bypass connections");
    g.done("seed-bypass")
}

/// With the engine's bypass RST teardown, a RST removes the bypass entry;
/// the next segment opens a new one.
fn bypass_teardown() -> Seed {
    let mut g = Gen::with(
        setup(PolicyChoice::AclClassesTeardown),
        ChecksumState::Verified,
    );
    let mut m = model(client(0, 40_120), server(9_000));
    g.open(&mut m);
    g.exchange(&mut m);
    let rst = m.rst(Side::Server);
    g.pass(&m.frame(&rst), IfaceId(1));
    assert!(
        g.driver.engine().find(&m.tuple(), g.driver.now()).is_none(),
        "the RST tore the bypass entry down"
    );
    let late = m.data(Side::Client, 10);
    g.pass(&m.frame(&late), IfaceId(0));
    assert_eq!(g.driver.engine().counters().bypass_conns_created, 2);
    g.done("seed-bypass-teardown")
}

/// `timeout idle 0:00:10 reset`: an established connection to port 80
/// idles out and the engine sends a RST to each end; the client's next
/// segment finds nothing.
fn idle_reset() -> Seed {
    let mut g = Gen::with(setup(PolicyChoice::AclClasses), ChecksumState::Verified);
    let mut m = tcp_model(40_130);
    g.open(&mut m);
    g.exchange(&mut m);
    g.tick(SIX_S);
    assert_eq!(g.transmits(), 0, "not idle yet");
    g.tick(SIX_S);
    assert_eq!(g.transmits(), 2, "a RST to each end");
    let d = m.data(Side::Client, 40);
    g.drop_for(&m.frame(&d), IfaceId(0), TICK, DropReason::TcpNotSyn);
    g.done("seed-idle-reset")
}

/// `timeout idle 0:00:10 reset dcd 0:00:01 2` (TCP 443): an established
/// connection idles out, and the engine probes the client twice, a
/// second apart; no end answers, so the connection is found dead and
/// each end gets a RST (docs/asa-behaviour.md §2.2).
fn idle_dcd() -> Seed {
    let mut g = Gen::with(setup(PolicyChoice::AclClasses), ChecksumState::Verified);
    let mut m = model(client(0, 40_135), server(443));
    g.open(&mut m);
    g.exchange(&mut m);
    g.tick(SIX_S);
    assert_eq!(g.transmits(), 0, "not idle yet");
    g.tick(SIX_S);
    assert_eq!(g.transmits(), 1, "a probe to the client");
    g.tick(SIX_S);
    assert_eq!(g.transmits(), 2, "a second probe");
    g.tick(SIX_S);
    assert_eq!(g.transmits(), 4, "no answer: a RST to each end");
    let d = m.data(Side::Client, 40);
    g.drop_for(&m.frame(&d), IfaceId(0), TICK, DropReason::TcpNotSyn);
    g.done("seed-idle-dcd")
}

/// Sequence randomization off, the idle reset on every connection: a
/// VLAN-tagged IPv4 connection and an IPv6 one idle out, four RSTs (on
/// the connection's VLAN, and IPv6 ones).
fn idle_reset_no_randomization() -> Seed {
    let mut g = Gen::with(
        setup(PolicyChoice::NoRandomization),
        ChecksumState::Unverified,
    );
    let mut m = tcp_model(40_140);
    assert_eq!(
        g.vlan_connection(&mut m),
        0,
        "random-sequence-number disable"
    );
    let (c6, s6) = v6_pair(40_141, 443);
    let mut m6 = model(c6, s6);
    g.open(&mut m6);
    g.exchange(&mut m6);
    g.tick(SIX_S);
    g.tick(SIX_S);
    assert_eq!(g.transmits(), 4, "a RST to each end of each");
    g.done("seed-idle-reset-no-randomization")
}

/// The limits of the class of port 80 (`conn-max 8 embryonic-conn-max 4
/// per-client-max 4 per-client-embryonic-max 2`): a client's third SYN
/// while two are half-open is answered with a SYN cookie (TCP Intercept),
/// the client's ACK of it has the engine open the connection to the
/// server, whose SYN-ACK the engine acknowledges, and data passes with the
/// server's sequence numbers in the cookie's space; the client's fifth
/// connection is refused, and so is the ninth in all.
fn class_limits() -> Seed {
    let mut g = Gen::with(setup(PolicyChoice::AclClasses), ChecksumState::Verified);
    let mut a: Vec<TcpModel> = (0..5)
        .map(|i| model(client(0, 41_000 + i), server(80)))
        .collect();
    for m in &mut a[..2] {
        g.syn(m);
    }
    g.intercepted(client(0, 41_010), server(80));
    for m in &mut a[..2] {
        g.finish(m);
    }
    g.syn(&mut a[3]);
    g.finish(&mut a[3]);
    let syn = a[4].syn();
    g.drop_for(
        &a[4].frame(&syn),
        IfaceId(0),
        TICK,
        DropReason::PerClientConnLimit,
    );
    for n in 1..=2 {
        for port in [41_100, 41_101] {
            let mut m = model(client(n, port), server(80));
            g.syn(&mut m);
            g.finish(&mut m);
        }
    }
    let mut m = model(client(3, 41_200), server(80));
    let syn = m.syn();
    g.drop_for(&m.frame(&syn), IfaceId(0), TICK, DropReason::ConnLimit);
    g.done("seed-class-limits")
}

impl Gen {
    /// A connection from `c` to `s` past a half-open limit, through TCP
    /// Intercept: the cookie, the engine's SYN, its ACK of the server's
    /// SYN-ACK, and data both ways (the server's reaching the client in
    /// the cookie's space).
    fn intercepted(&mut self, c: Host, s: Host) {
        let frame = |from: Side, seq: u32, ack: u32, flags: u8, len: u32| {
            let seg = Seg::plain(from, seq, ack, flags, len);
            match from {
                Side::Client => tcp_frame(&c, &s, &seg),
                Side::Server => tcp_frame(&s, &c, &seg),
            }
        };
        let sent = self.transmits();
        let (isn, server_isn) = (7_000u32, 3_000_000u32);
        let (syn, ack) = (TcpFlags::SYN, TcpFlags::ACK);
        let intercepted = DropReason::TcpIntercepted;
        self.drop_for(&frame(Side::Client, isn, 0, syn, 0), c.iface, TICK, intercepted);
        let cookie = u32::from_be_bytes(self.driver.last_built()[38..42].try_into().unwrap());
        let to_client = frame(Side::Client, isn + 1, cookie.wrapping_add(1), ack, 0);
        self.drop_for(&to_client, c.iface, TICK, intercepted);
        let sa = frame(Side::Server, server_isn, isn + 1, syn | ack, 0);
        self.drop_for(&sa, s.iface, TICK, intercepted);
        assert_eq!(self.transmits(), sent + 3, "cookie, SYN, ACK");
        let d = frame(Side::Client, isn + 1, cookie.wrapping_add(1), ack | TcpFlags::PSH, 40);
        self.pass(&d, c.iface);
        let r = frame(Side::Server, server_isn + 1, isn + 41, ack | TcpFlags::PSH, 60);
        let out = self.pass(&r, s.iface);
        assert_eq!(out[38..42], cookie.wrapping_add(1).to_be_bytes());
    }
}

/// Embryonic limits without a connection limit, and DNS limited: a
/// client's third SYN, and the fifth half-open connection in all, are
/// answered with SYN cookies (TCP Intercept) and replace nothing; a
/// client's third DNS flow and the fifth in all are refused; the 5 s
/// embryonic timeout then clears the half-open connections.
fn embryonic_limits() -> Seed {
    let mut g = Gen::with(
        setup(PolicyChoice::NoRandomization),
        ChecksumState::Verified,
    );
    let mut half_open = Vec::new();
    for (n, port) in [(0, 42_000), (0, 42_001), (1, 42_000), (1, 42_001)] {
        let mut m = model(client(n, port), server(443));
        g.syn(&mut m);
        half_open.push(m);
    }
    for (n, port) in [(0, 42_002), (2, 42_003)] {
        let mut m = model(client(n, port), server(443));
        let syn = m.syn();
        g.drop_for(
            &m.frame(&syn),
            IfaceId(0),
            TICK,
            DropReason::TcpIntercepted,
        );
    }
    assert_eq!(g.transmits(), 2, "two SYN cookies");
    let gone = |g: &Gen, m: &TcpModel| g.driver.engine().find(&m.tuple(), g.driver.now()).is_none();
    assert!(
        half_open.iter().all(|m| !gone(&g, m)),
        "nothing replaced"
    );
    let dns = |n, port| udp_frame(&client(n, port), &server(53), b"q");
    for port in [5_300, 5_301] {
        g.pass(&dns(0, port), IfaceId(0));
    }
    g.drop_for(
        &dns(0, 5_302),
        IfaceId(0),
        TICK,
        DropReason::PerClientConnLimit,
    );
    for port in [5_300, 5_301] {
        g.pass(&dns(1, port), IfaceId(0));
    }
    g.drop_for(&dns(2, 5_300), IfaceId(0), TICK, DropReason::ConnLimit);
    g.tick(SIX_S);
    assert!(
        half_open.iter().all(|m| gone(&g, m)),
        "the embryonic timeout cleared them"
    );
    g.done("seed-embryonic-limits")
}

/// Batch mode under the access-list policy, checksums left to the engine:
/// ten connections opened and carrying data in batches, a denied SYN
/// among the first, and a batch of [`MAX_BATCH_FRAMES`] (past the
/// engine's prefetch chunk).
fn batch() -> Seed {
    let batch_setup = Setup {
        batch: true,
        ..setup(PolicyChoice::AclClasses)
    };
    let mut g = Gen::with(batch_setup, ChecksumState::Unverified);
    let mut ms: Vec<TcpModel> = (0..10)
        .map(|i| model(client(0, 43_000 + i), server(443)))
        .collect();
    let mut syns: Vec<Vec<u8>> = ms
        .iter_mut()
        .map(|m| {
            let syn = m.syn();
            m.frame(&syn)
        })
        .collect();
    let mut telnet = model(client(0, 43_100), server(23));
    let syn = telnet.syn();
    syns.push(telnet.frame(&syn));
    let verdicts = g.batch(&syns, IfaceId(0), TICK);
    assert!(
        verdicts[..10]
            .iter()
            .all(|v| matches!(v, Verdict::Forward { .. }))
    );
    assert_eq!(verdicts[10], Verdict::Drop(DropReason::AclDeny));
    for m in &mut ms {
        g.learn_shift(m, m.tuple());
    }
    let syn_acks = frames_of(&mut ms, Side::Server, |m, _| m.syn_ack());
    let acks = frames_of(&mut ms, Side::Client, |m, side| m.ack(side));
    let mut data = frames_of(&mut ms, Side::Client, |m, side| m.data(side, 40));
    data.extend(frames_of(&mut ms, Side::Client, |m, side| m.data(side, 40)));
    assert_eq!(data.len(), MAX_BATCH_FRAMES);
    let replies = frames_of(&mut ms, Side::Server, |m, side| m.data(side, 60));
    for (frames, ingress) in [
        (syn_acks, IfaceId(1)),
        (acks, IfaceId(0)),
        (data, IfaceId(0)),
        (replies, IfaceId(1)),
    ] {
        let verdicts = g.batch(&frames, ingress, TICK);
        assert!(
            verdicts
                .iter()
                .all(|v| matches!(v, Verdict::Forward { .. })),
            "{verdicts:?}"
        );
    }
    g.done("seed-batch")
}

/// The frame of the segment `seg` makes on each model, from `side`.
fn frames_of(ms: &mut [TcpModel], side: Side, seg: fn(&mut TcpModel, Side) -> Seg) -> Vec<Vec<u8>> {
    ms.iter_mut()
        .map(|m| {
            let s = seg(m, side);
            m.frame(&s)
        })
        .collect()
}

/// The fast path off: established segments take the general path.
fn slow_path() -> Seed {
    let slow = Setup {
        slow_path: true,
        ..Setup::default()
    };
    let mut g = Gen::with(slow, ChecksumState::Verified);
    let mut m = tcp_model(40_150);
    g.open(&mut m);
    g.exchange(&mut m);
    for seg in [
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        g.pass(&m.frame(&seg), m.iface(seg.from));
    }
    assert_eq!(g.driver.engine().fast_path_frames(), 0);
    g.done("seed-tcp-slow-path")
}
