//! The established-TCP fast path against the general path: on any input an
//! engine with the fast path and one without must agree exactly — every
//! verdict, every rewritten frame, every counter, the table (entries and
//! kind counts) and the effects — with sequence randomization on or off,
//! standalone or syncing, across window changes, stale retransmissions,
//! segments moved out of window, URG and TTL changes, partial checksums,
//! closes, resets and expiry, and with a random tcp-map (TCP options of
//! any kind, reserved bits, segments past the MSS; docs/asa-behaviour.md
//! §6.1).

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::SyncConfig;
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};

#[derive(Debug, Clone)]
enum Step {
    Syn,
    SynAck,
    Ack(Side),
    Data(Side, u32),
    /// Data with SACK blocks below the cumulative ack (a receiver's report).
    Sack(Side, u32),
    Fin(Side),
    Rst(Side),
    /// A data segment whose sequence number is moved by this much.
    Shifted(Side, u32),
    /// A late copy of the n-th segment sent.
    Retransmit(usize),
    /// A new advertised window from this side's next segment on.
    Window(Side, u16),
    /// Data with URG and an urgent pointer set (the normalizer clears them).
    Urgent(Side, u16),
    /// Data with this IP TTL (the normalizer keeps a direction's lowest).
    Ttl(Side, u8),
    /// Data with a 10-byte TCP option of this kind (a tcp-map allows,
    /// clears or drops it).
    Option(Side, u8),
    /// Data with these reserved bits set (the low nibble of byte 12).
    Reserved(Side, u8),
    /// Data of this length, past the MSS the model announces (1460).
    Big(Side, u32),
    /// Time passes (past the idle timeout when long), then the sweep runs.
    Sleep(u64),
    /// The shell drains the effects (sync events for peers among them).
    Drain,
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn step() -> impl Strategy<Value = (usize, Step, u8)> {
    let s = prop_oneof![
        2 => Just(Step::Syn),
        2 => Just(Step::SynAck),
        6 => side().prop_map(Step::Ack),
        16 => (side(), 1u32..=1400).prop_map(|(s, n)| Step::Data(s, n)),
        2 => (side(), 1u32..=200).prop_map(|(s, n)| Step::Sack(s, n)),
        1 => side().prop_map(Step::Fin),
        1 => side().prop_map(Step::Rst),
        2 => (side(), any::<u32>()).prop_map(|(s, d)| Step::Shifted(s, d)),
        3 => any::<usize>().prop_map(Step::Retransmit),
        2 => (side(), any::<u16>()).prop_map(|(s, w)| Step::Window(s, w)),
        1 => (side(), any::<u16>()).prop_map(|(s, p)| Step::Urgent(s, p)),
        2 => (side(), 1u8..=255).prop_map(|(s, t)| Step::Ttl(s, t)),
        2 => (side(), prop_oneof![Just(5u8), Just(6), Just(8), Just(19), Just(30), any::<u8>()])
            .prop_map(|(s, k)| Step::Option(s, k)),
        1 => (side(), 1u8..16).prop_map(|(s, b)| Step::Reserved(s, b)),
        1 => (side(), 1461u32..=3000).prop_map(|(s, n)| Step::Big(s, n)),
        1 => prop_oneof![Just(1u64), Just(3_000), Just(8_000_000)].prop_map(Step::Sleep),
        3 => Just(Step::Drain),
    ];
    // The flow, the step, and how the receive path marked the checksum.
    (0usize..4, s, 0u8..3)
}

/// A tcp-map's lines, at random: each sub-command the engine enforces,
/// and `tcp-options range` lines over kinds the steps send.
fn map_lines() -> impl Strategy<Value = Vec<String>> {
    let kind = prop_oneof![Just(6u8), Just(7), Just(19), Just(30), 9u8..=255];
    let action = prop_oneof![Just("allow"), Just("clear"), Just("drop")];
    let range = (kind.clone(), kind, action)
        .prop_map(|(a, b, act)| format!(" tcp-options range {} {} {act}", a.min(b), a.max(b)));
    let fixed = prop::sample::subsequence(
        vec![
            " tcp-options selective-ack clear",
            " tcp-options timestamp clear",
            " tcp-options window-scale clear",
            " urgent-flag allow",
            " reserved-bits clear",
            " reserved-bits drop",
            " syn-data drop",
            " synack-data allow",
            " exceed-mss drop",
            " no ttl-evasion-protection",
        ],
        0..=10,
    );
    (fixed, proptest::collection::vec(range, 0..4))
        .prop_map(|(fixed, ranges)| fixed.into_iter().map(String::from).chain(ranges).collect())
}

/// The policy of a run with tcp-map M of `lines` on class-default.
fn with_map(lines: &[String], randomize: bool) -> rampart_dataplane::policy::ast::Config {
    let mut text = String::from("tcp-map M\n");
    for l in lines {
        text += l;
        text += "\n";
    }
    text += "policy-map global_policy\n class class-default\n  set connection advanced-options M\n";
    if !randomize {
        text += "  set connection random-sequence-number disable\n";
    }
    text += "service-policy global_policy global\n";
    rampart_dataplane::policy::parse::parse_config(&text)
        .unwrap_or_else(|e| panic!("{text}\n{e}"))
        .config
}

fn engine(syncing: bool, randomize: bool, fast: bool, map: Option<&[String]>) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(3), [9, 8, 7, 6]);
    if syncing {
        cfg.sync = Some(SyncConfig {
            defer_deadline: Duration::from_millis(10),
            ..SyncConfig::default()
        });
    }
    let mut e = Engine::new(cfg).expect("valid config");
    if syncing {
        e.set_peers_up(1);
        e.set_ready(true);
    }
    if let Some(lines) = map {
        let p = compile(&with_map(lines, randomize), &e.config().interfaces).expect("compiles");
        e.set_policy(Arc::new(p)).expect("the policy's classes fit");
    } else if !randomize {
        let off = compile(&randomization_off(), &e.config().interfaces).expect("compiles");
        e.set_policy(Arc::new(off))
            .expect("the policy's classes fit");
    }
    e.set_fast_path(fast);
    e
}

