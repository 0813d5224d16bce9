//! Golden bytes: one representative message of every kind, encoded, as a
//! hex literal. Any change of the bytes fails here; if it is meant, it is
//! a new wire version (see the module documentation of `wire`), and the
//! literals are updated with it.

use rampart_dataplane::conntrack::tcp::{TcpHalf, half_flags};
use rampart_dataplane::conntrack::{TcpState, TcpTrack};
use rampart_dataplane::flow::{Addr, Endpoint, FlowKey, proto};
use rampart_dataplane::seq::SeqNumber;
use rampart_dataplane::sync::{FlowState, Incarnation, SyncEvent, SyncProto};

use proptest::prelude::*;

use super::*;
use crate::sync::wire::v6::WireEcho;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes of a golden literal (fields separated by spaces for reading).
fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn v4(a: [u8; 4], port: u16) -> Endpoint {
    Endpoint {
        addr: Addr::v4(a),
        port,
    }
}

fn key(lo: Endpoint, hi: Endpoint, proto: u8) -> FlowKey {
    FlowKey {
        lo,
        hi,
        proto,
        vlan: 0,
    }
}

fn inc() -> Incarnation {
    Incarnation {
        created_ns: 1_700_000_000_000_000_000,
        owner: 1,
        id: 77,
    }
}

/// A flow with every field set to something distinct.
fn flow(key: FlowKey, proto: SyncProto) -> FlowState {
    FlowState {
        key,
        inc: inc(),
        orig_is_lo: true,
        flags: 0x05,
        ingress: [0, 1],
        class: 0x0123_4567_89ab_cdef,
        seq_offset: 0,
        min_ttl: [63, 57],
        macs: [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]],
        proto,
        last_seen_ns: 1_700_000_000_500_000_000,
    }
}

/// On VLAN 300, so the bytes pin a VLAN id wider than a one-byte varint.
fn tcp_key() -> FlowKey {
    FlowKey {
        vlan: 300,
        ..key(
            v4([198, 18, 0, 10], 40_000),
            v4([198, 18, 1, 20], 443),
            proto::TCP,
        )
    }
}

/// As an insert leaves it: the originator's SYN seen, offering window
/// scaling (shift 7) and SACK, MSS 1460; the reply half not yet known.
fn tcp_insert() -> FlowState {
    let syn = TcpHalf {
        end: SeqNumber(1_000_001),
        max_end: SeqNumber(1_000_001),
        max_win: 64_240,
        max_ack: SeqNumber(0),
        mss: 1460,
        scale: 7,
        flags: half_flags::SYN_SEEN | half_flags::WSCALE | half_flags::SACK_PERM,
    };
    flow(
        tcp_key(),
        SyncProto::Tcp(TcpTrack {
            state: TcpState::SynSent,
            simultaneous: false,
            half: [syn, TcpHalf::default()],
            synack_data: 0,
        }),
    )
}

/// As an update carries it: established, both halves scaled (7 and 8),
/// SACK on both, data both ways, sequence randomization, a wrapped
/// sequence number on the reply side.
fn tcp_update() -> FlowState {
    let both = half_flags::SYN_SEEN
        | half_flags::SYN_ACKED
        | half_flags::DATA_SEEN
        | half_flags::WSCALE
        | half_flags::SACK_PERM
        | half_flags::MAXACK_SET;
    let mut s = tcp_insert();
    s.seq_offset = 0x9e37_79b9;
    s.proto = SyncProto::Tcp(TcpTrack {
        state: TcpState::Established,
        simultaneous: false,
        half: [
            TcpHalf {
                end: SeqNumber(1_004_097),
                max_end: SeqNumber(1_500_000),
                max_win: 502 << 7,
                max_ack: SeqNumber(4_294_967_000),
                mss: 1460,
                scale: 7,
                flags: both,
            },
            TcpHalf {
                end: SeqNumber(4_294_967_000),
                max_end: SeqNumber(70_000),
                max_win: 65_535 << 8,
                max_ack: SeqNumber(1_004_097),
                mss: 1400,
                scale: 8,
                flags: both,
            },
        ],
        synack_data: 0,
    });
    s.last_seen_ns += 1_000_000;
    s
}

fn udp() -> FlowState {
    flow(
        key(
            v4([198, 18, 0, 10], 5353),
            v4([198, 18, 1, 53], 53),
            proto::UDP,
        ),
        SyncProto::Udp,
    )
}

