//! The `engine_process` target beyond its seeds' outcomes: the first record
//! chooses the setup (and the inputs written before the choice keep their
//! meaning), the setup seeds reach the engine paths they are named for,
//! and the oracle judges forwarded and built frames by their checksums,
//! firing on a broken one and never on a frame it must not judge.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use rampart_dataplane::engine::PREFETCH_BATCH;
use rampart_dataplane::packet::rewrite::{get32, rewrite32};
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::trace::{Host, Side, TcpModel, echo_frame, v4_pair};
use rampart_dataplane::{DropReason, IfaceId, Verdict};
use rampart_fuzz::oracle::{check_forwarded, check_transmit};
use rampart_fuzz::setup::{ACL_CLASSES, NO_RANDOMIZATION};
use rampart_fuzz::{Driver, Outcome, PolicyChoice, Setup, drive, seeds};

// === the setup ===

#[test]
fn the_first_control_byte_chooses_the_setup() {
    for policy in PolicyChoice::ALL {
        for batch in [false, true] {
            for slow_path in [false, true] {
                let setup = Setup {
                    policy,
                    batch,
                    slow_path,
                };
                for frame_bits in 0..16u8 {
                    assert_eq!(
                        Setup::from_control(setup.control_bits() | frame_bits),
                        setup
                    );
                }
            }
        }
    }
    // Bits 0-3 are the frame's own: an input written before the choice
    // existed runs in the setup it always ran in.
    for control in 0..16u8 {
        assert_eq!(Setup::from_control(control), Setup::default());
    }
    assert_eq!(Setup::of_input(&[]), Setup::default());
}

#[test]
fn the_seeds_written_before_the_setups_keep_the_default_one() {
    for seed in seeds::all() {
        let setup = Setup::of_input(&seed.input);
        let old = !matches!(
            seed.name.replace("seed-captured-", "seed-").as_str(),
            "seed-acl-deny"
                | "seed-bypass"
                | "seed-bypass-teardown"
                | "seed-idle-reset"
                | "seed-idle-dcd"
                | "seed-idle-reset-no-randomization"
                | "seed-class-limits"
                | "seed-embryonic-limits"
                | "seed-batch"
                | "seed-tcp-slow-path"
        );
        assert_eq!(old, setup == Setup::default(), "{}", seed.name);
    }
}

/// The policies are what an operator would write: every line parses and
/// is enforced, none ignored.
#[test]
fn the_fuzz_policies_parse_with_nothing_ignored() {
    for text in [ACL_CLASSES, NO_RANDOMIZATION] {
        let parsed = rampart_dataplane::policy::parse_config(text).expect("parses");
        assert!(parsed.ignored.is_empty(), "{:?}", parsed.ignored);
        rampart_fuzz::setup::compile_text(text);
    }
}

/// Bits 4-7 of the third record choose the shuns; only the shun seed
/// has any, and its frames from the shunned sources are dropped, each
/// counted on the first shun that covers it (docs/asa-behaviour.md §2.12).
#[test]
fn the_third_control_byte_chooses_the_shuns() {
    use rampart_fuzz::shuns;
    for seed in seeds::all() {
        let bits = shuns::of_input(&seed.input);
        assert_eq!(bits != 0, seed.name == "seed-shunned", "{}", seed.name);
        if bits == 0 {
            continue;
        }
        let driver = drive(&seed.input, |_| {});
        let e = driver.engine();
        assert_eq!(e.counters().dropped(DropReason::Shunned), 4);
        // The duplicate is left out of the table.
        assert_eq!(e.shun_hits(), [3, 1, 0, 0]);
        assert_eq!(e.shun_iface_drops(), [1, 3]);
        // The same bits in the first or second record choose nothing.
        assert_eq!(shuns::with_shuns(&seed.input[..4], bits), &seed.input[..4]);
    }
    assert!(shuns::table(0).is_none());
    assert_eq!(shuns::table(shuns::BITS).map(|t| t.shuns().len()), Some(5));
}

// === the setup seeds reach their paths ===

/// The checked-in seed `name`, replayed through the target's driver.
fn replay(name: &str) -> (Vec<Outcome>, Driver) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(seeds::DIR)
        .join(name);
    let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut outcomes = Vec::new();
    let driver = drive(&input, |o| outcomes.push(o));
    (outcomes, driver)
}

fn drops(driver: &Driver, reason: DropReason) -> u64 {
    driver.engine().counters().drops[reason.index()]
}