/// Set the IPv4 TTL of a frame (the checksum is not fixed: the frames go
/// in marked verified or partial, see `meta`).
fn set_ttl(frame: &mut [u8], ttl: u8) {
    frame[14 + 8] = ttl;
}

/// Set URG and the urgent pointer in the TCP header of an IPv4 frame.
fn set_urgent(frame: &mut [u8], ptr: u16) {
    let l4 = 14 + usize::from(frame[14] & 0x0f) * 4;
    frame[l4 + 13] |= 0x20;
    frame[l4 + 18..l4 + 20].copy_from_slice(&ptr.to_be_bytes());
}

fn meta(which: u8, edited: bool) -> PacketMeta {
    let checksum = match which {
        // An edited frame's checksums are stale: unverified, it would be
        // dropped by both engines alike, which tests nothing.
        0 if !edited => ChecksumState::Unverified,
        1 => ChecksumState::Partial,
        _ => ChecksumState::Verified,
    };
    PacketMeta {
        checksum,
        gso_size: 0,
        asked: rampart_dataplane::packet::OffloadRequest::NONE,
    }
}

/// Everything observable of a run: per frame its verdict and bytes after
/// the engine, the effects drained along the way, and the engine itself.
type Run = (Vec<(Verdict, Vec<u8>)>, Vec<Effect>, Engine);