/// GRE (version 7.1): a key of addresses, ports 0, and UDP's protocol
/// variant, the key's protocol saying which.
fn gre() -> FlowState {
    flow(
        key(v4([198, 18, 0, 10], 0), v4([198, 18, 1, 20], 0), proto::GRE),
        SyncProto::Other,
    )
}

/// SCTP (version 7.1): as GRE, its ports in the key.
fn sctp() -> FlowState {
    flow(
        key(
            v4([198, 18, 0, 10], 40_000),
            v4([198, 18, 1, 20], 2905),
            proto::SCTP,
        ),
        SyncProto::Other,
    )
}

/// ICMPv6 echo: a v6 key, the requester's port is the echo identifier.
fn icmp_echo() -> FlowState {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    let mut b = a;
    a[15] = 1;
    b[15] = 2;
    flow(
        key(
            Endpoint {
                addr: Addr::v6(a),
                port: 0x1234,
            },
            Endpoint {
                addr: Addr::v6(b),
                port: 0,
            },
            proto::ICMPV6,
        ),
        // Requests 7, 6 and 4 (bits 0, 1, 3), 6 answered.
        SyncProto::IcmpEcho(rampart_dataplane::conntrack::EchoSeqs {
            newest: 7,
            requested: [0b1011, 0],
            answered: [0b0010, 0],
        }),
    )
}

fn events(event: SyncEvent) -> Message {
    Message::Events {
        passive: false,
        seq: 300,
        events: vec![event],
    }
}