#[test]
fn the_setup_seeds_reach_the_paths_they_are_named_for() {
    let (_, d) = replay("seed-acl-deny");
    assert_eq!(
        drops(&d, DropReason::AclDeny),
        4,
        "denied by port both ways"
    );

    let (_, d) = replay("seed-bypass");
    assert_eq!(d.engine().counters().bypass_conns_created, 3);

    let (_, d) = replay("seed-bypass-teardown");
    assert_eq!(
        d.engine().counters().bypass_conns_created,
        2,
        "the RST removed the first"
    );

    for (name, rsts) in [
        ("seed-idle-reset", 2),
        ("seed-idle-reset-no-randomization", 4),
    ] {
        let (outcomes, d) = replay(name);
        assert_eq!(d.engine().counters().idle_resets_sent, rsts, "{name}");
        let sent = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Transmit(_)))
            .count();
        assert_eq!(sent as u64, rsts, "{name}: each RST reported");
    }

    let (_, d) = replay("seed-class-limits");
    assert_eq!(drops(&d, DropReason::PerClientConnLimit), 1);
    assert_eq!(drops(&d, DropReason::ConnLimit), 1);

    let (_, d) = replay("seed-embryonic-limits");
    assert_eq!(drops(&d, DropReason::PerClientConnLimit), 1);
    assert_eq!(drops(&d, DropReason::ConnLimit), 1);

    let (outcomes, d) = replay("seed-batch");
    assert!(
        d.largest_batch() > PREFETCH_BATCH,
        "a batch past the prefetch chunk"
    );
    assert!(outcomes.contains(&Outcome::Verdict(Verdict::Drop(DropReason::AclDeny))));

    let (_, d) = replay("seed-tcp-slow-path");
    assert_eq!(d.engine().fast_path_frames(), 0, "the fast path is off");
    let (_, d) = replay("seed-tcp-data");
    assert!(d.engine().fast_path_frames() > 0, "and on by default");
}

// === the oracle ===

/// The panic message of `f`, if it panics.
fn panic_of(f: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

const FORWARD: Verdict = Verdict::Forward { egress: IfaceId(1) };

fn meta(checksum: ChecksumState) -> PacketMeta {
    PacketMeta {
        checksum,
        ..PacketMeta::default()
    }
}

/// An IPv4 TCP data segment: Ethernet 14 bytes, IPv4 20, TCP from 34.
fn tcp_segment() -> Vec<u8> {
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65_535, 65_535], [None, None]);
    m.handshake();
    let d = m.data(Side::Client, 20);
    m.frame(&d)
}
const TCP_SEQ: usize = 38;
const TCP_CSUM: usize = 50;
const IPV4_TTL: usize = 22;

/// The segment with its sequence number moved by `by`, the TCP checksum
/// fixed or not.
fn shifted(frame: &[u8], by: u32, fix: bool) -> Vec<u8> {
    let mut out = frame.to_vec();
    let seq = get32(&out, TCP_SEQ).expect("seq");
    assert!(rewrite32(
        &mut out,
        TCP_SEQ,
        TCP_CSUM,
        seq.wrapping_add(by),
        fix
    ));
    out
}

#[test]
fn a_forwarded_frame_rewritten_with_its_checksum_passes() {
    let input = tcp_segment();
    for checksum in [ChecksumState::Unverified, ChecksumState::Verified] {
        check_forwarded(&input, meta(checksum), &input, FORWARD);
        check_forwarded(
            &input,
            meta(checksum),
            &shifted(&input, 0x1234_5678, true),
            FORWARD,
        );
    }
}

#[test]
fn a_forwarded_frame_rewritten_without_its_checksum_fires() {
    let input = tcp_segment();
    let broken = shifted(&input, 0x1234_5678, false);
    for checksum in [ChecksumState::Unverified, ChecksumState::Verified] {
        let msg = panic_of(|| check_forwarded(&input, meta(checksum), &broken, FORWARD))
            .expect("the oracle fires");
        assert!(msg.contains("TcpChecksumBad"), "{msg}");
    }
}

#[test]
fn dropped_frames_and_frames_that_came_broken_are_not_judged() {
    let input = tcp_segment();
    let broken = shifted(&input, 7, false);
    // Dropped: whatever the buffer holds afterwards is never sent.
    let dropped = Verdict::Drop(DropReason::TcpNotSyn);
    check_forwarded(&input, meta(ChecksumState::Unverified), &broken, dropped);
    // Forwarded on the word of the I/O layer (verified) with a checksum
    // that was wrong on arrival: the engine does not repair it.
    check_forwarded(&broken, meta(ChecksumState::Verified), &broken, FORWARD);
    let worse = shifted(&broken, 9, true);
    check_forwarded(&broken, meta(ChecksumState::Verified), &worse, FORWARD);
}

/// A partial checksum is the bridge's to complete, not the engine's to
/// keep; the IPv4 header checksum is the engine's.
#[test]
fn a_partial_checksum_is_completed_as_the_bridge_does_first() {
    let input = tcp_segment();
    let stale = shifted(&input, 0x1234_5678, false);
    check_forwarded(&input, meta(ChecksumState::Partial), &stale, FORWARD);
    let mut ttl_changed = stale.clone();
    ttl_changed[IPV4_TTL] -= 1;
    let msg =
        panic_of(|| check_forwarded(&input, meta(ChecksumState::Partial), &ttl_changed, FORWARD))
            .expect("the oracle fires");
    assert!(msg.contains("Ipv4ChecksumBad"), "{msg}");
}

