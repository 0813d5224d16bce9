//! Packet capture in the engine (`capture`, docs/asa-behaviour.md
//! §2.11), on real frames: what a capture keeps (interface, both
//! directions of a `match`, one direction of an access-list, asp-drop by
//! reason), its buffer (linear stops, circular keeps the newest), the
//! packet length, the frame as it leaves after the MSS clamp, and that a
//! capture never changes a verdict.

mod capture_common;
mod common;

use std::time::Duration;

use capture_common::{capture, engine};
use proptest::prelude::*;
use rampart_asa::{CaptureCommand, parse_capture};
use rampart_dataplane::capture::{RECORD_OVERHEAD_BYTES, Record, Seen, Spec, State};
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Side, TcpModel, fragment_at, fragment_frame, udp_frame, v4_pair};
use rampart_dataplane::{DropReason, Engine, IfaceId, Instant, Verdict};

const INSIDE: IfaceId = IfaceId(0);
const OUTSIDE: IfaceId = IfaceId(1);

fn send(e: &mut Engine, frame: &[u8], iface: IfaceId, now: Instant) -> (Verdict, Vec<u8>) {
    let mut f = frame.to_vec();
    let v = e.process(&mut f, PacketMeta::default(), iface, now);
    (v, f)
}

/// (interface, seen, reason, bytes) of capture `name`'s records.
fn kept(e: &Engine, name: &str) -> Vec<(IfaceId, Seen, Option<DropReason>, Vec<u8>)> {
    let caps = e.captures().expect("captures");
    let c = caps
        .list()
        .iter()
        .find(|c| c.spec().name == name)
        .expect(name);
    c.records()
        .map(|r| (r.iface, r.seen, r.reason, r.data.to_vec()))
        .collect()
}

fn model(port: u16) -> TcpModel {
    let (c, s) = v4_pair(port, 80);
    TcpModel::new(c, s, [100, 900_000], [64_240, 65_160], [Some(7), Some(7)])
}

/// The MSS option of a TCP frame.
fn mss(frame: &[u8]) -> Option<u16> {
    let p = etherparse::SlicedPacket::from_ethernet(frame).ok()?;
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        return None;
    };
    t.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    })
}

const OPEN: &str =
    "access-list IN extended permit ip any any\naccess-group IN in interface inside\n";

#[test]
fn without_a_capture_nothing_is_copied() {
    let mut e = engine(OPEN);
    assert!(e.captures().is_none());
    let mut m = model(1000);
    let syn = {
        let sg = m.syn();
        m.frame(&sg)
    };
    assert!(matches!(
        send(&mut e, &syn, INSIDE, Instant::from_secs(1)).0,
        Verdict::Forward { .. }
    ));
    assert!(e.captures().is_none());
    // A capture added and removed leaves none behind.
    capture(&mut e, "capture c interface inside");
    assert!(e.captures().is_some());
    assert!(e.capture_remove("c"));
    assert!(e.captures().is_none());
}

#[test]
fn raw_data_keeps_both_directions_of_a_match_on_its_interface() {
    let mut e = engine(OPEN);
    capture(
        &mut e,
        "capture c interface inside match tcp host 198.18.1.10 eq 80 host 198.18.0.10",
    );
    let mut m = model(1000);
    let [syn, syn_ack, ack] = m.handshake();
    let t = Instant::from_secs(1);
    let (v, _) = send(&mut e, &m.frame(&syn), INSIDE, t);
    assert_eq!(v, Verdict::Forward { egress: OUTSIDE });
    let (v, out) = send(&mut e, &m.frame(&syn_ack), OUTSIDE, t);
    assert_eq!(v, Verdict::Forward { egress: INSIDE });
    send(&mut e, &m.frame(&ack), INSIDE, t);
    // Another flow is not kept.
    let (c, s) = v4_pair(2000, 53);
    send(&mut e, &udp_frame(&c, &s, b"x"), INSIDE, t);
    let k = kept(&e, "c");
    let seen: Vec<_> = k.iter().map(|r| (r.0, r.1)).collect();
    // The SYN entering inside, the SYN-ACK leaving by inside (as it
    // left), the ACK entering inside: the match written server first
    // selects the client's frames too.
    assert_eq!(
        seen,
        [
            (INSIDE, Seen::Ingress),
            (INSIDE, Seen::Egress),
            (INSIDE, Seen::Ingress)
        ]
    );
    assert_eq!(k[0].3, m.frame(&syn));
    assert_eq!(k[1].3, out);
}