/// Every message kind with its bytes.
fn goldens() -> Vec<(&'static str, Message, &'static str)> {
    vec![
        (
            "hello",
            Message::Hello {
                node: 2,
                session: 0xdead_beef,
                resume: Some(Resume {
                    session: 7,
                    next: 12,
                }),
            },
            // major 3, kind 0, node 2, session (marker fc + u32 LE),
            // Some, resume session 7, next 12
            "08 00 02 fcefbeadde 01 07 0c",
        ),
        (
            "hello, nothing to resume",
            Message::Hello {
                node: 1,
                session: 9,
                resume: None,
            },
            "08 00 01 09 00",
        ),
        (
            "tcp insert",
            events(SyncEvent::Upsert(tcp_insert())),
            concat!(
                // major 3, kind 1 (events), seq 300 (marker fb + u16 LE),
                // not passive, 1 event, variant 0 (upsert)
                "08 01 fb2c01 00 01 00",
                // key: lo 198.18.0.10 (variant 0: v4), port 40000; hi
                // 198.18.1.20, port 443; protocol 6
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                // incarnation: created_ns (u64 marker fd, 8 bytes LE), owner 1, id 77
                "fd00002a36fe9c9717 01 4d",
                // orig_is_lo, flags, ingress [0, 1], class (marker fd + 8)
                "01 05 0001 fdefcdab8967452301",
                // seq_offset 0, min_ttl [63, 57], macs
                "00 3f39 020000000001 020000000002",
                // proto 0 (tcp), state 1 (SYN_SENT), not simultaneous
                "00 01 00",
                // orig half: end and max_end 1000001, max_win 64240, max_ack 0,
                // mss 1460, scale 7, flags SYN_SEEN|WSCALE|SACK_PERM
                "fc41420f00 fc41420f00 fbf0fa 00 fbb405 07 61",
                // reply half: nothing seen yet
                "00 00 00 00 00 00 00",
                // last_seen_ns
                "fd0065f753fe9c9717",
            ),
        ),
        (
            "tcp update",
            events(SyncEvent::Upsert(tcp_update())),
            concat!(
                "08 01 fb2c01 00 01 00",
                // key: lo 198.18.0.10 (variant 0: v4), port 40000; hi
                // 198.18.1.20, port 443; protocol 6
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                // incarnation: created_ns (u64 marker fd, 8 bytes LE), owner 1, id 77
                "fd00002a36fe9c9717 01 4d",
                // orig_is_lo, flags, ingress [0, 1], class (marker fd + 8)
                "01 05 0001 fdefcdab8967452301",
                // seq_offset 0x9e3779b9, min_ttl, macs
                "fcb979379e 3f39 020000000001 020000000002",
                // tcp, state 3 (ESTABLISHED), not simultaneous
                "00 03 00",
                // orig half: end 1004097, max_end 1500000, max_win 502<<7,
                // max_ack 4294967000, mss 1460, scale 7, flags 0xe7 (SYN seen
                // and acked, data, WSCALE, SACK_PERM, max_ack set)
                "fc41520f00 fc60e31600 fb00fb fcd8feffff fbb405 07 e7",
                // reply half: end 4294967000, max_end 70000 (wrapped), max_win
                // 65535<<8, max_ack 1004097, mss 1400, scale 8, flags 0xe7
                "fcd8feffff fc70110100 fc00ffff00 fc41520f00 fb7805 08 e7",
                // last_seen_ns
                "fd40a70654fe9c9717",
            ),
        ),
        (
            "udp",
            events(SyncEvent::Upsert(udp())),
            concat!(
                "08 01 fb2c01 00 01 00",
                // key: 198.18.0.10 (variant 0: v4) port 5353, 198.18.1.53 port 53,
                // protocol 17
                "00 c612000a fbe914 00 c6120135 35 11 00",
                // incarnation: created_ns (u64 marker fd, 8 bytes LE), owner 1, id 77
                "fd00002a36fe9c9717 01 4d",
                // orig_is_lo, flags, ingress [0, 1], class (marker fd + 8)
                "01 05 0001 fdefcdab8967452301",
                // seq_offset 0, min_ttl [63, 57], macs
                "00 3f39 020000000001 020000000002",
                // proto 1 (udp), last_seen_ns
                "01 fd0065f753fe9c9717",
            ),
        ),
        (
            "gre",
            events(SyncEvent::Upsert(gre())),
            concat!(
                "08 01 fb2c01 00 01 00",
                // key: 198.18.0.10 port 0, 198.18.1.20 port 0, protocol 47
                "00 c612000a 00 00 c6120114 00 2f 00",
                "fd00002a36fe9c9717 01 4d",
                "01 05 0001 fdefcdab8967452301",
                "00 3f39 020000000001 020000000002",
                // proto 1 (a datagram flow: UDP's variant), last_seen_ns
                "01 fd0065f753fe9c9717",
            ),
        ),
        (
            "sctp",
            events(SyncEvent::Upsert(sctp())),
            concat!(
                "08 01 fb2c01 00 01 00",
                // key: 198.18.0.10 port 40000, 198.18.1.20 port 2905,
                // protocol 132
                "00 c612000a fb409c 00 c6120114 fb590b 84 00",
                "fd00002a36fe9c9717 01 4d",
                "01 05 0001 fdefcdab8967452301",
                "00 3f39 020000000001 020000000002",
                "01 fd0065f753fe9c9717",
            ),
        ),
        (
            "icmp echo",
            events(SyncEvent::Upsert(icmp_echo())),
            concat!(
                "08 01 fb2c01 00 01 00",
                // key: 2001:db8::1 (variant 1: v6) with echo id 0x1234, 2001:db8::2,
                // protocol 58
                "01 20010db8000000000000000000000001 fb3412 01 20010db8000000000000000000000002 00 3a 00",
                // incarnation: created_ns (u64 marker fd, 8 bytes LE), owner 1, id 77
                "fd00002a36fe9c9717 01 4d",
                // orig_is_lo, flags, ingress [0, 1], class (marker fd + 8)
                "01 05 0001 fdefcdab8967452301",
                // seq_offset 0, min_ttl [63, 57], macs
                "00 3f39 020000000001 020000000002",
                // proto 2 (icmp echo): newest 7, requested 0b1011,
                // answered 0b0010 (varints); last_seen_ns
                "02 07 0b 02 fd0065f753fe9c9717",
            ),
        ),
        (
            "delete",
            events(SyncEvent::Delete {
                key: tcp_key(),
                inc: inc(),
            }),
            concat!(
                // variant 1 (delete): the key and the incarnation
                "08 01 fb2c01 00 01 01",
                // key: lo 198.18.0.10 (variant 0: v4), port 40000; hi
                // 198.18.1.20, port 443; protocol 6
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                // incarnation
                "fd00002a36fe9c9717 01 4d",
            ),
        ),
        ("ack", Message::Ack { seq: 300 }, "08 02 fb2c01"),
        (
            "bulk request",
            Message::BulkRequest {
                id: 3,
                view: vec![1, 2, 4],
                copies: 2,
            },
            // kind 3, id 3, view of 3 nodes, 2 copies
            "08 03 03 03 01 02 04 02",
        ),
        (
            "pull",
            Message::Pull {
                origin: 4,
                keys: vec![tcp_key()],
                answered: vec![],
            },
            concat!(
                // kind 6, origin 4, one key, no answered digests
                "08 06 04 01",
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                "00",
            ),
        ),
        (
            "pull passed on by a node that answered",
            Message::Pull {
                origin: 4,
                keys: vec![tcp_key()],
                answered: vec![0x0102_0304_0506_0708],
            },
            concat!(
                "08 06 04 01",
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                // one digest, 8 bytes little endian
                "01 0807060504030201",
            ),
        ),
        (
            "demote",
            events(SyncEvent::Demote {
                key: tcp_key(),
                inc: inc(),
            }),
            concat!(
                // variant 2 (demote): the key and the incarnation
                "08 01 fb2c01 00 01 02",
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                "fd00002a36fe9c9717 01 4d",
            ),
        ),
        (
            "confirm",
            Message::Confirm {
                flows: vec![Confirm {
                    key: tcp_key(),
                    inc: inc(),
                    digest: 0x0102_0304_0506_0708,
                    last_seen_ns: 1_700_000_000_500_000_000,
                    holders: rampart_dataplane::sync::PeerSet(0b1010),
                }],
            },
            concat!(
                // kind 8, one confirm: key, incarnation, digest (8 bytes),
                // last_seen_ns, holders (nodes 1 and 3)
                "08 08 01",
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                "fd00002a36fe9c9717 01 4d",
                "0807060504030201 fd0065f753fe9c9717 0a",
            ),
        ),
        (
            "state",
            Message::State {
                copy: AnswerCopy::Path,
                flows: vec![(udp(), rampart_dataplane::sync::PeerSet(0b1010))],
            },
            concat!(
                // kind 7, on the path, one flow
                "08 07 01 01",
                "00 c612000a fbe914 00 c6120135 35 11 00",
                "fd00002a36fe9c9717 01 4d 01 05 0001 fdefcdab8967452301",
                "00 3f39 020000000001 020000000002 01 fd0065f753fe9c9717",
                // one holder set: nodes 1 and 3
                "01 0a",
            ),
        ),
        (
            "state from a backup",
            Message::State {
                copy: AnswerCopy::Backup,
                flows: vec![(udp(), rampart_dataplane::sync::PeerSet(0b10))],
            },
            concat!(
                // kind 7, a backup's copy (passive 00, path 01), one flow
                "08 07 02 01",
                "00 c612000a fbe914 00 c6120135 35 11 00",
                "fd00002a36fe9c9717 01 4d 01 05 0001 fdefcdab8967452301",
                "00 3f39 020000000001 020000000002 01 fd0065f753fe9c9717",
                // one holder set: node 1
                "01 02",
            ),
        ),
        (
            "bulk chunk",
            Message::BulkChunk {
                id: 3,
                flows: vec![udp(), tcp_update()],
            },
            concat!(
                // kind 4, id 3, 2 flows (flows are not wrapped in an event)
                "08 04 03 02",
                // the udp flow, as in "udp" after its event variant
                "00 c612000a fbe914 00 c6120135 35 11 00",
                "fd00002a36fe9c9717 01 4d 01 05 0001 fdefcdab8967452301",
                "00 3f39 020000000001 020000000002 01 fd0065f753fe9c9717",
                // the tcp flow, as in "tcp update" after its event variant
                "00 c612000a fb409c 00 c6120114 fbbb01 06 fb2c01",
                "fd00002a36fe9c9717 01 4d 01 05 0001 fdefcdab8967452301",
                "fcb979379e 3f39 020000000001 020000000002 00 03 00",
                "fc41520f00 fc60e31600 fb00fb fcd8feffff fbb405 07 e7",
                "fcd8feffff fc70110100 fc00ffff00 fc41520f00 fb7805 08 e7",
                "fd40a70654fe9c9717",
            ),
        ),
        (
            "bulk end",
            Message::BulkEnd { id: 3, flows: 2 },
            "08 05 03 02",
        ),
    ]
}