/// ICMP and ICMPv6 checksums, which the parser leaves to the host, are
/// checked by the oracle itself: an echo whose sequence number changed
/// without its checksum fires, unless the checksum was wrong already.
#[test]
fn an_icmp_checksum_broken_in_passing_fires() {
    let (c, s) = v4_pair(0, 0);
    let v6 = |h: Host, last: u16| Host {
        ip: std::net::Ipv6Addr::new(0x2001, 0xdb8, last, 0, 0, 0, 0, 0x10).into(),
        ..h
    };
    // The echo's sequence number: 6 bytes into the ICMP header, which
    // starts after Ethernet and the IPv4 (20) or IPv6 (40) header.
    for (frame, seq_at) in [
        (echo_frame(&c, &s, 9, 1, false), 14 + 20 + 6),
        (echo_frame(&v6(c, 0), &v6(s, 1), 9, 1, false), 14 + 40 + 6),
    ] {
        check_forwarded(&frame, meta(ChecksumState::Unverified), &frame, FORWARD);
        let mut broken = frame.clone();
        broken[seq_at] ^= 0x40;
        let msg =
            panic_of(|| check_forwarded(&frame, meta(ChecksumState::Unverified), &broken, FORWARD))
                .expect("the oracle fires");
        assert!(msg.contains("ICMP"), "{msg}");
        check_forwarded(&broken, meta(ChecksumState::Unverified), &broken, FORWARD);
    }
}

#[test]
fn a_frame_the_engine_builds_must_parse_with_its_checksums() {
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [65_535, 65_535], [None, None]);
    m.handshake();
    let rst = m.rst(Side::Client);
    let rst = m.frame(&rst);
    check_transmit(IfaceId(1), &rst);
    let mut broken = rst.clone();
    broken[TCP_SEQ] ^= 1;
    let msg = panic_of(|| check_transmit(IfaceId(1), &broken)).expect("the oracle fires");
    assert!(msg.contains("TcpChecksumBad"), "{msg}");
}

// === captures ===

/// The captured seeds keep frames in both captures, the raw-data one
/// wrapping round its small buffer, and decode them (the driver checks
/// them at the end of the input).
#[test]
fn the_captured_seeds_keep_and_wrap() {
    for (name, drops) in [
        ("seed-captured-tcp-data", false),
        ("seed-captured-acl-deny", true),
        ("seed-captured-batch", false),
        ("seed-captured-idle-reset", false),
    ] {
        let (_, driver) = replay(name);
        let caps = driver.engine().captures().expect("captures");
        let raw = &caps.list()[0];
        assert!(raw.records().len() > 0, "{name}: nothing kept");
        if name != "seed-captured-acl-deny" {
            assert!(raw.overwritten() > 0, "{name}: never wrapped");
        }
        if drops {
            assert!(caps.list()[1].records().len() > 0, "{name}: no drop kept");
        }
    }
}

/// A capture that changed a verdict or a forwarded frame's bytes would be
/// caught by the twin; here, an engine that kept a frame it never saw is
/// caught by the check of what captures kept.
#[test]
fn a_kept_frame_the_engine_never_saw_fires() {
    let (_, driver) = replay("seed-captured-tcp-data");
    let panic = panic_of(|| rampart_fuzz::captures::check(driver.engine(), &[], &[], driver.now()));
    assert!(
        panic.is_some_and(|p| p.contains("as it did not")),
        "no complaint"
    );
}

/// Found by the fuzzer (engine_process, 7 December 2026): an IPv6 frame
/// with a fragment header, dropped once "reassembled", is kept by the
/// asp-drop capture whole, as judged (docs/asa-behaviour.md §2.11), which
/// is not the frame as it arrived. The check of what captures kept took
/// it for a copy the engine never saw; it now lets a dropped frame differ
/// from every arrival when the input holds a fragment.
#[test]
fn a_reassembled_datagram_dropped_whole_is_not_taken_for_a_stray_copy() {
    const HEX: &str = "0001005e02000000000302000000000186dd6000000000282c2c2c2c2c2c2c2c8e2c2c\
        2c2c2c2c252c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c47000000000108060001080006040001020000\
        000001c612000a000000000000c612010a0c01002f00000000000000000000000000ffffffffffffff1700\
        00000000000000000000000060010100000100000000000000002a000000000000000000";
    let input: Vec<u8> = (0..HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&HEX[i..i + 2], 16).expect("hex"))
        .collect();
    let driver = drive(&input, |_| {});
    let caps = driver.engine().captures().expect("captures");
    let dropped: Vec<_> = caps.list()[0].records().collect();
    let arrived: Vec<&[u8]> = rampart_fuzz::steps(&input).map(|s| s.frame).collect();
    assert!(
        dropped
            .iter()
            .any(|r| !arrived.iter().any(|f| f.starts_with(&r.data))),
        "the capture kept the reassembled datagram: {dropped:?}"
    );
}
