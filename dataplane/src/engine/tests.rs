//! Engine tests on real frames: every case feeds bytes a host could send
//! and asserts the exact verdict and the counter that moved.

use std::time::Duration;

use super::*;
use crate::conntrack::TcpState;
use crate::counters::ConnProto;
use crate::packet::ChecksumState;
use crate::trace::{
    Host, Seg, Side, TcpModel, echo_frame, icmpv4_unreachable_frame, udp_frame, v4_pair,
};

const FWD_OUT: Verdict = Verdict::Forward { egress: IfaceId(1) };
const FWD_IN: Verdict = Verdict::Forward { egress: IfaceId(0) };

struct Harness {
    engine: Engine,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with(|_| {})
    }

    /// An engine whose model endpoints need no randomization shift: the
    /// global policy's class-default disables it (randomization has its own
    /// tests below).
    fn with(tweak: impl FnOnce(&mut EngineConfig)) -> Self {
        let mut cfg = EngineConfig::inside_outside(NodeId(7), [1, 2, 3, 4]);
        tweak(&mut cfg);
        let mut h = Harness {
            engine: Engine::new(cfg).unwrap(),
            now: Instant::from_secs(1000),
        };
        h.install(crate::policy::compile::randomization_off());
        h
    }

    /// As [`new`](Self::new), with `inspect icmp` and `inspect icmp error`.
    fn inspecting_icmp() -> Self {
        let mut h = Self::new();
        let mut cfg = crate::policy::compile::randomization_off();
        crate::policy::compile::inspect_icmp(&mut cfg);
        h.install(cfg);
        h
    }

    fn install(&mut self, cfg: crate::policy::ast::Config) {
        let p = crate::policy::compile::compile(&cfg, &self.engine.config().interfaces).unwrap();
        self.engine
            .set_policy(std::sync::Arc::new(p))
            .expect("the policy's classes fit");
    }

    fn frame(&mut self, mut frame: Vec<u8>, iface: IfaceId) -> Verdict {
        self.engine
            .process(&mut frame, PacketMeta::default(), iface, self.now)
    }

    fn tcp(&mut self, m: &TcpModel, seg: &Seg) -> Verdict {
        self.frame(m.frame(seg), m.iface(seg.from))
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    fn dropped(&self, reason: DropReason) -> u64 {
        self.engine.counters().dropped(reason)
    }

    fn only_entry(&self) -> &Entry {
        assert_eq!(self.engine.table().len(), 1);
        self.engine.table().iter().next().unwrap().1
    }
}

fn model(client_port: u16) -> TcpModel {
    let (c, s) = v4_pair(client_port, 80);
    TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)])
}

// === TCP through the engine ===

#[test]
fn tcp_conversation_passes_and_is_tracked() {
    let mut h = Harness::new();
    let mut m = model(40_000);
    let [syn, sa, ack] = m.handshake();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    assert_eq!(h.only_entry().asa_flags().to_string(), "saA");
    assert_eq!(h.tcp(&m, &sa), FWD_IN);
    assert_eq!(h.only_entry().asa_flags().to_string(), "A");
    assert_eq!(h.tcp(&m, &ack), FWD_OUT);
    assert_eq!(h.only_entry().asa_flags().to_string(), "U");
    let d = m.data(Side::Client, 100);
    assert_eq!(h.tcp(&m, &d), FWD_OUT);
    let d = m.data(Side::Server, 1400);
    assert_eq!(h.tcp(&m, &d), FWD_IN);
    assert_eq!(h.only_entry().asa_flags().to_string(), "UIO");
    let f = m.fin(Side::Client);
    assert_eq!(h.tcp(&m, &f), FWD_OUT);
    let f = m.fin(Side::Server);
    assert_eq!(h.tcp(&m, &f), FWD_IN);
    let a = m.ack(Side::Client);
    assert_eq!(h.tcp(&m, &a), FWD_OUT);

    let e = h.only_entry();
    assert_eq!(e.tcp_state(), Some(TcpState::TimeWait));
    assert_eq!(e.asa_flags().to_string(), "UfFrRIO");
    assert_eq!(e.packets, [5, 3]);
    assert_eq!(e.owner, NodeId(7));
    let c = h.engine.counters();
    assert_eq!(c.forwarded_packets, 8);
    assert_eq!(c.total_dropped(), 0);
    assert_eq!(c.conns_created[ConnProto::Tcp as usize], 1);
    assert_eq!(c.transitions(TcpState::None, TcpState::SynSent), 1);
    assert_eq!(c.transitions(TcpState::SynSent, TcpState::SynRecv), 1);
    assert_eq!(c.transitions(TcpState::SynRecv, TcpState::Established), 1);
    assert_eq!(c.transitions(TcpState::LastAck, TcpState::TimeWait), 1);
}

#[test]
fn non_syn_without_connection_is_tcp_not_syn() {
    let mut h = Harness::new();
    let mut m = model(40_001);
    m.handshake();
    let d = m.data(Side::Client, 10);
    assert_eq!(h.tcp(&m, &d), Verdict::Drop(DropReason::TcpNotSyn));
    assert_eq!(h.dropped(DropReason::TcpNotSyn), 1);
    assert!(h.engine.table().is_empty());
}

#[test]
fn connection_from_outside_is_denied_without_access_rule() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(40_002, 80);
    // The "client" sits outside this time.
    let mut m = TcpModel::new(s, c, [1, 2], [1000, 1000], [None, None]);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), Verdict::Drop(DropReason::AclDeny));
    assert_eq!(h.dropped(DropReason::AclDeny), 1);
}

#[test]
fn packet_on_the_wrong_interface_is_dropped() {
    let mut h = Harness::new();
    let mut m = model(40_003);
    let [syn, sa, _] = m.handshake();
    h.tcp(&m, &syn);
    // The server's SYN-ACK arrives from the inside: spoofed or looped.
    assert_eq!(
        h.frame(m.frame(&sa), IfaceId(0)),
        Verdict::Drop(DropReason::InterfaceMismatch)
    );
}

#[test]
fn out_of_window_data_is_dropped_and_counted() {
    let mut h = Harness::new();
    let mut m = model(40_004);
    for s in m.handshake() {
        h.tcp(&m, &s);
    }
    let mut d = m.data(Side::Client, 100);
    d.seq = d.seq.wrapping_add(0x2000_0000);
    assert_eq!(h.tcp(&m, &d), Verdict::Drop(DropReason::TcpSeqPastWindow));
    assert_eq!(h.dropped(DropReason::TcpSeqPastWindow), 1);
}

#[test]
fn expired_entry_is_gone_before_the_sweep() {
    let mut h = Harness::new();
    let mut m = model(40_005);
    for s in m.handshake() {
        h.tcp(&m, &s);
    }
    h.advance(Duration::from_secs(3601));
    let d = m.data(Side::Client, 10);
    assert_eq!(h.tcp(&m, &d), Verdict::Drop(DropReason::TcpNotSyn));
}

#[test]
fn established_idle_timeout_is_refreshed_by_traffic() {
    let mut h = Harness::new();
    let mut m = model(40_006);
    for s in m.handshake() {
        h.tcp(&m, &s);
    }
    for _ in 0..3 {
        h.advance(Duration::from_secs(3000));
        let d = m.data(Side::Client, 10);
        assert_eq!(h.tcp(&m, &d), FWD_OUT);
    }
}

