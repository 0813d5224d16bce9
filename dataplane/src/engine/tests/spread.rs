//! Which worker judges a frame (docs/io.md §9): a frame the kernel could
//! only spread by its addresses (an ICMP error, a TCP or UDP packet
//! behind more IPv6 extension headers than its program walks) is handed
//! to the worker of its flow. The shares below name workers by simple
//! rules in place of the fanout's hash.

use super::*;
use crate::engine::fragment::WorkerShare;
use crate::trace::v6_pair;

/// Ports or not: worker 1 for a key with ports, worker 0 without.
fn by_ports(key: &FlowKey, _: usize) -> usize {
    usize::from(key.lo.port != 0 || key.hi.port != 0)
}

/// Worker `index` of two, named [`by_ports`].
pub(super) fn by_ports_share(index: usize) -> WorkerShare {
    WorkerShare {
        index,
        count: 2,
        worker_of: by_ports,
    }
}

/// `frame` (Ethernet, IPv6) with an 8-byte destination options header (a
/// PadN option) before its transport header; the transport checksum
/// stays valid (its pseudo-header names the transport, RFC 8200 §8.1).
pub(super) fn behind_destination_options(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    let next = f[14 + 6];
    f[14 + 6] = 60;
    f.splice(54..54, [next, 0, 1, 4, 0, 0, 0, 0]);
    let payload = u16::from_be_bytes([f[18], f[19]]) + 8;
    f[18..20].copy_from_slice(&payload.to_be_bytes());
    f
}

/// The frame `h` handed to another worker now, and that worker.
fn handed(h: &mut Harness) -> (usize, Box<crate::engine::fragment::Handed>) {
    match h.engine.poll_effect(h.now) {
        Some(Effect::HandOff { worker, chain }) => (worker, chain),
        other => panic!("expected a hand-off, got {other:?}"),
    }
}

/// `h` takes `chain` from another worker and lets it out: by which
/// interface, and the frame.
fn take(h: &mut Harness, chain: Box<crate::engine::fragment::Handed>) -> (IfaceId, Vec<u8>) {
    h.engine.take_handoff(chain, h.now);
    match h.engine.poll_effect(h.now) {
        Some(Effect::Release {
            egress,
            frame,
            cause: ReleaseCause::HandedOff,
            ..
        }) => (egress, frame),
        other => panic!("expected the frame released, got {other:?}"),
    }
}

/// A TCP or UDP packet behind IPv6 extension headers or an authentication
/// header may have been spread by its addresses (more headers than the
/// kernel's program walks): the worker it reached hands it to the worker
/// of its flow's key, ports included, which judges it, holds the flow
/// and lets the packet out; the flow's later packets that reach that
/// worker are judged there. The node routes what peers say about the flow
/// to that worker too. Before, such a packet was judged wherever it
/// arrived, and its flow lived on a worker the node's routing did not
/// name. Packets without such headers, and other protocols, are judged
/// where they arrive (the kernel spread them by the flow's key).
#[test]
fn a_tcp_or_udp_packet_behind_extension_headers_is_judged_by_its_flows_worker() {
    let mut a = Harness::with(|cfg| cfg.workers = Some(by_ports_share(0)));
    let mut b = Harness::with(|cfg| cfg.workers = Some(by_ports_share(1)));
    // (Echo requests make flows.)
    a.install(icmp_inspected());
    let (c, s) = v6_pair(40_000, 5_000);
    let query = behind_destination_options(&udp_frame(&c, &s, b"q"));
    assert_eq!(a.frame(query.clone(), c.iface), Verdict::Hold);
    let (worker, chain) = handed(&mut a);
    assert_eq!((worker, chain.frames()), (1, 1));
    assert_eq!(take(&mut b, chain), (IfaceId(1), query));
    assert_eq!(
        a.engine.table().len(),
        0,
        "judged by the flow's worker only"
    );
    assert_eq!(b.engine.table().len(), 1);
    let answer = behind_destination_options(&udp_frame(&s, &c, b"a"));
    assert_eq!(b.frame(answer, s.iface), FWD_IN);
    // TCP inside an authentication header, IPv4.
    let (c4, s4) = v4_pair(40_001, 443);
    let mut m = TcpModel::new(c4, s4, [1, 2], [65_535, 65_535], [None, None]);
    let syn = m.syn();
    let syn = super::ah::with_ah(&m.frame(&syn));
    assert_eq!(a.frame(syn.clone(), c4.iface), Verdict::Hold);
    let (worker, chain) = handed(&mut a);
    assert_eq!(worker, 1);
    assert_eq!(take(&mut b, chain), (IfaceId(1), syn));
    assert_eq!(b.engine.table().len(), 2);
    // Plain UDP, and an echo request behind the same header: judged here.
    assert_eq!(a.frame(udp_frame(&c, &s, b"q"), c.iface), FWD_OUT);
    let echo = behind_destination_options(&echo_frame(&c, &s, 7, 1, false));
    assert_eq!(a.frame(echo, c.iface), FWD_OUT);
    assert!(a.engine.poll_effect(a.now).is_none(), "nothing handed on");
    assert_eq!(a.engine.table().len(), 2);
}