#[test]
fn every_message_kind_encodes_to_its_golden_bytes_and_back() {
    let mut wrong = Vec::new();
    for (name, msg, golden) in goldens() {
        let got = hex(&encode(&msg));
        if got != golden.replace(' ', "") {
            wrong.push(format!("{name}:\n  got    {got}\n  golden {golden}"));
        }
    }
    assert!(wrong.is_empty(), "the wire changed:\n{}", wrong.join("\n"));
    for (name, msg, golden) in goldens() {
        assert_eq!(decode(&unhex(golden)), Ok(msg), "{name}");
    }
}

/// The golden TCP examples do carry what they claim (so the bytes above
/// pin window scaling and SACK, not a default).
#[test]
fn the_tcp_examples_carry_scaling_and_sack() {
    for s in [tcp_insert(), tcp_update()] {
        let SyncProto::Tcp(t) = s.proto else {
            panic!("tcp")
        };
        let h = t.half[0];
        assert_eq!(h.scale, 7);
        assert_ne!(h.flags & half_flags::WSCALE, 0);
        assert_ne!(h.flags & half_flags::SACK_PERM, 0);
    }
}

#[test]
fn an_undefined_tcp_state_is_refused_not_mapped() {
    let mut f = unhex(golden_of("tcp insert"));
    // The state code follows the flow's fixed part; find it by
    // re-encoding with a known state and comparing.
    let at = state_offset(&f);
    assert_eq!(f[at], 1, "SYN_SENT");
    f[at] = 10;
    assert_eq!(decode(&f), Err(WireError::TcpState(10)));
    f[at] = 0xff;
    assert_eq!(decode(&f), Err(WireError::TcpState(0xff)));
}