#[test]
fn egress_copy_is_the_frame_after_the_mss_clamp() {
    let mut e = engine(OPEN);
    capture(&mut e, "capture in interface inside");
    capture(&mut e, "capture out interface outside");
    let mut m = model(1000);
    let syn = {
        let sg = m.syn();
        m.frame(&sg)
    };
    let (_, sent) = send(&mut e, &syn, INSIDE, Instant::from_secs(1));
    let inside = kept(&e, "in");
    let outside = kept(&e, "out");
    assert_eq!(inside.len(), 1);
    assert_eq!(outside.len(), 1);
    assert_eq!(mss(&inside[0].3), Some(1460));
    assert_eq!(outside[0].1, Seen::Egress);
    assert_eq!(mss(&outside[0].3), Some(1380), "the ASA's default clamp");
    assert_eq!(outside[0].3, sent);
}

#[test]
fn an_access_list_filter_keeps_one_direction() {
    let mut e = engine(&format!(
        "{OPEN}access-list CAP extended permit tcp host 198.18.0.10 host 198.18.1.10\n"
    ));
    capture(&mut e, "capture c interface inside access-list CAP");
    let mut m = model(1000);
    let [syn, syn_ack, ack] = m.handshake();
    let t = Instant::from_secs(1);
    send(&mut e, &m.frame(&syn), INSIDE, t);
    send(&mut e, &m.frame(&syn_ack), OUTSIDE, t);
    send(&mut e, &m.frame(&ack), INSIDE, t);
    let seen: Vec<_> = kept(&e, "c").iter().map(|r| r.1).collect();
    assert_eq!(seen, [Seen::Ingress, Seen::Ingress], "not the SYN-ACK");
}

#[test]
fn a_linear_buffer_stops_when_full_and_a_circular_one_keeps_the_newest() {
    let mut e = engine(OPEN);
    capture(
        &mut e,
        "capture lin interface inside buffer 1534 packet-length 100",
    );
    capture(
        &mut e,
        "capture circ interface inside buffer 1534 packet-length 100 circular-buffer",
    );
    let (c, s) = v4_pair(2000, 53);
    let per = 100 + RECORD_OVERHEAD_BYTES;
    let caps = e.captures().unwrap();
    // The buffer less the capture's bookkeeping holds the frames.
    let room = caps.list()[0].capacity_bytes();
    assert!(room < 1534 && room > 1534 - 1024, "{room}");
    assert_eq!(caps.list()[1].capacity_bytes() / per, room / per);
    let fit = room / per;
    let t = Instant::from_secs(1);
    for i in 0..(fit + 5) {
        let payload = vec![i as u8; 200];
        send(&mut e, &udp_frame(&c, &s, &payload), INSIDE, t);
    }
    let caps = e.captures().unwrap();
    let lin = &caps.list()[0];
    let circ = &caps.list()[1];
    assert_eq!(lin.records().len(), fit);
    assert_eq!(lin.state(), State::Full);
    assert!(lin.used_bytes() <= 1534);
    // The first frames, payload 0, 1, …
    assert_eq!(lin.records().next().unwrap().data[60], 0);
    assert_eq!(circ.records().len(), fit);
    assert_eq!(circ.state(), State::Capturing);
    assert_eq!(circ.overwritten(), 5);
    // The newest: the last payload byte value sent.
    assert_eq!(circ.records().last().unwrap().data[60], (fit + 4) as u8);
    // Clearing a full linear buffer lets it capture again.
    assert!(e.capture_clear("lin"));
    send(&mut e, &udp_frame(&c, &s, b"again"), INSIDE, t);
    let lin = &e.captures().unwrap().list()[0];
    assert_eq!((lin.records().len(), lin.state()), (1, State::Capturing));
}