/// The same steps through one engine; the models follow the engine's
/// sequence shift as a real pair behind it would.
fn run(
    steps: &[(usize, Step, u8)],
    syncing: bool,
    randomize: bool,
    fast: bool,
    map: Option<&[String]>,
) -> Run {
    let mut e = engine(syncing, randomize, fast, map);
    let mut models: Vec<TcpModel> = (0..4u16)
        .map(|i| {
            let (c, s) = v4_pair(40_000 + i, 80 + i % 2);
            TcpModel::new(
                c,
                s,
                [u32::from(i) * 7_919 + 1, u32::from(i) * 104_729 + 5],
                [64_240, 65_160],
                [Some(7), if i % 2 == 0 { Some(2) } else { None }],
            )
        })
        .collect();
    let mut now = Instant::from_secs(1_700_000_000);
    let mut out = Vec::new();
    let mut effects = Vec::new();
    for (flow, step, csum) in steps {
        now = now + Duration::from_micros(50);
        let m = &mut models[*flow];
        let (mut frame, iface, edited) = match step {
            Step::Syn => {
                let s = m.syn();
                (m.frame(&s), m.iface(Side::Client), false)
            }
            Step::SynAck => {
                let s = m.syn_ack();
                (m.frame(&s), m.iface(Side::Server), false)
            }
            Step::Ack(side) => {
                let s = m.ack(*side);
                (m.frame(&s), m.iface(*side), false)
            }
            Step::Data(side, n) => {
                let n = (*n).min(m.sendable(*side)).max(1);
                let s = m.data(*side, n);
                (m.frame(&s), m.iface(*side), false)
            }
            Step::Sack(side, n) => {
                let n = (*n).min(m.sendable(*side)).max(1);
                let mut s = m.data(*side, n);
                s.sack = vec![(s.ack.wrapping_sub(3_000), s.ack.wrapping_sub(1_000))];
                (m.frame(&s), m.iface(*side), false)
            }
            Step::Fin(side) => {
                let s = m.fin(*side);
                (m.frame(&s), m.iface(*side), false)
            }
            Step::Rst(side) => {
                let s = m.rst(*side);
                (m.frame(&s), m.iface(*side), false)
            }
            Step::Shifted(side, d) => {
                let mut s = m.data(*side, 10);
                s.seq = s.seq.wrapping_add(*d);
                (m.frame(&s), m.iface(*side), false)
            }
            Step::Retransmit(n) => {
                if m.sent.is_empty() {
                    continue;
                }
                let s = m.retransmit(n % m.sent.len()).expect("in range");
                (m.frame(&s), m.iface(s.from), false)
            }
            Step::Window(side, w) => {
                m.set_window(*side, *w);
                continue;
            }
            Step::Urgent(side, ptr) => {
                let s = m.data(*side, 1);
                let mut f = m.frame(&s);
                set_urgent(&mut f, *ptr);
                (f, m.iface(*side), true)
            }
            Step::Ttl(side, ttl) => {
                let n = 20.min(m.sendable(*side)).max(1);
                let s = m.data(*side, n);
                let mut f = m.frame(&s);
                set_ttl(&mut f, *ttl);
                (f, m.iface(*side), true)
            }
            Step::Option(side, kind) => {
                let n = 20.min(m.sendable(*side)).max(1);
                let mut s = m.data(*side, n);
                s.sack = vec![(s.ack.wrapping_sub(3_000), s.ack.wrapping_sub(1_000))];
                let mut f = m.frame(&s);
                // The SACK option (after two NOPs) made one of `kind`.
                let l4 = 14 + 20;
                let at = (l4 + 20..l4 + usize::from(f[l4 + 12] >> 4) * 4)
                    .find(|&i| f[i] == 5)
                    .expect("the SACK option");
                f[at] = (*kind).max(2);
                (f, m.iface(*side), true)
            }
            Step::Reserved(side, bits) => {
                let n = 20.min(m.sendable(*side)).max(1);
                let s = m.data(*side, n);
                let mut f = m.frame(&s);
                f[14 + 20 + 12] |= bits & 0x0f;
                (f, m.iface(*side), true)
            }
            Step::Big(side, n) => {
                let n = (*n).min(m.sendable(*side)).max(1);
                let s = m.data(*side, n);
                (m.frame(&s), m.iface(*side), false)
            }
            Step::Sleep(secs) => {
                now = now + Duration::from_secs(*secs);
                e.expire(now);
                continue;
            }
            Step::Drain => {
                effects.extend(std::iter::from_fn(|| e.poll_effect(now)));
                continue;
            }
        };
        let v = e.process(&mut frame, meta(*csum, edited), iface, now);
        if matches!(step, Step::Syn)
            && let Some(entry) = e.find(&m.tuple(), now)
        {
            m.set_shift(entry.seq_offset);
        }
        out.push((v, frame));
    }
    (out, effects, e)
}

fn check(
    steps: &[(usize, Step, u8)],
    syncing: bool,
    randomize: bool,
    map: Option<&[String]>,
) -> Result<u64, TestCaseError> {
    let (want, want_effects, mut general) = run(steps, syncing, randomize, false, map);
    let (got, got_effects, mut fast) = run(steps, syncing, randomize, true, map);
    prop_assert_eq!(want_effects, got_effects);
    prop_assert_eq!(general.fast_path_frames(), 0);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        prop_assert_eq!(w, g, "frame {} of {}", i, want.len());
    }
    prop_assert_eq!(general.counters(), fast.counters());
    let entries = |e: &Engine| {
        let mut v: Vec<_> = e.table().iter().map(|(_, e)| *e).collect();
        v.sort_by_key(|e| e.id);
        v
    };
    prop_assert_eq!(entries(&general), entries(&fast));
    prop_assert_eq!(general.table().kind_counts(), fast.table().kind_counts());
    let end = Instant::from_secs(1_800_000_000);
    let effects = |e: &mut Engine| std::iter::from_fn(|| e.poll_effect(end)).collect::<Vec<_>>();
    prop_assert_eq!(effects(&mut general), effects(&mut fast));
    Ok(fast.fast_path_frames())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn the_fast_path_decides_exactly_as_the_general_path(
        steps in proptest::collection::vec(step(), 1..200),
        syncing in any::<bool>(),
        randomize in any::<bool>(),
        map in proptest::option::of(map_lines()),
    ) {
        check(&steps, syncing, randomize, map.as_deref())?;
    }
}

