//! A frame that waits for a peer leaves with the offload it would have left
//! with at once (docs/io.md §1): a held or deferred GSO super-packet stays
//! one, its checksum partial, for the egress device to cut and complete.
//! Before, the engine completed the checksum over the whole super-packet and
//! the shell sent the release with an empty vnet header: one frame larger
//! than the MTU, which the kernel refused (`EMSGSIZE`), some 44 segments
//! lost for every held super-packet.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rampart_dataplane::engine::{Effect, ReleaseCause};
use rampart_dataplane::packet::offload::{CsumAt, Gso, GsoAsked, GsoKind};
use rampart_dataplane::packet::{ChecksumState, Offload, OffloadRequest, PacketMeta};
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::{Host, Side, TcpModel, udp_frame, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant, Verdict};

/// Payload bytes per segment of the super-packets here.
const MSS: u16 = 1448;
/// Where an untagged IPv4 frame's transport header starts.
const L4: usize = 34;
/// A value no completed checksum of these frames has: the checksum field
/// of a partial checksum holds the pseudo-header sum, which the engine
/// must leave to the egress.
const PARTIAL_FIELD: [u8; 2] = [0x12, 0x34];

fn node(id: u16, defer: Duration) -> Engine {
    let mut e = common::synced_node(id, defer, 1);
    let policy = compile(&randomization_off(), &e.config().interfaces).expect("compiles");
    e.set_policy(Arc::new(policy)).expect("fits");
    e
}

/// A super-packet's metadata as the shell reads it from a well-formed vnet
/// header (NEEDS_CSUM at the checksum field `field` of the transport
/// header at `L4`, GSO `kind`).
fn super_meta(kind: GsoKind, field: u16) -> PacketMeta {
    PacketMeta {
        checksum: ChecksumState::Partial,
        gso_size: MSS,
        asked: OffloadRequest {
            csum: Some(CsumAt {
                start: L4 as u16,
                offset: field,
            }),
            gso: Some(GsoAsked::Kind(kind)),
        },
    }
}

/// The frames `e` released, with their offload.
fn released(e: &mut Engine, now: Instant) -> Vec<(Vec<u8>, Offload, ReleaseCause)> {
    let mut out = Vec::new();
    while let Some(effect) = e.poll_effect(now) {
        if let Effect::Release {
            frame,
            offload,
            cause,
            ..
        } = effect
        {
            out.push((frame, offload, cause));
        }
    }
    out
}

#[test]
fn a_held_super_packet_is_released_whole_with_its_offload() {
    let (mut a, mut b) = (node(1, Duration::ZERO), node(2, Duration::ZERO));
    let mut now = Instant::from_secs(1_700_000_000);
    let (c, s) = v4_pair(40_100, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [Some(7), Some(7)]);
    // The handshake crosses node A; node B has not heard of it yet.
    for seg in m.handshake() {
        let mut f = m.frame(&seg);
        let v = a.process(&mut f, PacketMeta::default(), m.iface(seg.from), now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}");
    }
    let mut events = Vec::new();
    while let Some(effect) = a.poll_effect(now) {
        events.extend(effect.into_sync());
    }
    // The server's 40 segments as one super-packet reach node B first.
    let data = m.data(Side::Server, 40 * u32::from(MSS));
    let mut frame = m.frame(&data);
    frame[L4 + 16..L4 + 18].copy_from_slice(&PARTIAL_FIELD);
    let sent = frame.clone();
    now = now + Duration::from_micros(50);
    let meta = super_meta(GsoKind::TcpV4, 16);
    let v = b.process(&mut frame, meta, m.iface(Side::Server), now);
    assert_eq!(v, Verdict::Hold);
    // Node A's events arrive: the super-packet passes.
    for e in &events {
        b.apply_sync(&e.event, now).expect("valid state");
    }
    let out = released(&mut b, now);
    let [(frame, offload, cause)] = &out[..] else {
        panic!("one release, got {out:?}");
    };
    assert_eq!(*cause, ReleaseCause::HeldPassed);
    assert_eq!(frame[L4 + 16..L4 + 18], PARTIAL_FIELD, "left partial");
    assert!(*frame == sent, "released as received");
    assert_eq!(
        *offload,
        Offload {
            csum: Some(CsumAt {
                start: L4 as u16,
                offset: 16
            }),
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                size: MSS,
                ecn: false
            }),
            // Ethernet 14, IPv4 20, TCP 20.
            hdr_len: 54,
        }
    );
    assert_eq!(b.sync_counters().unwrap().held_released, 1);
}

#[test]
fn a_deferred_udp_super_packet_leaves_whole_with_its_offload() {
    let mut a = node(1, Duration::from_millis(10));
    let now = Instant::from_secs(1_700_000_000);
    let host = |ip: [u8; 4], port, iface| Host {
        mac: [2, 0, 0, 0, 0, ip[3]],
        ip: std::net::IpAddr::from(ip),
        port,
        iface: IfaceId(iface),
    };
    let (c, s) = (
        host([198, 18, 0, 1], 40_200, 0),
        host([198, 19, 0, 1], 443, 1),
    );
    // A QUIC sender's 20 datagrams as one UDP super-packet opens the flow.
    let mut frame = udp_frame(&c, &s, &vec![7; 20 * usize::from(MSS)]);
    frame[L4 + 6..L4 + 8].copy_from_slice(&PARTIAL_FIELD);
    let sent = frame.clone();
    let meta = super_meta(GsoKind::UdpL4, 6);
    let v = a.process(&mut frame, meta, IfaceId(0), now);
    assert_eq!(v, Verdict::Hold, "deferred until a peer acknowledges it");
    let later = now + Duration::from_millis(11);
    a.expire_sync(later);
    let out = released(&mut a, later);
    let [(frame, offload, cause)] = &out[..] else {
        panic!("one release, got {out:?}");
    };
    assert_eq!(*cause, ReleaseCause::DeferTimedOut);
    assert_eq!(frame[L4 + 6..L4 + 8], PARTIAL_FIELD, "left partial");
    assert!(*frame == sent, "released as received");
    assert_eq!(
        offload.gso,
        Some(Gso {
            kind: GsoKind::UdpL4,
            size: MSS,
            ecn: false
        })
    );
    assert_eq!(
        offload.csum,
        Some(CsumAt {
            start: L4 as u16,
            offset: 6
        })
    );
    assert_eq!(offload.hdr_len, 42);
}