#[test]
fn frames_are_kept_truncated_to_the_packet_length() {
    let mut e = engine(OPEN);
    capture(&mut e, "capture c interface inside packet-length 14");
    let (c, s) = v4_pair(2000, 53);
    let frame = udp_frame(&c, &s, &[7; 300]);
    send(&mut e, &frame, INSIDE, Instant::from_secs(3));
    let caps = e.captures().unwrap();
    let r = caps.list()[0].records().next().unwrap();
    assert_eq!(r.data.len(), 14);
    assert_eq!(r.wire_len as usize, frame.len());
    assert_eq!(&r.data[..], &frame[..14]);
    assert_eq!(r.at, Instant::from_secs(3));
}

#[test]
fn stopped_captures_keep_their_frames_and_take_no_more() {
    let mut e = engine(OPEN);
    capture(&mut e, "capture c interface inside");
    let (c, s) = v4_pair(2000, 53);
    let t = Instant::from_secs(1);
    send(&mut e, &udp_frame(&c, &s, b"1"), INSIDE, t);
    assert!(e.capture_run("c", false));
    send(&mut e, &udp_frame(&c, &s, b"2"), INSIDE, t);
    assert_eq!(kept(&e, "c").len(), 1);
    assert!(e.capture_run("c", true));
    send(&mut e, &udp_frame(&c, &s, b"3"), INSIDE, t);
    assert_eq!(kept(&e, "c").len(), 2);
}

#[test]
fn asp_drop_keeps_drops_with_their_reason() {
    // No access-group: security levels, outside to inside denied.
    let mut e = engine("");
    capture(&mut e, "capture all type asp-drop");
    capture(&mut e, "capture nosyn type asp-drop tcp-not-syn");
    let mut m = model(1000);
    let t = Instant::from_secs(1);
    // A SYN from the outside: acl-drop.
    let (c, s) = v4_pair(1000, 80);
    let mut rev = TcpModel::new(s, c, [5, 6], [1000, 1000], [None, None]);
    let denied = {
        let sg = rev.syn();
        rev.frame(&sg)
    };
    assert_eq!(
        send(&mut e, &denied, OUTSIDE, t).0,
        Verdict::Drop(DropReason::AclDeny)
    );
    // An ACK with no connection from the inside: tcp-not-syn.
    let stray = {
        let sg = m.ack(Side::Client);
        m.frame(&sg)
    };
    assert_eq!(
        send(&mut e, &stray, INSIDE, t).0,
        Verdict::Drop(DropReason::TcpNotSyn)
    );
    // A forwarded frame is no drop.
    let syn = {
        let sg = m.syn();
        m.frame(&sg)
    };
    assert!(matches!(
        send(&mut e, &syn, INSIDE, t).0,
        Verdict::Forward { .. }
    ));
    let all = kept(&e, "all");
    assert_eq!(
        all.iter().map(|r| (r.0, r.1, r.2)).collect::<Vec<_>>(),
        [
            (OUTSIDE, Seen::Dropped, Some(DropReason::AclDeny)),
            (INSIDE, Seen::Dropped, Some(DropReason::TcpNotSyn)),
        ]
    );
    assert_eq!(all[0].3, denied);
    let nosyn = kept(&e, "nosyn");
    assert_eq!(nosyn.len(), 1);
    assert_eq!(nosyn[0].2, Some(DropReason::TcpNotSyn));
    assert_eq!(nosyn[0].3, stray);
}