/// A clean conversation: after each handshake every data segment and ACK
/// takes the fast path (so the property above is not vacuous), and the
/// result is still exactly the general path's.
#[test]
fn established_segments_take_the_fast_path() {
    let mut steps = Vec::new();
    for f in 0..4 {
        steps.extend([
            (f, Step::Syn, 2),
            (f, Step::SynAck, 2),
            (f, Step::Ack(Side::Client), 2),
        ]);
    }
    for round in 0..20 {
        for f in 0..4 {
            let side = if round % 2 == 0 {
                Side::Client
            } else {
                Side::Server
            };
            steps.push((f, Step::Data(side, 100), (round % 3) as u8));
            steps.push((f, Step::Ack(side.other()), 2));
        }
    }
    for syncing in [false, true] {
        for randomize in [false, true] {
            let fast = check(&steps, syncing, randomize, None).expect("equal");
            assert_eq!(fast, 160, "syncing {syncing}, randomize {randomize}");
        }
    }
    let (out, _, _) = run(&steps, false, true, true, None);
    assert!(
        out.iter()
            .all(|(v, _)| matches!(v, Verdict::Forward { .. }))
    );
}

/// Frames the fast path must leave to the general path are judged there:
/// a stale retransmission, a FIN, a segment past the window, a RST.
#[test]
fn other_segments_fall_back_to_the_general_path() {
    // Flow 1: no window scaling, so 60 full segments are most of a window.
    let mut steps = vec![
        (1, Step::Syn, 2),
        (1, Step::SynAck, 2),
        (1, Step::Ack(Side::Client), 2),
        (1, Step::Data(Side::Client, 100), 2),
    ];
    for _ in 0..60 {
        steps.push((1, Step::Data(Side::Client, 1400), 2));
        steps.push((1, Step::Ack(Side::Server), 2));
    }
    steps.extend([
        // The first data segment again, more than a window behind.
        (1, Step::Retransmit(3), 2),
        (1, Step::Shifted(Side::Client, 1 << 30), 2),
        (1, Step::Fin(Side::Client), 2),
        (1, Step::Ack(Side::Server), 2),
        (1, Step::Rst(Side::Server), 2),
    ]);
    for randomize in [false, true] {
        let fast = check(&steps, false, randomize, None).expect("equal");
        assert_eq!(fast, 121, "randomize {randomize}");
    }
    let (_, _, e) = run(&steps, false, false, true, None);
    assert_eq!(e.counters().tcp_stale_passed, 1);
    assert_eq!(e.table().len(), 1);
}

/// The interface a fast-path frame arrived on is still checked.
#[test]
fn a_segment_on_the_wrong_interface_is_dropped_as_before() {
    let (c, s) = v4_pair(40_000, 80);
    let m = TcpModel::new(c, s, [1, 2], [64_240, 65_160], [None, None]);
    for fast in [false, true] {
        let mut e = engine(false, false, fast, None);
        let now = Instant::from_secs(10);
        let mut model = m.clone();
        for seg in model.handshake() {
            let mut f = model.frame(&seg);
            let v = e.process(&mut f, PacketMeta::default(), model.iface(seg.from), now);
            assert!(matches!(v, Verdict::Forward { .. }));
        }
        let d = model.data(Side::Client, 10);
        let mut f = model.frame(&d);
        let v = e.process(&mut f, PacketMeta::default(), IfaceId(1), now);
        assert_eq!(
            v,
            Verdict::Drop(rampart_dataplane::DropReason::InterfaceMismatch)
        );
        assert_eq!(e.fast_path_frames(), 0);
    }
}

/// With a tcp-map, established segments still take the fast path, those
/// a map drops leave it for the general path, and the result is exactly
/// the general path's.
#[test]
fn a_class_with_a_map_takes_the_fast_path_alike() {
    let map: Vec<String> = [
        " tcp-options range 19 19 allow",
        " tcp-options range 30 30 drop",
        " tcp-options timestamp clear",
        " reserved-bits clear",
        " urgent-flag allow",
    ]
    .map(String::from)
    .to_vec();
    let mut steps = Vec::new();
    for f in 0..4 {
        steps.extend([
            (f, Step::Syn, 2),
            (f, Step::SynAck, 2),
            (f, Step::Ack(Side::Client), 2),
        ]);
    }
    for f in 0..4 {
        steps.extend([
            (f, Step::Option(Side::Client, 19), 2),
            (f, Step::Option(Side::Server, 8), 2),
            (f, Step::Reserved(Side::Server, 3), 2),
            (f, Step::Urgent(Side::Client, 1), 2),
            (f, Step::Data(Side::Server, 100), 2),
            // Last: the model takes it as received, the firewall drops it.
            (f, Step::Option(Side::Client, 30), 2),
        ]);
    }
    for randomize in [false, true] {
        let fast = check(&steps, false, randomize, Some(&map)).expect("equal");
        // All but the kind-30 segments (dropped by the general path).
        assert_eq!(fast, 20, "randomize {randomize}");
    }
    let (out, _, e) = run(&steps, false, false, true, Some(&map));
    assert_eq!(
        out.iter()
            .filter(|(v, _)| matches!(v, Verdict::Drop(_)))
            .count(),
        4
    );
    assert_eq!(
        e.counters()
            .dropped(rampart_dataplane::DropReason::TcpOptionDrop),
        4
    );
}