/// An ICMP error about a flow reaches the worker its own addresses hash
/// to (the kernel spreads ICMP by addresses): if another worker owns the
/// flow it quotes, the error is handed to that worker, which judges it
/// against the flow and lets it out (before, it met no connection there
/// and was dropped: path MTU discovery broke on nodes of several workers).
#[test]
fn an_icmp_error_about_another_workers_flow_is_handed_to_it() {
    // Worker 1 owns every UDP flow; ICMP (the errors' own key) worker 0.
    fn by_protocol(key: &FlowKey, _: usize) -> usize {
        usize::from(key.proto == proto::UDP)
    }
    let share = |index| WorkerShare {
        index,
        count: 2,
        worker_of: by_protocol,
    };
    let mut a = Harness::with(|cfg| cfg.workers = Some(share(0)));
    let mut b = Harness::with(|cfg| cfg.workers = Some(share(1)));
    for h in [&mut a, &mut b] {
        h.install(icmp_inspected());
    }
    let (c, s) = v4_pair(40_000, 5_000);
    let query = udp_frame(&c, &s, b"q");
    assert_eq!(b.frame(query.clone(), c.iface), FWD_OUT);
    let error = crate::trace::icmpv4_unreachable_frame(&s, &c, &query);
    assert_eq!(a.frame(error.clone(), s.iface), Verdict::Hold);
    let handed = match a.engine.poll_effect(a.now) {
        Some(Effect::HandOff { worker: 1, chain }) => chain,
        other => panic!("expected a hand-off to worker 1, got {other:?}"),
    };
    assert_eq!(handed.frames(), 1);
    b.engine.take_handoff(handed, b.now);
    match b.engine.poll_effect(b.now) {
        Some(Effect::Release {
            egress,
            frame,
            cause,
            ..
        }) => {
            assert_eq!((egress, cause), (IfaceId(0), ReleaseCause::HandedOff));
            assert_eq!(frame, error);
        }
        other => panic!("expected the error released, got {other:?}"),
    }
    assert_eq!(b.engine.counters().forwarded_packets, 2);
    // Worker 1 judges the errors that reach it itself.
    assert_eq!(b.frame(error, s.iface), FWD_IN);
}

/// An ICMP error about a flow whose packets carry extension headers goes
/// to the worker of the flow's key, ports included, where the flow is
/// (above); and an error about a flow this worker holds is judged here
/// whatever `worker_of` says (a review saw such errors handed away from
/// the worker that had the flow). Before, an error whose quote showed an
/// extension header went to the worker of the flow's addresses alone.
#[test]
fn an_icmp_error_is_judged_where_its_flow_is() {
    let mut a = Harness::with(|cfg| cfg.workers = Some(by_ports_share(0)));
    let mut b = Harness::with(|cfg| cfg.workers = Some(by_ports_share(1)));
    for h in [&mut a, &mut b] {
        h.install(icmp_inspected());
    }
    let (c, s) = v6_pair(40_000, 5_000);
    let unreachable = |query: &[u8]| {
        let (std::net::IpAddr::V6(sip), std::net::IpAddr::V6(cip)) = (s.ip, c.ip) else {
            unreachable!()
        };
        let mut error = Vec::new();
        etherparse::PacketBuilder::ethernet2(s.mac, c.mac)
            .ipv6(sip.octets(), cip.octets(), 64)
            .icmpv6_raw(1, 4, [0; 4])
            .write(&mut error, &query[14..])
            .unwrap();
        error
    };
    // Worker 0 holds a plain flow `by_ports` gives worker 1 (the kernel
    // gave it worker 0): an error about it is judged here.
    let plain = udp_frame(&c, &s, b"q");
    assert_eq!(a.frame(plain.clone(), c.iface), FWD_OUT);
    assert_eq!(a.frame(unreachable(&plain), s.iface), FWD_IN);
    // A flow behind a destination options header is worker 1's; an error
    // quoting its packet that reaches worker 0 goes there.
    let (c, s) = v6_pair(40_001, 5_000);
    let query = behind_destination_options(&udp_frame(&c, &s, b"q"));
    assert_eq!(b.frame(query.clone(), c.iface), FWD_OUT);
    let error = unreachable(&query);
    assert_eq!(a.frame(error.clone(), s.iface), Verdict::Hold);
    let (worker, chain) = handed(&mut a);
    assert_eq!(worker, 1);
    assert_eq!(take(&mut b, chain), (IfaceId(0), error));
}