/// A frame held for a peer's state and dropped at its deadline is kept
/// by an asp-drop capture then, not when it was held.
#[test]
fn asp_drop_keeps_a_held_frame_dropped_at_its_deadline() {
    let mut e = common::synced_node(1, Duration::ZERO, 1);
    capture(&mut e, "capture d type asp-drop");
    let (c, s) = v4_pair(41_000, 80);
    let mut m = TcpModel::new(c, s, [1000, 5000], [65535, 65535], [None, None]);
    m.handshake();
    let ack = {
        let seg = m.ack(Side::Server);
        m.frame(&seg)
    };
    let t = Instant::from_secs(1_700_000_000);
    assert_eq!(send(&mut e, &ack, OUTSIDE, t).0, Verdict::Hold);
    assert!(kept(&e, "d").is_empty(), "not dropped yet");
    let later = Instant::from_secs(1_700_000_010);
    e.expire_sync(later);
    let d = kept(&e, "d");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].0, d[0].1), (OUTSIDE, Seen::Dropped));
    assert_eq!(d[0].2, Some(DropReason::TcpNotSyn));
    assert_eq!(d[0].3, ack);
}

/// Every fragment of a datagram sent in pieces of 1,480 bytes.
fn fragments_of(frame: &[u8], id: u32) -> Vec<Vec<u8>> {
    fragment_frame(frame, 1_480, id)
}

/// (seen, reason) of capture `name`'s records.
fn reasons(e: &Engine, name: &str) -> Vec<(Seen, Option<DropReason>)> {
    kept(e, name).into_iter().map(|r| (r.1, r.2)).collect()
}

/// A datagram the access-list denies, sent in fragments: the worker
/// that reassembles it judges and drops it while it handles the last
/// fragment, and the asp-drop capture keeps the datagram then.
#[test]
fn asp_drop_keeps_a_reassembled_datagram_the_access_list_denies() {
    let mut e = engine(
        "access-list IN extended deny udp any any\n\
         access-list IN extended permit ip any any\n\
         access-group IN in interface inside\n",
    );
    capture(&mut e, "capture d type asp-drop");
    let (c, s) = v4_pair(40_000, 53);
    let t = Instant::from_secs(1);
    let whole = udp_frame(&c, &s, &[0x5a; 3_000]);
    let before = e.counters().dropped(DropReason::AclDeny);
    for f in fragments_of(&whole, 7) {
        assert_eq!(send(&mut e, &f, INSIDE, t).0, Verdict::Hold);
    }
    assert_eq!(e.counters().dropped(DropReason::AclDeny), before + 3);
    let d = kept(&e, "d");
    assert_eq!(d.len(), 1, "the datagram, once");
    assert_eq!(
        (d[0].0, d[0].1, d[0].2),
        (INSIDE, Seen::Dropped, Some(DropReason::AclDeny))
    );
    assert_eq!(
        d[0].3.len(),
        whole.len().min(1_518),
        "the datagram as judged"
    );
}

/// Fragments that would make a datagram over 65,535 bytes: each is kept
/// (fragment-malformed) when the last one arrives and the datagram
/// cannot be built.
#[test]
fn asp_drop_keeps_the_fragments_of_a_datagram_too_long_to_build() {
    let mut e = engine("");
    capture(&mut e, "capture d type asp-drop");
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = udp_frame(&c, &s, &[0; 64]);
    let mut frames = Vec::new();
    let mut off = 0u32;
    while off < 65_520 {
        let len = (65_520 - off).min(8_192) as usize;
        let mut data = vec![0; len];
        if off == 0 {
            data[..8].copy_from_slice(&whole[34..42]);
        }
        frames.push(fragment_at(&whole, 34, &data, off, true, 9));
        off += len as u32;
    }
    frames.push(fragment_at(&whole, 34, &[0; 8], 65_520, false, 9));
    let t = Instant::from_secs(1);
    for f in &frames {
        assert_eq!(send(&mut e, f, INSIDE, t).0, Verdict::Hold);
    }
    assert_eq!(
        e.counters().dropped(DropReason::FragmentMalformed),
        frames.len() as u64
    );
    let d = kept(&e, "d");
    assert_eq!(d.len(), frames.len(), "each fragment");
    for (r, f) in d.iter().zip(&frames) {
        assert_eq!(r.2, Some(DropReason::FragmentMalformed));
        assert_eq!(r.3, f[..f.len().min(1_518)]);
    }
}