#[test]
fn an_undefined_variant_is_refused() {
    // Message kind 9 does not exist.
    assert!(matches!(
        decode(&[WIRE_VERSION.major, 9]),
        Err(WireError::Decode(_))
    ));
    // A state's copy is 0 (passive), 1 (path), 2 (backup): a 3 is refused.
    let mut f = unhex(golden_of("state from a backup"));
    assert_eq!(f[2], 2, "the backup's copy kind");
    f[2] = 3;
    assert!(matches!(decode(&f), Err(WireError::Decode(_))));
    // Protocol variants are 0 (tcp), 1 (udp), 2 (icmp echo): make the UDP
    // example's (just before its last_seen_ns) a 3.
    let mut f = unhex(golden_of("udp"));
    let at = f.len() - 1 - varint_len(udp().last_seen_ns);
    assert_eq!(f[at], 1, "UDP's variant index");
    f[at] = 3;
    assert!(matches!(decode(&f), Err(WireError::Decode(_))));
}

/// Version 7.1's flows of other protocols take UDP's protocol variant
/// (docs/sync.md §7): the same byte, read as the key's protocol says. A
/// 7.0 node reads them as UDP state, which its engine refuses as a
/// protocol mismatch, that flow alone.
#[test]
fn a_datagram_flow_is_udp_under_a_udp_key_and_other_under_any_other() {
    let at = |f: &[u8]| f.len() - 1 - varint_len(udp().last_seen_ns);
    for name in ["udp", "gre", "sctp"] {
        let f = unhex(golden_of(name));
        assert_eq!(f[at(&f)], 1, "{name}: the datagram variant");
    }
    let udp_key = |mut s: FlowState| {
        s.key.proto = proto::UDP;
        s
    };
    let mut f = unhex(golden_of("gre"));
    let p = f.iter().position(|&b| b == 0x2f).expect("protocol 47");
    f[p] = proto::UDP;
    assert_eq!(
        decode(&f),
        Ok(events(SyncEvent::Upsert(FlowState {
            proto: SyncProto::Udp,
            ..udp_key(gre())
        })))
    );
    // What a 7.0 engine made of it: UDP state under GRE's key, refused.
    let as_70 = FlowState {
        proto: SyncProto::Udp,
        ..gre()
    };
    assert_eq!(
        as_70.validate(2),
        Err(rampart_dataplane::sync::SyncReject::ProtoMismatch(47))
    );
    assert_eq!(gre().validate(2), Ok(()));
    assert_eq!(sctp().validate(2), Ok(()));
}

/// A key's VLAN id is 12 bits (IEEE 802.1Q): a larger one refuses the
/// whole message, in a flow, a delete and a pull alike.
#[test]
fn a_vlan_id_past_12_bits_is_refused() {
    let forged = |vlan: u16| FlowKey { vlan, ..tcp_key() };
    for vlan in [0xfff, 0x1000, u16::MAX] {
        let want = if vlan > 0xfff {
            Err(WireError::Vlan(vlan))
        } else {
            Ok(())
        };
        let mut state = tcp_insert();
        state.key = forged(vlan);
        let messages = [
            events(SyncEvent::Upsert(state)),
            events(SyncEvent::Delete {
                key: forged(vlan),
                inc: inc(),
            }),
            Message::Pull {
                origin: 4,
                keys: vec![forged(vlan)],
                answered: Vec::new(),
            },
        ];
        for m in messages {
            assert_eq!(decode(&encode(&m)).map(|_| ()), want, "{m:?}");
        }
    }
}