#[test]
fn syn_after_close_reopens_the_tuple() {
    let mut h = Harness::new();
    let mut m = model(40_007);
    for s in m.handshake() {
        h.tcp(&m, &s);
    }
    let r = m.rst(Side::Client);
    assert_eq!(h.tcp(&m, &r), FWD_OUT);
    let old_id = h.only_entry().id;
    let mut m2 = TcpModel::new(m.client, m.server, [77_777, 5], [1000, 1000], [None, None]);
    let syn = m2.syn();
    assert_eq!(h.tcp(&m2, &syn), FWD_OUT);
    let e = h.only_entry();
    assert_ne!(e.id, old_id);
    assert_eq!(e.tcp_state(), Some(TcpState::SynSent));
    assert_eq!(
        h.engine.counters().conns_removed[RemoveReason::Reopen as usize],
        1
    );
}

#[test]
fn ipv6_tcp_conversation_passes() {
    let mut h = Harness::new();
    let c = Host {
        mac: [2, 0, 0, 0, 0, 1],
        ip: "2001:db8::10".parse().unwrap(),
        port: 50_000,
        iface: IfaceId(0),
    };
    let s = Host {
        mac: [2, 0, 0, 0, 0, 2],
        ip: "2001:db8:1::10".parse().unwrap(),
        port: 443,
        iface: IfaceId(1),
    };
    let mut m = TcpModel::new(c, s, [5, 6], [65_535, 65_535], [Some(2), Some(3)]);
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let d = m.data(Side::Server, 1200);
    assert_eq!(h.tcp(&m, &d), FWD_IN);
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::Established));
}

// === UDP ===

#[test]
fn udp_flow_allows_replies_until_idle_timeout() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(5353, 53);
    assert_eq!(h.frame(udp_frame(&c, &s, b"query"), c.iface), FWD_OUT);
    assert_eq!(h.frame(udp_frame(&s, &c, b"answer"), s.iface), FWD_IN);
    let e = h.only_entry();
    assert_eq!(e.asa_flags().to_string(), "IOD");
    assert_eq!(e.packets, [1, 1]);
    h.advance(Duration::from_secs(121));
    assert_eq!(
        h.frame(udp_frame(&s, &c, b"late"), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
}

/// The global `timeout udp` replaces the 2-minute default for flows whose
/// class sets no idle timeout, existing flows too; a class's own timeout
/// still wins (docs/asa-behaviour.md §2.2). Global timeouts were once
/// ignored, and `timeout udp 0:01:00` left UDP flows for 2 minutes.
#[test]
fn the_global_udp_timeout_applies_where_no_class_sets_one() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(5354, 53);
    assert_eq!(h.frame(udp_frame(&c, &s, b"query"), c.iface), FWD_OUT);
    let text = "timeout udp 0:01:00 conn 2:00:00\n\
                access-list DNS extended permit udp any any eq 5300\n\
                class-map dns\n match access-list DNS\n\
                policy-map global_policy\n class dns\n  set connection timeout idle 0:05:00\n\
                service-policy global_policy global\n";
    h.install(crate::policy::parse::parse_config(text).unwrap().config);
    assert_eq!(h.engine.config().timeouts.udp_idle, Duration::from_secs(60));
    assert_eq!(
        h.engine.config().timeouts.tcp_idle,
        Duration::from_secs(7200)
    );
    // A flow of the class: its own five minutes.
    let (c2, s2) = v4_pair(5355, 5300);
    assert_eq!(h.frame(udp_frame(&c2, &s2, b"q"), c2.iface), FWD_OUT);
    h.advance(Duration::from_secs(61));
    assert_eq!(h.engine.expire(h.now), 1, "the first flow, after a minute");
    assert_eq!(
        h.only_entry().key.hi.port.max(h.only_entry().key.lo.port),
        5355
    );
    // Without the line, the default again.
    h.install(crate::policy::parse::parse_config("").unwrap().config);
    assert_eq!(
        h.engine.config().timeouts.udp_idle,
        Duration::from_secs(120)
    );
    // Zero is never.
    h.install(
        crate::policy::parse::parse_config("timeout udp 0:00:00\n")
            .unwrap()
            .config,
    );
    assert_eq!(h.engine.config().timeouts.udp_idle, Duration::MAX);
}