/// A datagram whose last fragment never comes: its fragments are kept
/// (fragment-timeout) when the reassembly queue lets them go.
#[test]
fn asp_drop_keeps_fragments_that_time_out() {
    let mut e = engine("fragment timeout 1 inside\n");
    capture(&mut e, "capture d type asp-drop");
    let (c, s) = v4_pair(40_000, 5_000);
    let frags = fragments_of(&udp_frame(&c, &s, &[1; 4_000]), 11);
    let t = Instant::from_secs(1_700_000_000);
    for f in &frags[..2] {
        assert_eq!(send(&mut e, f, INSIDE, t).0, Verdict::Hold);
    }
    assert!(kept(&e, "d").is_empty());
    e.expire(t + Duration::from_millis(1_100));
    assert_eq!(e.counters().dropped(DropReason::FragmentTimeout), 2);
    let d = kept(&e, "d");
    assert_eq!(
        reasons(&e, "d"),
        [(Seen::Dropped, Some(DropReason::FragmentTimeout)); 2]
    );
    assert_eq!((d[0].0, &d[0].3, &d[1].3), (INSIDE, &frags[0], &frags[1]));
}

/// A fragment that overlaps one kept drops its datagram whole: the one
/// kept is kept by the capture too, then the one that overlapped.
#[test]
fn asp_drop_keeps_the_fragments_an_overlap_drops() {
    let mut e = engine("");
    capture(&mut e, "capture d type asp-drop");
    let (c, s) = v4_pair(40_000, 5_000);
    let whole = udp_frame(&c, &s, &[2; 4_000]);
    let frags = fragments_of(&whole, 12);
    let t = Instant::from_secs(1);
    assert_eq!(send(&mut e, &frags[0], INSIDE, t).0, Verdict::Hold);
    let overlap = fragment_at(&whole, 34, &[3; 16], 8, true, 12);
    assert_eq!(
        send(&mut e, &overlap, INSIDE, t).0,
        Verdict::Drop(DropReason::FragmentOverlap)
    );
    let d = kept(&e, "d");
    assert_eq!(
        reasons(&e, "d"),
        [(Seen::Dropped, Some(DropReason::FragmentOverlap)); 2]
    );
    assert_eq!((&d[0].3, &d[1].3), (&frags[0], &overlap));
}

#[test]
fn an_unknown_interface_or_reason_is_refused() {
    let e = engine(OPEN);
    let CaptureCommand::Define(def) = parse_capture("capture c interface dmz", &|_| true).unwrap()
    else {
        panic!()
    };
    let err = Spec::from_def(&def, &e.config().interfaces, 1534).unwrap_err();
    assert_eq!(err, "no interface named 'dmz'");
    let CaptureCommand::Define(def) =
        parse_capture("capture c type asp-drop made-up", &|_| true).unwrap()
    else {
        panic!()
    };
    let err = Spec::from_def(&def, &e.config().interfaces, 1534).unwrap_err();
    assert_eq!(err, "unknown drop reason 'made-up'");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any frames, valid or not: an engine with captures of every kind
    /// gives the verdicts and rewrites of one without.
    #[test]
    fn a_capture_never_changes_a_verdict(
        frames in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..120), any::<bool>(), 0u8..4),
            1..40,
        )
    ) {
        let mut plain = engine(OPEN);
        let mut captured = engine(OPEN);
        capture(&mut captured, "capture a interface inside buffer 4000 circular-buffer");
        capture(&mut captured, "capture b interface outside buffer 2000 packet-length 20");
        capture(&mut captured, "capture d type asp-drop");
        capture(&mut captured, "capture m interface inside match tcp any any eq 80");
        let mut m = model(1000);
        let segs = m.handshake();
        for (i, (bytes, outside, kind)) in frames.iter().enumerate() {
            let iface = if *outside { OUTSIDE } else { INSIDE };
            // Mostly noise, some real segments (a mutated one among them).
            let frame = match kind {
                0 => m.frame(&segs[i % 3]),
                1 => {
                    let mut f = m.frame(&segs[i % 3]);
                    if let (Some(b), false) = (bytes.first(), f.is_empty()) {
                        let at = usize::from(*b) % f.len();
                        f[at] ^= 0x5a;
                    }
                    f
                }
                _ => bytes.clone(),
            };
            let t = Instant::from_millis(i as u64);
            let a = send(&mut plain, &frame, iface, t);
            let b = send(&mut captured, &frame, iface, t);
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(plain.counters().forwarded_packets, captured.counters().forwarded_packets);
    }
}