fn golden_of(name: &str) -> &'static str {
    goldens()
        .into_iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, _, g)| g)
        .expect("known golden")
}

/// Bytes a u64 takes as a bincode varint (values ≥ 2^32: marker + 8).
fn varint_len(v: u64) -> usize {
    match v {
        0..=250 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Offset of the TCP state code in an `Events` frame holding one TCP
/// upsert: found as the one byte that differs between the same flow in
/// SYN_SENT and in SYN_RECV.
fn state_offset(syn_sent: &[u8]) -> usize {
    let mut s = tcp_insert();
    if let SyncProto::Tcp(t) = &mut s.proto {
        t.state = TcpState::SynRecv;
    }
    let other = encode(&events(SyncEvent::Upsert(s)));
    assert_eq!(other.len(), syn_sent.len());
    let diff: Vec<usize> = (0..other.len())
        .filter(|&i| other[i] != syn_sent[i])
        .collect();
    assert_eq!(diff.len(), 1);
    diff[0]
}

/// Any half, fields drawn independently.
fn half() -> impl Strategy<Value = TcpHalf> {
    (any::<[u32; 4]>(), any::<u16>(), any::<u8>(), any::<u8>()).prop_map(
        |(w, mss, scale, flags)| TcpHalf {
            end: SeqNumber(w[0]),
            max_end: SeqNumber(w[1]),
            max_win: w[2],
            max_ack: SeqNumber(w[3]),
            mss,
            scale,
            flags,
        },
    )
}

/// Any flow, fields drawn independently: the wire carries what it is
/// given (whether a flow makes sense is the receiving engine's check).
fn any_flow() -> impl Strategy<Value = FlowState> {
    (
        (any::<([u8; 16], u16, [u8; 16], u16, u8)>(), 0u16..=0xfff),
        any::<(u64, u16, u32, bool, u8, [u8; 2], u64, u32)>(),
        any::<([u8; 2], [[u8; 6]; 2], u64, u8, bool)>(),
        (half(), half(), 0usize..10, any::<(u16, u64, u64)>()),
    )
        .prop_map(|((k, vlan), a, b, (h0, h1, st, echo))| FlowState {
            key: FlowKey {
                vlan,
                ..key(
                    Endpoint {
                        addr: Addr(k.0),
                        port: k.1,
                    },
                    Endpoint {
                        addr: Addr(k.2),
                        port: k.3,
                    },
                    k.4,
                )
            },
            inc: Incarnation {
                created_ns: a.0,
                owner: a.1,
                id: a.2,
            },
            orig_is_lo: a.3,
            flags: a.4,
            ingress: a.5,
            class: a.6,
            seq_offset: a.7,
            min_ttl: b.0,
            macs: b.1,
            proto: match b.3 % 3 {
                0 => SyncProto::Tcp(TcpTrack {
                    state: TcpState::ALL[st],
                    simultaneous: b.4,
                    half: [h0, h1],
                    synack_data: 0,
                }),
                // One variant on the wire: UDP's under a UDP key, any
                // other protocol's under any other.
                1 if k.4 == proto::UDP => SyncProto::Udp,
                1 => SyncProto::Other,
                _ => SyncProto::IcmpEcho(
                    WireEcho {
                        newest: echo.0,
                        requested: echo.1,
                        answered: echo.1 & echo.2,
                    }
                    .into(),
                ),
            },
            last_seen_ns: b.2,
        })
}

proptest! {
    #[test]
    fn any_message_round_trips(
        flows in proptest::collection::vec(any_flow(), 0..6),
        dels in proptest::collection::vec(any_flow(), 0..3),
        seq in any::<u64>(),
    ) {
        let mut events: Vec<SyncEvent> = flows.iter().copied().map(SyncEvent::Upsert).collect();
        events.extend(dels.iter().map(|s| SyncEvent::Delete { key: s.key, inc: s.inc }));
        for m in [
            Message::Events {
                seq,
                passive: false,
                events,
            },
            Message::BulkChunk { id: seq, flows },
        ] {
            prop_assert_eq!(decode(&encode(&m)), Ok(m));
        }
    }
}