#[test]
fn unsolicited_udp_from_outside_is_denied() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(9999, 123);
    assert_eq!(
        h.frame(udp_frame(&s, &c, b"x"), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
}

// === ICMP ===

/// One reply per request (docs/asa-behaviour.md §2.5).
mod echo;

/// ICMP types and codes in the access rules (§2.1).
mod icmp_types;

/// A connection is of one VLAN (docs/asa-behaviour.md §2.6).
mod vlan;

/// Neighbour discovery passes; router discovery meets the rules (§2.5).
mod nd;

/// A shut interface passes nothing (§2.1).
mod shutdown;

/// An EtherType `deny any` drops IP and ARP; `log disable` (§2.7, §4).
mod ethertype;

/// The rules see an authentication header as protocol 51 (§2.1).
mod ah;

/// A SYN on a closing connection's tuple (docs/sync.md §4).
mod reopen;

/// The TTL floor: what lowers it, what leaves it alone (§6.1).
mod ttl;

/// ICMP errors quote randomized segments as their receiver sent them (§6.2).
mod quote;

/// ICMP errors quote a sequence number in the window, and are not long (§2.5).
mod icmp_error;

/// Bypass connections are never randomized (§6.2).
mod bypass_seq;

/// The MSS clamp of SYNs and SYN-ACKs, `sysopt connection tcpmss` (§6.3).
mod mss;

/// A dropped packet leaves its entry as it was.
mod dropped;

/// Class limits, a full table, and expired entries that still count
/// (§2.2).
mod limits;

/// Other IP protocols: GRE, ESP, SCTP, … (§2.1, §2.2).
mod other;

/// IP fragments: virtual reassembly (§2.8).
mod fragment;

/// Dead connection detection, `set connection timeout dcd` (§2.2).
mod dcd;
/// DCD under load, slow ends, slow sweeps, IPv6 on a VLAN (§2.2).
mod dcd_load;
mod mss_props;
/// Which of a node's workers judges a frame (docs/io.md §9).
mod spread;
/// A class's tcp-map (docs/asa-behaviour.md §6.1).
mod tcp_map;

#[test]
fn echo_reply_needs_a_request_and_times_out_after_2s() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    assert_eq!(
        h.frame(echo_frame(&s, &c, 9, 1, true), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    assert_eq!(h.frame(echo_frame(&c, &s, 9, 1, false), c.iface), FWD_OUT);
    assert_eq!(h.frame(echo_frame(&s, &c, 9, 1, true), s.iface), FWD_IN);
    // A reply travelling toward the responder is not a reply to this request.
    assert_eq!(
        h.frame(echo_frame(&s, &c, 10, 1, true), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    h.advance(Duration::from_secs(3));
    assert_eq!(
        h.frame(echo_frame(&s, &c, 9, 2, true), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    assert_eq!(h.dropped(DropReason::IcmpNoConnection), 3);
}

/// With identifier 0 a request from the responder's side has the flow key
/// of the requester's flow: it is no reply, and the rules judge it alone
/// (outside to inside: denied), however often the inside pings.
#[test]
fn a_request_against_an_echo_flow_is_judged_by_the_rules() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    assert_eq!(h.frame(echo_frame(&c, &s, 0, 1, false), c.iface), FWD_OUT);
    for seq in 1..4 {
        assert_eq!(
            h.frame(echo_frame(&s, &c, 0, seq, false), s.iface),
            Verdict::Drop(DropReason::AclDeny)
        );
    }
    assert_eq!(h.frame(echo_frame(&s, &c, 0, 1, true), s.iface), FWD_IN);
}

#[test]
fn icmp_error_passes_only_for_a_tracked_flow() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(4444, 5555);
    let probe = udp_frame(&c, &s, b"probe");
    let unreachable = icmpv4_unreachable_frame(&s, &c, &probe);
    assert_eq!(
        h.frame(unreachable.clone(), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    assert_eq!(h.frame(probe, c.iface), FWD_OUT);
    assert_eq!(h.frame(unreachable.clone(), s.iface), FWD_IN);
    assert_eq!(h.engine.counters().icmp_related_passed, 1);
    // The same error arriving from the inside travels the wrong way.
    assert_eq!(
        h.frame(unreachable, c.iface),
        Verdict::Drop(DropReason::InterfaceMismatch)
    );
}

#[test]
fn icmp_error_quoting_tcp_passes() {
    let mut h = Harness::inspecting_icmp();
    let mut m = model(40_010);
    let syn = m.syn();
    let syn_frame = m.frame(&syn);
    h.tcp(&m, &syn);
    let err = icmpv4_unreachable_frame(&m.server, &m.client, &syn_frame);
    assert_eq!(h.frame(err, m.server.iface), FWD_IN);
}

/// docs/asa-behaviour.md §2.5: without `inspect icmp` echo is stateless,
/// as on the ASA: a request opens nothing, and a reply from the lower
/// security level passes only where the access rules permit it; the same
/// holds for errors without `inspect icmp error`.
#[test]
fn without_icmp_inspection_the_access_rules_judge_every_icmp_packet() {
    let mut h = Harness::new();
    let (c, s) = v4_pair(0, 0);
    assert_eq!(h.frame(echo_frame(&c, &s, 9, 1, false), c.iface), FWD_OUT);
    assert_eq!(h.engine.table().len(), 0, "a request opens nothing");
    assert_eq!(
        h.frame(echo_frame(&s, &c, 9, 1, true), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    let (uc, us) = v4_pair(4444, 5555);
    let probe = udp_frame(&uc, &us, b"probe");
    assert_eq!(h.frame(probe.clone(), uc.iface), FWD_OUT);
    let unreachable = icmpv4_unreachable_frame(&us, &uc, &probe);
    assert_eq!(
        h.frame(unreachable.clone(), us.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    // An access-group that denies ICMP outside keeps replies out even with
    // a request seen: nothing passes that the configuration does not say.
    let text =
        "access-list OUT extended permit icmp any any\naccess-group OUT in interface outside\n";
    let mut cfg = crate::policy::parse::parse_config(text).unwrap().config;
    crate::policy::compile::disable_randomization(&mut cfg);
    h.install(cfg);
    assert_eq!(h.frame(echo_frame(&s, &c, 9, 1, true), s.iface), FWD_IN);
    assert_eq!(h.frame(unreachable, us.iface), FWD_IN);
    assert_eq!(h.engine.table().len(), 1, "the UDP flow only");
    assert_eq!(h.engine.counters().icmp_related_passed, 0);
}

/// Inspection applies where its class matches, and all inspections are one
/// feature: an earlier class with another inspection takes the packet.
#[test]
fn icmp_inspection_follows_its_class() {
    let text = "access-list PINGERS extended permit icmp host 198.18.0.10 any\n\
                class-map PINGERS\n match access-list PINGERS\n\
                class-map ALL_FTP\n match port tcp eq 21\n\
                policy-map global_policy\n\
                \x20class ALL_FTP\n  inspect ftp\n\
                \x20class PINGERS\n  inspect icmp\n\
                service-policy global_policy global\n";
    let mut cfg = crate::policy::parse::parse_config(text).unwrap().config;
    crate::policy::compile::disable_randomization(&mut cfg);
    let mut h = Harness::new();
    h.install(cfg);
    let (c, s) = v4_pair(0, 0);
    assert_eq!(c.ip.to_string(), "198.18.0.10");
    assert_eq!(h.frame(echo_frame(&c, &s, 9, 1, false), c.iface), FWD_OUT);
    assert_eq!(h.frame(echo_frame(&s, &c, 9, 1, true), s.iface), FWD_IN);
    let mut other = c;
    other.ip = "198.18.0.11".parse().unwrap();
    assert_eq!(
        h.frame(echo_frame(&other, &s, 9, 1, false), c.iface),
        FWD_OUT
    );
    assert_eq!(
        h.frame(echo_frame(&s, &other, 9, 1, true), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    // A class before it that matches everything with another inspection
    // takes the feature: the pinger's echo is no longer inspected.
    let text = format!(
        "class-map ANY\n match any\n{}",
        text.replace(
            " class ALL_FTP\n  inspect ftp\n",
            " class ANY\n  inspect dns\n"
        )
    );
    let mut cfg = crate::policy::parse::parse_config(&text).unwrap().config;
    crate::policy::compile::disable_randomization(&mut cfg);
    h.install(cfg);
    assert_eq!(h.frame(echo_frame(&c, &s, 10, 1, false), c.iface), FWD_OUT);
    assert_eq!(
        h.frame(echo_frame(&s, &c, 10, 1, true), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
}

/// SACK blocks a third of the sequence space apart each follow the one
/// before in serial order, so a fold by serial order ended on the last and
/// hid a block acknowledging data never sent: every block counts now.
#[test]
fn a_sack_of_unsent_data_is_dropped_however_the_blocks_are_ordered() {
    let mut h = Harness::new();
    let mut m = model(40_120);
    for seg in m.handshake() {
        assert!(matches!(h.tcp(&m, &seg), Verdict::Forward { .. }));
    }
    let data = m.data(Side::Server, 1000);
    assert_eq!(h.tcp(&m, &data), FWD_IN);
    let mut ack = m.ack(Side::Client);
    let r = ack.ack;
    ack.sack = vec![
        (r.wrapping_sub(1000), r.wrapping_add(1000)),
        (r, r.wrapping_add(1000).wrapping_add(0x5555_5555)),
        (r, r.wrapping_add(1000).wrapping_add(0xAAAA_AAAA)),
    ];
    assert_eq!(h.tcp(&m, &ack), Verdict::Drop(DropReason::TcpAckPastWindow));
    ack.sack = vec![(r.wrapping_sub(1000), r)];
    assert_eq!(h.tcp(&m, &ack), FWD_OUT);
}

// === frames that are not connections ===

#[test]
fn malformed_and_bad_checksum_frames_are_counted() {
    let mut h = Harness::new();
    assert_eq!(
        h.frame(vec![0u8; 5], IfaceId(0)),
        Verdict::Drop(DropReason::L2Truncated)
    );
    let mut m = model(40_011);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    // Change the TCP window field (Ethernet 14 + IPv4 20 + offset 14): the
    // TCP checksum no longer matches.
    f[48] ^= 0x01;
    let mut g = f.clone();
    assert_eq!(
        h.frame(f, IfaceId(0)),
        Verdict::Drop(DropReason::TcpChecksumBad)
    );
    // The same bytes with a partial checksum (veth offload) are not bad.
    let meta = PacketMeta {
        checksum: ChecksumState::Partial,
        ..PacketMeta::default()
    };
    assert_eq!(h.engine.process(&mut g, meta, IfaceId(0), h.now), FWD_OUT);
    assert_eq!(
        h.frame(vec![0u8; 60], IfaceId(9)),
        Verdict::Drop(DropReason::UnknownInterface)
    );
}

/// An Ethernet/IPv4 ARP request (who has 198.18.0.1, tell 198.18.0.10).
fn arp_request() -> Vec<u8> {
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[
        2, 0, 0, 0, 0, 1, 198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1,
    ]);
    arp
}

#[test]
fn arp_passes_untracked() {
    let mut h = Harness::new();
    let arp = arp_request();
    assert_eq!(h.frame(arp, IfaceId(0)), FWD_OUT);
    assert_eq!(h.engine.counters().untracked_passed, 1);
    assert!(h.engine.table().is_empty());
}

// === configuration ===

#[test]
fn bad_configs_are_refused() {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [0; 4]);
    cfg.interfaces[0].peer = IfaceId(0);
    assert!(matches!(Engine::new(cfg), Err(ConfigError::BadPeer { .. })));
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [0; 4]);
    cfg.interfaces[1].security_level = 101;
    assert!(matches!(
        Engine::new(cfg),
        Err(ConfigError::SecurityLevel { .. })
    ));
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [0; 4]);
    cfg.max_conns = 0;
    assert_eq!(Engine::new(cfg).unwrap_err(), ConfigError::NoCapacity);
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [0; 4]);
    cfg.interfaces.clear();
    assert_eq!(
        Engine::new(cfg).unwrap_err(),
        ConfigError::InterfaceCount(0)
    );
}

// === policy: classes, limits, tcp-state-bypass ===

fn with_policy(cfg: &crate::policy::ast::Config) -> Harness {
    let mut h = Harness::new();
    let mut cfg = cfg.clone();
    crate::policy::compile::disable_randomization(&mut cfg);
    h.install(cfg);
    h
}

/// A client inside and a server outside in the seed's bypass network.
fn bypass_model(client_port: u16) -> TcpModel {
    let (c, mut s) = v4_pair(client_port, 445);
    s.ip = "198.18.2.10".parse().unwrap();
    TcpModel::new(c, s, [10, 20], [64_240, 65_160], [Some(7), Some(7)])
}

#[test]
fn mid_stream_packet_creates_a_bypass_entry_only_in_the_bypass_class() {
    let mut h = with_policy(&crate::policy::compile::tests::seed());
    let mut m = bypass_model(41_000);
    m.handshake();
    let d = m.data(Side::Client, 100);
    assert_eq!(h.tcp(&m, &d), FWD_OUT);
    let e = h.only_entry();
    assert_eq!(e.proto, ProtoState::TcpBypass);
    assert_eq!(e.asa_flags().to_string(), "b");
    assert_eq!(h.engine.counters().bypass_conns_created, 1);

    // The same packet to a server outside the bypass network: inspected, dropped.
    let mut m2 = model(41_001);
    m2.handshake();
    let d2 = m2.data(Side::Client, 100);
    assert_eq!(h.tcp(&m2, &d2), Verdict::Drop(DropReason::TcpNotSyn));
}

#[test]
fn reply_first_packet_creates_a_bypass_entry() {
    let mut h = with_policy(&crate::policy::compile::tests::seed());
    // Server inside in the bypass network, client outside: the server's
    // reply is the first packet the node sees.
    let (mut srv, cli) = v4_pair(445, 50_000);
    srv.ip = "198.18.2.20".parse().unwrap();
    let mut m = TcpModel::new(cli, srv, [1, 2], [1000, 1000], [None, None]);
    let [_, sa, _] = m.handshake();
    assert_eq!(h.tcp(&m, &sa), FWD_OUT);
    assert_eq!(h.only_entry().asa_flags().to_string(), "b");
    // ... and then the client's packets from outside match the entry.
    let d = m.data(Side::Client, 10);
    assert_eq!(h.tcp(&m, &d), FWD_IN);
}

#[test]
fn out_of_window_packets_pass_for_bypass_and_drop_when_inspected() {
    let mut h = with_policy(&crate::policy::compile::tests::seed());
    let mut m = bypass_model(41_002);
    for s in m.handshake() {
        assert!(matches!(h.tcp(&m, &s), Verdict::Forward { .. }));
    }
    let mut wild = m.data(Side::Server, 10);
    wild.seq = wild.seq.wrapping_add(0x4000_0000);
    assert_eq!(h.tcp(&m, &wild), FWD_IN);

    let mut m2 = model(41_003);
    for s in m2.handshake() {
        h.tcp(&m2, &s);
    }
    let mut wild2 = m2.data(Side::Server, 10);
    wild2.seq = wild2.seq.wrapping_add(0x4000_0000);
    assert_eq!(
        h.tcp(&m2, &wild2),
        Verdict::Drop(DropReason::TcpSeqPastWindow)
    );
}

/// docs/asa-behaviour.md §1.2: bypass skips the state machine and the
/// windows, not the check of the flags themselves. A flag combination no
/// stack sends (null, SYN|FIN, SYN|RST, a FIN without ACK: scans and
/// evasions) is dropped as `bad-tcp-flags` in a bypass class as anywhere,
/// opens no entry, and is dropped on a bypass entry too, which it leaves
/// as it was.
#[test]
fn bad_tcp_flags_are_dropped_in_a_bypass_class_too() {
    let mut h = with_policy(&crate::policy::compile::tests::seed());
    let bad = Verdict::Drop(DropReason::TcpBadFlags);
    // Null, SYN|FIN, SYN|RST, FIN|PSH|URG (the "Xmas" scan), PSH|URG,
    // and a bare FIN.
    let scans = [0x00, 0x03, 0x06, 0x29, 0x28, 0x01];
    for (i, flags) in scans.into_iter().enumerate() {
        let mut m = bypass_model(41_600 + i as u16);
        let mut seg = m.data(Side::Client, 0);
        seg.flags = flags;
        assert_eq!(h.tcp(&m, &seg), bad, "flags {flags:#04x}");
    }
    assert!(h.engine.table().is_empty(), "no entry opened");
    assert_eq!(h.dropped(DropReason::TcpBadFlags), scans.len() as u64);
    // On a bypass entry.
    let mut m = bypass_model(41_610);
    let d = m.data(Side::Client, 100);
    assert_eq!(h.tcp(&m, &d), FWD_OUT);
    let packets = h.only_entry().packets;
    for flags in scans {
        for side in [Side::Client, Side::Server] {
            let mut seg = m.data(side, 0);
            seg.flags = flags;
            assert_eq!(h.tcp(&m, &seg), bad, "flags {flags:#04x} from {side:?}");
        }
    }
    assert_eq!(h.only_entry().packets, packets, "counted on no entry");
    let d = m.data(Side::Server, 100);
    assert_eq!(h.tcp(&m, &d), FWD_IN, "the connection goes on");
}

#[test]
fn per_client_max_refuses_the_10001st_connection() {
    let mut h = with_policy(&crate::policy::compile::tests::seed());
    for i in 0..10_000u32 {
        let mut m = bypass_model(1024 + (i % 60_000) as u16);
        m.server.port = 445 + (i / 60_000) as u16;
        let syn = m.syn();
        assert_eq!(h.tcp(&m, &syn), FWD_OUT, "connection {i}");
    }
    let mut m = bypass_model(65_000);
    m.server.port = 446;
    let syn = m.syn();
    assert_eq!(
        h.tcp(&m, &syn),
        Verdict::Drop(DropReason::PerClientConnLimit)
    );
    // Another client is not affected.
    let mut other = bypass_model(65_000);
    other.client.ip = "198.18.0.11".parse().unwrap();
    let syn = other.syn();
    assert_eq!(h.tcp(&other, &syn), FWD_OUT);
}

/// docs/asa-behaviour.md §2.3: a class that only makes traffic bypass
/// leaves the limits of a later class in force, and both classes count the
/// connection as a hit.
#[test]
fn a_bypass_class_keeps_the_limits_of_a_later_class() {
    let text = "access-list BYP extended permit tcp any 198.18.2.0 255.255.255.0\n\
                class-map BYPASS\n match access-list BYP\n\
                policy-map global_policy\n\
                \x20class BYPASS\n  set connection advanced-options tcp-state-bypass\n\
                \x20class class-default\n  set connection per-client-max 3\n\
                service-policy global_policy global\n";
    let cfg = crate::policy::parse::parse_config(text).unwrap().config;
    let mut h = with_policy(&cfg);
    for i in 0..3u16 {
        let mut m = bypass_model(42_000 + i);
        let syn = m.syn();
        assert_eq!(h.tcp(&m, &syn), FWD_OUT, "connection {i}");
    }
    assert_eq!(h.engine.table().len(), 3);
    assert!(
        h.engine
            .table()
            .iter()
            .all(|(_, e)| e.proto == ProtoState::TcpBypass)
    );
    let mut m = bypass_model(42_100);
    let syn = m.syn();
    assert_eq!(
        h.tcp(&m, &syn),
        Verdict::Drop(DropReason::PerClientConnLimit)
    );
    // (The harness adds a second class-default, turning randomization off.)
    let hits = |name: &str| -> u64 {
        h.engine
            .classes()
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.created)
            .sum()
    };
    assert_eq!(hits("global_policy/class-default"), 3);
    assert_eq!(hits("global_policy/BYPASS"), 3);
}

#[test]
fn bypass_entry_idles_out_after_the_class_timeout() {
    // With `reset` on the idle timeout too: a bypass entry keeps no TCP
    // state to address a RST with, so none is sent.
    let mut seed = crate::policy::compile::tests::seed();
    seed.policy_maps[0].classes[0].connection.idle_reset = true;
    let mut h = with_policy(&seed);
    let mut m = bypass_model(41_004);
    let syn = m.syn();
    h.tcp(&m, &syn);
    h.advance(Duration::from_secs(14));
    let sa = m.syn_ack();
    assert_eq!(h.tcp(&m, &sa), FWD_IN);
    assert_eq!(h.engine.table().len(), 1);
    h.advance(Duration::from_secs(15));
    assert_eq!(h.engine.expire(h.now), 1);
    assert!(h.engine.table().is_empty());
    // A bypass flow never produces an effect (no RSTs, and no sync events
    // once the cluster exists).
    assert_eq!(
        std::iter::from_fn(|| h.engine.poll_effect(h.now)).count(),
        0
    );
    let slot = h
        .engine
        .classes()
        .iter()
        .find(|(_, s)| s.name.ends_with("tcp_bypass"))
        .unwrap()
        .1;
    assert_eq!((slot.conns, slot.created), (0, 1));
}

#[test]
fn a_new_policy_applies_to_new_connections_only() {
    let mut h = Harness::new();
    let mut before = bypass_model(41_005);
    for seg in before.handshake() {
        assert!(matches!(h.tcp(&before, &seg), Verdict::Forward { .. }));
    }
    let mut seed = crate::policy::compile::tests::seed();
    crate::policy::compile::disable_randomization(&mut seed);
    h.install(seed);
    let mut after = bypass_model(41_006);
    let syn = after.syn();
    h.tcp(&after, &syn);
    let flags: Vec<String> = h
        .engine
        .table()
        .iter()
        .map(|(_, e)| e.asa_flags().to_string())
        .collect();
    assert_eq!(flags, vec!["U".to_string(), "b".to_string()]);
    // The old connection still has inspected semantics.
    let mut wild = before.data(Side::Server, 10);
    wild.seq = wild.seq.wrapping_add(0x4000_0000);
    assert_eq!(
        h.tcp(&before, &wild),
        Verdict::Drop(DropReason::TcpSeqPastWindow)
    );
}

// === sequence randomization (ASA default on) ===

/// Parse a forwarded frame back into the segment its receiver sees,
/// verifying every checksum.
fn delivered(frame: &[u8]) -> crate::packet::TcpSegment {
    match crate::packet::parse(frame, PacketMeta::default()) {
        Ok(Parsed::Ip {
            transport: Transport::Tcp(t),
            ..
        }) => t,
        other => panic!("forwarded frame does not parse cleanly: {other:?}"),
    }
}

/// A policy of `inspect icmp` and `inspect icmp error` alone.
fn icmp_inspected() -> crate::policy::ast::Config {
    let mut cfg = crate::policy::ast::Config::default();
    crate::policy::compile::inspect_icmp(&mut cfg);
    cfg
}

/// [`randomized_syn`] under [`icmp_inspected`], its handshake completed
/// through the engine (each segment forwarded) and the model shifted by
/// the connection's offset, which it returns.
fn randomized_established(port: u16) -> (Harness, TcpModel, u32) {
    let (mut h, mut m, _syn, _out) = randomized_syn(port);
    h.install(icmp_inspected());
    let delta = h.only_entry().seq_offset;
    m.set_shift(delta);
    for seg in [m.syn_ack(), m.ack(Side::Client)] {
        let mut f = m.frame(&seg);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), m.iface(seg.from), h.now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
    }
    (h, m, delta)
}

/// An engine with sequence randomization on (the ASA default) that has
/// forwarded the SYN of a client on `port`: the harness, the model, the
/// SYN as the client sent it and the frame as it left (shifted).
fn randomized_syn(port: u16) -> (Harness, TcpModel, crate::trace::Seg, Vec<u8>) {
    let cfg = EngineConfig::inside_outside(NodeId(7), [1, 2, 3, 4]);
    let mut h = Harness {
        engine: Engine::new(cfg).unwrap(),
        now: Instant::from_secs(1000),
    };
    let mut m = model(port);
    let syn = m.syn();
    let mut out = m.frame(&syn);
    assert_eq!(
        h.engine
            .process(&mut out, PacketMeta::default(), m.client.iface, h.now),
        FWD_OUT
    );
    (h, m, syn, out)
}

#[test]
fn randomization_shifts_the_initiators_space_consistently() {
    // Default policy: randomization on, as on the ASA.
    let (mut h, mut m, syn, f) = randomized_syn(43_000);
    let delta = h.only_entry().seq_offset;
    assert_ne!(delta, 0);
    assert_eq!(
        delivered(&f).seq.0,
        syn.seq.wrapping_add(delta),
        "the server sees a shifted ISN"
    );
    assert_eq!(h.engine.counters().normalizer.seq_randomized_conns, 1);
    m.set_shift(delta);

    // Every later segment: client seqs arrive shifted at the server; server
    // acks (and SACK edges) arrive unshifted at the client.
    let mut segs = vec![m.syn_ack(), m.ack(Side::Client)];
    for _ in 0..5 {
        segs.push(m.data(Side::Client, 700));
        segs.push(m.data(Side::Server, 1200));
    }
    let mut sacked = m.ack(Side::Server);
    let base = sacked.ack; // already shifted by the model
    sacked.sack = vec![(base.wrapping_sub(1400), base.wrapping_sub(700))];
    segs.push(sacked);
    segs.push(m.fin(Side::Client));
    segs.push(m.fin(Side::Server));
    segs.push(m.ack(Side::Client));
    for seg in &segs {
        let mut f = m.frame(seg);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), m.iface(seg.from), h.now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
        let out = delivered(&f);
        match seg.from {
            Side::Client => {
                assert_eq!(out.seq.0, seg.seq.wrapping_add(delta));
                assert_eq!(out.ack.0, seg.ack);
            }
            Side::Server => {
                assert_eq!(out.seq.0, seg.seq);
                assert_eq!(out.ack.0, seg.ack.wrapping_sub(delta));
                if let Some(&(_, r)) = seg.sack.first() {
                    assert_eq!(
                        out.options.sack_right_edge.map(|e| e.0),
                        Some(r.wrapping_sub(delta))
                    );
                }
            }
        }
    }
    assert_eq!(h.only_entry().tcp_state(), Some(TcpState::TimeWait));
    assert_eq!(h.engine.counters().total_dropped(), 0);
}

#[test]
fn randomization_is_off_for_bypass_and_when_the_class_disables_it() {
    let mut h = Harness::new();
    let mut m = model(43_001);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    h.engine
        .process(&mut f, PacketMeta::default(), m.client.iface, h.now);
    assert_eq!(h.only_entry().seq_offset, 0);
    assert_eq!(delivered(&f).seq.0, syn.seq);
}

// === normalizer ===

#[test]
fn normalizer_counts_segments_beyond_the_announced_mss() {
    let mut h = Harness::new();
    h.install(mss::unclamped()); // the model announces 1460
    let mut m = model(43_003);
    for seg in m.handshake() {
        h.tcp(&m, &seg);
    }
    let ok = m.data(Side::Client, 1460);
    assert_eq!(h.tcp(&m, &ok), FWD_OUT);
    assert_eq!(h.engine.counters().normalizer.exceed_mss_seen, 0);
    let big = m.data(Side::Client, 1461);
    assert_eq!(h.tcp(&m, &big), FWD_OUT, "exceed-mss allow: passed");
    assert_eq!(h.engine.counters().normalizer.exceed_mss_seen, 1);
}

#[test]
fn a_gso_super_packet_is_judged_by_its_wire_segments_not_its_size() {
    let mut h = Harness::new();
    h.install(mss::unclamped()); // the model announces 1460
    let mut m = model(43_004);
    for seg in m.handshake() {
        h.tcp(&m, &seg);
    }
    // 40 segments of 1460 bytes that the sender's stack hands over as one.
    let sup = m.data(Side::Client, 40 * 1460);
    let gso = |size| PacketMeta {
        checksum: ChecksumState::Partial,
        gso_size: size,
        asked: crate::packet::OffloadRequest::NONE,
    };
    let mut frame = m.frame(&sup);
    let v = h
        .engine
        .process(&mut frame, gso(1460), m.iface(Side::Client), h.now);
    assert_eq!(v, FWD_OUT, "inside the window, tracked as 58,400 bytes");
    assert_eq!(h.engine.counters().normalizer.exceed_mss_seen, 0);
    // Cut into segments larger than the peer's MSS: counted.
    let sup2 = m.data(Side::Client, 10 * 1500);
    let mut frame = m.frame(&sup2);
    let v = h
        .engine
        .process(&mut frame, gso(1500), m.iface(Side::Client), h.now);
    assert_eq!(v, FWD_OUT);
    assert_eq!(h.engine.counters().normalizer.exceed_mss_seen, 1);
}

// === timeout idle … reset ===

#[test]
fn idle_reset_sends_a_rst_to_each_end_at_the_expected_sequence() {
    let cfg = EngineConfig::inside_outside(NodeId(7), [1, 2, 3, 4]);
    let mut h = Harness {
        engine: Engine::new(cfg).unwrap(),
        now: Instant::from_secs(1000),
    };
    let text = "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:00:10 reset\nservice-policy global_policy global\n";
    h.install(crate::policy::parse::parse_config(text).unwrap().config);
    let mut m = model(44_000);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let delta = h.only_entry().seq_offset;
    assert_ne!(
        delta, 0,
        "randomization stays on: the class does not set it"
    );
    m.set_shift(delta);
    let mut segs = vec![
        m.syn_ack(),
        m.ack(Side::Client),
        m.data(Side::Client, 100),
        m.data(Side::Server, 300),
    ];
    segs.push(m.ack(Side::Client));
    for seg in &segs {
        assert!(matches!(h.tcp(&m, seg), Verdict::Forward { .. }), "{seg:?}");
    }
    let client_next = m.clone().ack(Side::Client).seq;
    let server_next = m.clone().ack(Side::Server).seq;
    h.advance(Duration::from_secs(11));
    assert_eq!(h.engine.expire(h.now), 1);
    let effects: Vec<Effect> = std::iter::from_fn(|| h.engine.poll_effect(h.now)).collect();
    assert_eq!(effects.len(), 2);
    for e in effects {
        let Effect::Transmit { egress, frame } = e else {
            panic!("idle reset makes only transmits, got {e:?}")
        };
        let Ok(Parsed::Ip {
            tuple,
            transport: Transport::Tcp(t),
            ..
        }) = crate::packet::parse(&frame, PacketMeta::default())
        else {
            panic!("RST frame does not parse")
        };
        assert!(t.flags.has(TcpFlags::RST | TcpFlags::ACK));
        if egress == IfaceId(1) {
            // Toward the server, from the client, in the shifted space.
            assert_eq!(tuple.src.port, 44_000);
            assert_eq!(
                (t.seq.0, t.ack.0),
                (client_next.wrapping_add(delta), server_next)
            );
            assert_eq!(&frame[0..6], &m.server.mac);
        } else {
            assert_eq!(egress, IfaceId(0));
            assert_eq!(tuple.dst.port, 44_000);
            assert_eq!((t.seq.0, t.ack.0), (server_next, client_next));
            assert_eq!(&frame[0..6], &m.client.mac);
        }
    }
    assert_eq!(h.engine.counters().idle_resets_sent, 2);
}

/// `timeout half-closed` sends no RST (docs/asa-behaviour.md §2.2), also
/// in a class with `timeout idle … reset`: a half-closed connection that
/// expires leaves quietly (a review found two RSTs).
#[test]
fn a_half_closed_connection_expires_without_the_idle_reset() {
    let mut h = Harness::new();
    let text = "class-map all\n match any\npolicy-map global_policy\n class all\n  set connection timeout idle 0:10:00 reset half-closed 0:00:30\nservice-policy global_policy global\n";
    h.install(crate::policy::parse::parse_config(text).unwrap().config);
    let mut m = model(44_003);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    m.set_shift(h.only_entry().seq_offset);
    let segs = [
        m.syn_ack(),
        m.ack(Side::Client),
        m.fin(Side::Client),
        m.ack(Side::Server),
    ];
    for seg in &segs {
        assert!(matches!(h.tcp(&m, seg), Verdict::Forward { .. }), "{seg:?}");
    }
    h.advance(Duration::from_secs(31));
    assert_eq!(h.engine.expire(h.now), 1, "expired under half-closed");
    assert_eq!(
        std::iter::from_fn(|| h.engine.poll_effect(h.now)).count(),
        0,
        "no RST"
    );
    assert_eq!(h.engine.counters().idle_resets_sent, 0);
}

#[test]
fn idle_expiry_without_reset_sends_nothing() {
    let mut h = Harness::new();
    let mut m = model(44_001);
    for seg in m.handshake() {
        h.tcp(&m, &seg);
    }
    h.advance(Duration::from_secs(3601));
    assert_eq!(h.engine.expire(h.now), 1);
    assert_eq!(
        std::iter::from_fn(|| h.engine.poll_effect(h.now)).count(),
        0
    );
}

#[test]
fn icmp_error_about_a_randomized_segment_quotes_the_initiators_own_sequence() {
    let (mut h, m, syn, out) = randomized_syn(44_002);
    h.install(icmp_inspected());
    let delta = h.only_entry().seq_offset;
    // A router beyond the firewall quotes the SYN as it saw it (shifted).
    let mut err = icmpv4_unreachable_frame(&m.server, &m.client, &out);
    assert_eq!(
        h.engine
            .process(&mut err, PacketMeta::default(), m.server.iface, h.now),
        FWD_IN
    );
    let quoted_seq = u32::from_be_bytes(err[14 + 20 + 8 + 20 + 4..][..4].try_into().unwrap());
    assert_eq!(quoted_seq, syn.seq);
    assert_ne!(delta, 0);
    // The ICMP checksum still verifies over the rewritten message.
    let icmp = &err[34..];
    let mut sum: u32 = icmp
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    assert_eq!(sum, 0xffff);
}

/// The quoted TCP header is found where the parser found it: past an
/// authentication header in the quote, not at 20 bytes (IHL) past the IP
/// header, which would rewrite four bytes of the AH instead.
#[test]
fn icmp_error_unshift_finds_the_quoted_tcp_header_past_an_authentication_header() {
    let (mut h, m, syn, out) = randomized_syn(44_003);
    h.install(icmp_inspected());
    assert_ne!(h.only_entry().seq_offset, 0);
    // The quote: the SYN's IPv4 header naming AH, a 12-byte AH (next
    // header TCP, payload length 1, SPI and sequence), then 8 TCP bytes.
    let mut quote = out[14..34].to_vec();
    quote[9] = 51;
    let ah = [6, 1, 0, 0, 0xa1, 0xa2, 0xa3, 0xa4, 0xb1, 0xb2, 0xb3, 0xb4];
    quote.extend_from_slice(&ah);
    quote.extend_from_slice(&out[34..42]);
    let (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) = (m.server.ip, m.client.ip) else {
        panic!("IPv4 model")
    };
    let mut err = Vec::new();
    etherparse::PacketBuilder::ethernet2(m.server.mac, m.client.mac)
        .ipv4(s.octets(), d.octets(), 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut err, &quote)
        .unwrap();
    assert_eq!(
        h.engine
            .process(&mut err, PacketMeta::default(), m.server.iface, h.now),
        FWD_IN
    );
    let icmp = 14 + 20;
    let tcp = icmp + 8 + 20 + 12;
    assert_eq!(&err[icmp + 8 + 20..tcp], &ah, "the AH is left as it was");
    let quoted_seq = u32::from_be_bytes(err[tcp + 4..tcp + 8].try_into().unwrap());
    assert_eq!(quoted_seq, syn.seq, "the initiator's own sequence number");
}

// === per-interface counters, policy swaps, connection log ===

#[test]
fn frames_are_counted_per_ingress_interface_and_verdict() {
    let mut h = Harness::new();
    let mut m = model(40_100);
    let [syn, sa, ack] = m.handshake();
    let syn_len = m.frame(&syn).len() as u64;
    let sa_len = m.frame(&sa).len() as u64;
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    assert_eq!(h.tcp(&m, &sa), FWD_IN);
    let ack_len = m.frame(&ack).len() as u64;
    assert_eq!(h.tcp(&m, &ack), FWD_OUT);
    // A non-SYN from outside with no connection: dropped on outside.
    let mut stray = model(40_101);
    stray.handshake();
    let data = stray.data(Side::Server, 10);
    let stray_len = stray.frame(&data).len() as u64;
    assert_eq!(h.tcp(&stray, &data), Verdict::Drop(DropReason::TcpNotSyn));
    let c = h.engine.counters();
    let (inside, outside) = (&c.ifaces[0], &c.ifaces[1]);
    let (f, d, hold) = (
        VerdictKind::Forward as usize,
        VerdictKind::Drop as usize,
        VerdictKind::Hold as usize,
    );
    assert_eq!(inside.packets, [2, 0, 0]);
    assert_eq!(inside.bytes[f], syn_len + ack_len);
    assert_eq!(outside.packets[f], 1);
    assert_eq!(outside.bytes[f], sa_len);
    assert_eq!(outside.packets[d], 1);
    assert_eq!(outside.bytes[d], stray_len);
    assert_eq!(outside.packets[hold], 0);
    assert_eq!(c.ifaces.len(), 2);
}

#[test]
fn policy_swaps_are_counted() {
    let mut h = Harness::new();
    // The harness installed one policy.
    assert_eq!(h.engine.counters().policy_swaps, 1);
    h.install(crate::policy::compile::randomization_off());
    assert_eq!(h.engine.counters().policy_swaps, 2);
}

fn events(h: &mut Harness) -> Vec<connlog::ConnEvent> {
    let mut out = Vec::new();
    h.engine.take_conn_events(&mut out);
    out
}

#[test]
fn connection_log_is_off_by_default() {
    let mut h = Harness::new();
    let mut m = model(40_200);
    let [syn, ..] = m.handshake();
    h.tcp(&m, &syn);
    assert!(events(&mut h).is_empty());
    assert_eq!(h.engine.counters().conn_events_dropped, 0);
}

#[test]
fn connection_log_records_built_teardown_and_who_reset() {
    use connlog::ConnEvent;
    let mut h = Harness::new();
    h.engine.set_conn_log(16);
    let mut m = model(40_201);
    let [syn, sa, ack] = m.handshake();
    for s in [&syn, &sa, &ack] {
        h.tcp(&m, s);
    }
    let built = events(&mut h);
    assert!(matches!(built.as_slice(), [ConnEvent::Built(e)] if e.id == 1));
    h.advance(Duration::from_secs(3));
    let rst = m.rst(Side::Server);
    assert_eq!(h.tcp(&m, &rst), FWD_IN);
    let last = h.now;
    // The closed entry leaves at its timeout; the teardown says the reply
    // side reset it, and ends at its last packet.
    h.advance(Duration::from_secs(3600));
    h.engine.expire(h.now);
    match events(&mut h).as_slice() {
        [
            ConnEvent::Teardown {
                entry,
                reason,
                ended,
            },
        ] => {
            assert_eq!(*reason, RemoveReason::Timeout);
            assert_eq!(*ended, last);
            assert_eq!(
                entry.flags & conn_flags::RESET_REPLY,
                conn_flags::RESET_REPLY
            );
            assert_eq!(entry.flags & conn_flags::RESET_ORIG, 0);
            assert_eq!(entry.tcp_state(), Some(TcpState::Close));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_idle_expiry_ends_when_the_timeout_ran_out() {
    use connlog::ConnEvent;
    let mut h = Harness::new();
    h.engine.set_conn_log(16);
    let (c, s) = v4_pair(5000, 53);
    h.frame(udp_frame(&c, &s, b"q"), c.iface);
    let t0 = h.now;
    h.advance(Duration::from_secs(600));
    h.engine.expire(h.now);
    let evs = events(&mut h);
    match evs.as_slice() {
        [
            ConnEvent::Built(_),
            ConnEvent::Teardown {
                ended,
                reason,
                entry,
            },
        ] => {
            assert_eq!(*reason, RemoveReason::Timeout);
            // UDP idle timeout: 2 minutes.
            assert_eq!(connlog::duration(entry, *ended), Duration::from_secs(120));
            assert_eq!(*ended, t0 + Duration::from_secs(120));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn denies_are_logged_with_flags_and_overflow_is_counted() {
    use connlog::{ConnEvent, DenyDetail};
    let mut h = Harness::new();
    h.engine.set_conn_log(2);
    // From outside with no access rule: ACL deny (a SYN).
    let (c, s) = v4_pair(40_300, 22);
    let mut m = TcpModel::new(s, c, [1, 2], [1000, 1000], [None, None]);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), Verdict::Drop(DropReason::AclDeny));
    // A non-SYN from inside with no connection: tcp-not-syn.
    let mut m2 = model(40_301);
    m2.handshake();
    let ack = m2.ack(Side::Client);
    assert_eq!(h.tcp(&m2, &ack), Verdict::Drop(DropReason::TcpNotSyn));
    // The queue holds two: the third deny is counted, not kept.
    assert_eq!(h.tcp(&m2, &ack), Verdict::Drop(DropReason::TcpNotSyn));
    assert_eq!(h.engine.counters().conn_events_dropped, 1);
    let evs = events(&mut h);
    match evs.as_slice() {
        [
            ConnEvent::Denied {
                reason: DropReason::AclDeny,
                ingress: IfaceId(1),
                egress: IfaceId(0),
                detail: DenyDetail::Tcp(f1),
                tuple,
                ..
            },
            ConnEvent::Denied {
                reason: DropReason::TcpNotSyn,
                ingress: IfaceId(0),
                detail: DenyDetail::Tcp(f2),
                ..
            },
        ] => {
            assert_eq!(f1.0, crate::packet::TcpFlags::SYN);
            assert_eq!(f2.0, crate::packet::TcpFlags::ACK);
            assert_eq!(tuple.dst.port, 40_300);
        }
        other => panic!("{other:?}"),
    }
    // Malformed frames are counted drops, never log events.
    h.frame(vec![0u8; 10], IfaceId(0));
    assert!(events(&mut h).is_empty());
}

/// The normalizer's `tcp-options range 6 7` / `9 255` clear default: an
/// option of such a kind becomes NOPs, counted; a segment whose options
/// are all kept (MSS, window scale, SACK permitted) leaves untouched.
/// The parse tells the normalizer whether to look at all.
#[test]
fn unknown_tcp_options_are_cleared_and_known_ones_kept() {
    let mut h = Harness::new();
    h.install(mss::unclamped()); // the SYN's 1460 stays: only kinds 6, 7, 9-255 change
    let mut m = model(41_000);
    let syn = m.syn();
    let clean = m.frame(&syn);
    // Find the window-scale option (kind 3, length 3) and make it kind 30
    // (multipath TCP's number, in the cleared 9-255 range).
    let opts = 14 + 20 + 20;
    let at = (opts..clean.len() - 2)
        .find(|&i| clean[i] == 3 && clean[i + 1] == 3)
        .expect("the SYN carries a window scale option");
    let verified = PacketMeta {
        checksum: ChecksumState::Verified,
        gso_size: 0,
        asked: crate::packet::OffloadRequest::NONE,
    };
    let mut f = clean.clone();
    assert_eq!(
        h.engine.process(&mut f, verified, IfaceId(0), h.now),
        FWD_OUT
    );
    assert_eq!(f, clean, "kept options are left alone");
    assert_eq!(h.engine.counters().normalizer.options_cleared, 0);
    let mut m2 = model(41_001);
    let syn2 = m2.syn();
    let mut odd2 = m2.frame(&syn2);
    // Kind 30 in place of 3, the checksum updated to match.
    let (l4, csum) = (14 + 20, 14 + 20 + 16);
    let word = l4 + ((at - l4) & !1);
    let mut w = [odd2[word], odd2[word + 1]];
    w[at - word] = 30;
    crate::packet::rewrite::rewrite16(&mut odd2, word, csum, u16::from_be_bytes(w), true);
    assert!(crate::packet::parse(&odd2, PacketMeta::default()).is_ok());
    let before = odd2.clone();
    assert_eq!(
        h.engine.process(&mut odd2, verified, IfaceId(0), h.now),
        FWD_OUT
    );
    assert_eq!(&odd2[at..at + 3], &[1, 1, 1], "kind 30 became three NOPs");
    // Nothing else changed but the TCP checksum, kept valid.
    assert_eq!(odd2[..csum], before[..csum]);
    assert_eq!(odd2[csum + 2..at], before[csum + 2..at]);
    let unverified = PacketMeta::default();
    assert!(
        crate::packet::parse(&odd2, unverified).is_ok(),
        "checksum still valid"
    );
    assert_eq!(h.engine.counters().normalizer.options_cleared, 1);
}

/// A node of a cluster that has not received the cluster's policy passes
/// nothing (no policy of its own: not the security levels, not a file):
/// TCP, UDP and ARP are dropped as `cluster-not-ready`, and no connection
/// is created. The first policy set opens it.
#[test]
fn an_engine_awaiting_its_cluster_policy_passes_nothing_until_one_is_set() {
    let mut h = Harness::with(|_| {});
    let mut e = Engine::new(h.engine.config().clone()).unwrap();
    e.await_cluster_policy();
    h.engine = e;
    assert!(h.engine.awaits_cluster_policy());
    let mut m = model(40_001);
    let [syn, ..] = m.handshake();
    let (c, s) = v4_pair(40_002, 53);
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 198, 18, 0, 10, 0, 0, 0, 0, 0, 0]);
    arp.extend_from_slice(&[198, 18, 0, 1]);
    let not_ready = Verdict::Drop(DropReason::ClusterNotReady);
    assert_eq!(h.tcp(&m, &syn), not_ready);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), IfaceId(0)), not_ready);
    assert_eq!(h.frame(arp.clone(), IfaceId(0)), not_ready);
    assert_eq!(h.dropped(DropReason::ClusterNotReady), 3);
    assert_eq!(h.engine.table().len(), 0);
    h.install(crate::policy::compile::randomization_off());
    assert!(!h.engine.awaits_cluster_policy());
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    assert_eq!(h.frame(udp_frame(&c, &s, b"q"), IfaceId(0)), FWD_OUT);
    assert!(matches!(h.frame(arp, IfaceId(0)), Verdict::Forward { .. }));
}

// TCP Intercept (§2.2), built segments against an oracle; shunning (§2.12).
mod built_segments;
mod intercept;
mod intercept_edges;
mod intercept_fast_path;
mod intercept_props;
mod shun;