/// Copying a capture a part at a time: parts of the size asked, in
/// order; frames a circular buffer let go meanwhile are skipped, a clear
/// starts over, and no part reads a frame not whole.
#[test]
fn a_capture_copied_in_parts_follows_its_buffer() {
    let mut e = engine(OPEN);
    capture(
        &mut e,
        "capture c interface inside buffer 4000 packet-length 100 circular-buffer",
    );
    let (c, s) = v4_pair(2000, 53);
    let t = Instant::from_secs(1);
    let mut n = 0u8;
    let mut more = |e: &mut Engine, k: usize| {
        for _ in 0..k {
            send(e, &udp_frame(&c, &s, &[n; 200]), INSIDE, t);
            n += 1;
        }
    };
    more(&mut e, 40);
    let cap = |e: &Engine| e.captures().unwrap().list()[0].clone();
    let held = cap(&e).records().len();
    assert!(held > 4 && held < 40, "{held}");
    let first = cap(&e).records().next().unwrap().data[60];
    // Two frames a part: their bytes and records.
    let two = 2 * (100 + std::mem::size_of::<Record>());
    let (part, next) = cap(&e).records_from(cap(&e).cursor(), two);
    assert_eq!(
        part.iter().map(|r| r.data[60]).collect::<Vec<_>>(),
        [first, first + 1]
    );
    let next = next.unwrap();
    let (part, _) = cap(&e).records_from(next, two);
    assert_eq!(part[0].data[60], first + 2);
    // Three more frames let the next three oldest go: the copy goes on
    // from the oldest still kept.
    more(&mut e, 3);
    let (part, _) = cap(&e).records_from(next, usize::MAX);
    assert_eq!(part[0].data[60], first + 3);
    assert_eq!(part.last().unwrap().data[60], 42);
    assert!(
        part.iter()
            .all(|r| r.data.len() == 100 && r.data[59] == r.data[60])
    );
    // Cleared, then two frames: the copy has those two.
    assert!(e.capture_clear("c"));
    more(&mut e, 2);
    let (part, end) = cap(&e).records_from(next, usize::MAX);
    assert_eq!(
        part.iter().map(|r| r.data[60]).collect::<Vec<_>>(),
        [43, 44]
    );
    assert!(end.is_none());
}

/// `capture NAME type asp-drop shunned` keeps the frames a shun dropped,
/// as they arrived, with their reason; a raw-data capture of their
/// interface sees them arrive (docs/asa-behaviour.md §2.11, §2.12).
#[test]
fn asp_drop_shunned_keeps_what_a_shun_dropped() {
    use rampart_dataplane::shun::{Shun, ShunScope, ShunTable};
    let mut e = engine("");
    capture(&mut e, "capture sh type asp-drop shunned");
    capture(
        &mut e,
        "capture in type raw-data interface inside match ip any any",
    );
    let (c, s) = v4_pair(1000, 53);
    let shun = Shun {
        source: c.ip,
        conn: None,
        scope: ShunScope::Any,
    };
    e.set_shuns(std::sync::Arc::new(ShunTable::new(vec![shun])));
    let t = Instant::from_secs(1);
    let q = udp_frame(&c, &s, b"q");
    let shunned = Verdict::Drop(DropReason::Shunned);
    assert_eq!(send(&mut e, &q, INSIDE, t).0, shunned);
    let a = udp_frame(&s, &c, b"a");
    assert_ne!(send(&mut e, &a, OUTSIDE, t).0, shunned);
    assert_eq!(
        kept(&e, "sh"),
        [(INSIDE, Seen::Dropped, Some(DropReason::Shunned), q.clone())]
    );
    assert_eq!(kept(&e, "in"), [(INSIDE, Seen::Ingress, None, q)]);
}
