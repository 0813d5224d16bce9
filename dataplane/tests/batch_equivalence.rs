//! `Engine::process_batch` against `Engine::process`: the batch only starts
//! memory loads early, so on any input the two must agree exactly — every
//! verdict, every rewritten frame, every counter, the table and the
//! effects (held frames released, sync events) — whatever the batch sizes.

use std::time::Duration;

use proptest::prelude::*;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::sync::SyncConfig;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Side, TcpModel, udp_frame, v4_pair};
use rampart_dataplane::{BatchFrame, Engine, EngineConfig, IfaceId, Instant, Verdict};

#[derive(Debug, Clone)]
enum Step {
    Syn,
    SynAck,
    Ack(Side),
    Data(Side, u32),
    Fin(Side),
    Rst(Side),
    /// A data segment whose sequence number is moved by this much.
    Shifted(Side, u32),
    /// A datagram of the flow's hosts, from one side.
    Udp(Side),
    /// Arbitrary bytes on an interface.
    Garbage(u8, Vec<u8>),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn step() -> impl Strategy<Value = (usize, Step)> {
    let s = prop_oneof![
        3 => Just(Step::Syn),
        3 => Just(Step::SynAck),
        5 => side().prop_map(Step::Ack),
        8 => (side(), 1u32..=1400).prop_map(|(s, n)| Step::Data(s, n)),
        1 => side().prop_map(Step::Fin),
        1 => side().prop_map(Step::Rst),
        1 => (side(), any::<u32>()).prop_map(|(s, d)| Step::Shifted(s, d)),
        2 => side().prop_map(Step::Udp),
        1 => (0u8..3, proptest::collection::vec(any::<u8>(), 0..80))
            .prop_map(|(i, b)| Step::Garbage(i, b)),
    ];
    (0usize..6, s)
}

fn engine(syncing: bool) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(3), [9, 8, 7, 6]);
    if syncing {
        // A node whose peer is up: packets of flows it does not hold wait
        // for state (held), and every change becomes a sync event.
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
    e
}

/// One frame as received: bytes, interface, and the run (batch) it is in.
struct Input {
    frame: Vec<u8>,
    iface: IfaceId,
    run: usize,
}

/// A frame's verdict and its bytes after the engine.
type Output = (Verdict, Vec<u8>);

/// Runs of consecutive frames on one interface, at most `batch` long, each
/// at its own time.
fn run_time(run: usize) -> Instant {
    Instant::from_secs(1_700_000_000) + Duration::from_micros(300 * run as u64)
}

/// Drive the per-packet engine through `steps`, recording each input
/// frame (the model follows the engine's sequence shift) and the outputs.
fn per_packet(
    steps: &[(usize, Step)],
    batch: usize,
    syncing: bool,
) -> (Vec<Input>, Vec<Output>, Engine) {
    let mut e = engine(syncing);
    let mut models: Vec<TcpModel> = (0..6u16)
        .map(|i| {
            let (c, s) = v4_pair(40_000 + i, 80 + i % 2);
            TcpModel::new(
                c,
                s,
                [u32::from(i) * 7_919, u32::from(i) * 104_729],
                [64_240, 65_160],
                [Some(7), None],
            )
        })
        .collect();
    let mut inputs: Vec<Input> = Vec::new();
    let mut outputs = Vec::new();
    let (mut run, mut in_run, mut run_iface) = (0usize, 0usize, None);
    for (flow, step) in steps {
        let m = &mut models[*flow];
        let (frame, iface) = match step {
            Step::Syn => {
                let s = m.syn();
                (m.frame(&s), m.iface(Side::Client))
            }
            Step::SynAck => {
                let s = m.syn_ack();
                (m.frame(&s), m.iface(Side::Server))
            }
            Step::Ack(side) => {
                let s = m.ack(*side);
                (m.frame(&s), m.iface(*side))
            }
            Step::Data(side, n) => {
                let n = (*n).min(m.sendable(*side)).max(1);
                let s = m.data(*side, n);
                (m.frame(&s), m.iface(*side))
            }
            Step::Fin(side) => {
                let s = m.fin(*side);
                (m.frame(&s), m.iface(*side))
            }
            Step::Rst(side) => {
                let s = m.rst(*side);
                (m.frame(&s), m.iface(*side))
            }
            Step::Shifted(side, d) => {
                let mut s = m.data(*side, 10);
                s.seq = s.seq.wrapping_add(*d);
                (m.frame(&s), m.iface(*side))
            }
            Step::Udp(side) => {
                let t = m.tuple();
                let (c, s) = v4_pair(t.src.port, t.dst.port);
                match side {
                    Side::Client => (udp_frame(&c, &s, b"query"), c.iface),
                    Side::Server => (udp_frame(&s, &c, b"answer"), s.iface),
                }
            }
            Step::Garbage(i, bytes) => (bytes.clone(), IfaceId(*i)),
        };
        if run_iface != Some(iface) || in_run == batch {
            if run_iface.is_some() {
                run += 1;
            }
            run_iface = Some(iface);
            in_run = 0;
        }
        in_run += 1;
        inputs.push(Input {
            frame: frame.clone(),
            iface,
            run,
        });
        let mut f = frame;
        let v = e.process(&mut f, PacketMeta::default(), iface, run_time(run));
        // The server sees the client's numbers as the engine shifted them.
        if matches!(step, Step::Syn)
            && let Some(entry) = e.find(&m.tuple(), run_time(run))
        {
            m.set_shift(entry.seq_offset);
        }
        outputs.push((v, f));
    }
    (inputs, outputs, e)
}

/// The same inputs through `process_batch`, one call per run.
fn batched(inputs: &[Input], syncing: bool) -> (Vec<Output>, Engine) {
    let mut e = engine(syncing);
    let mut frames: Vec<Vec<u8>> = inputs.iter().map(|i| i.frame.clone()).collect();
    let mut verdicts = vec![Verdict::Hold; inputs.len()];
    let mut start = 0;
    while start < inputs.len() {
        let run = inputs[start].run;
        let end = start + inputs[start..].iter().take_while(|i| i.run == run).count();
        let mut batch: Vec<BatchFrame<'_>> = frames[start..end]
            .iter_mut()
            .map(|f| BatchFrame::new(f.as_mut_slice(), PacketMeta::default()))
            .collect();
        e.process_batch(
            &mut batch,
            inputs[start].iface,
            run_time(run),
            &mut verdicts[start..end],
        );
        start = end;
    }
    (verdicts.into_iter().zip(frames).collect(), e)
}

fn check(steps: &[(usize, Step)], batch: usize, syncing: bool) -> Result<(), TestCaseError> {
    let (inputs, want, mut a) = per_packet(steps, batch, syncing);
    let (got, mut b) = batched(&inputs, syncing);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        prop_assert_eq!(w, g, "frame {} of {}", i, want.len());
    }
    prop_assert_eq!(a.counters(), b.counters());
    let entries = |e: &Engine| {
        let mut v: Vec<_> = e.table().iter().map(|(_, e)| *e).collect();
        v.sort_by_key(|e| e.id);
        v
    };
    prop_assert_eq!(entries(&a), entries(&b));
    let end = run_time(inputs.last().map_or(0, |i| i.run) + 1);
    let effects = |e: &mut Engine| std::iter::from_fn(|| e.poll_effect(end)).collect::<Vec<_>>();
    prop_assert_eq!(effects(&mut a), effects(&mut b));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_batch_decides_exactly_as_frame_by_frame(
        steps in proptest::collection::vec(step(), 1..160),
        batch in 1usize..40,
        syncing in any::<bool>(),
    ) {
        check(&steps, batch, syncing)?;
    }
}

/// A fixed conversation that surely passes, batched across the engine's
/// prefetch chunk: the equivalence above is not vacuous (most frames are
/// forwarded, not all dropped alike).
#[test]
fn a_clean_conversation_passes_batched() {
    let mut steps = Vec::new();
    for f in 0..6 {
        steps.extend([
            (f, Step::Syn),
            (f, Step::SynAck),
            (f, Step::Ack(Side::Client)),
        ]);
    }
    for round in 0..10 {
        for f in 0..6 {
            let side = if round % 2 == 0 {
                Side::Client
            } else {
                Side::Server
            };
            steps.push((f, Step::Data(side, 100)));
        }
    }
    let (inputs, want, _) = per_packet(&steps, 37, false);
    let forwarded = want
        .iter()
        .filter(|(v, _)| matches!(v, Verdict::Forward { .. }))
        .count();
    assert_eq!(forwarded, steps.len(), "every frame passes");
    let (got, b) = batched(&inputs, false);
    assert_eq!(want, got);
    assert_eq!(b.table().len(), 6);
    check(&steps, 37, false).expect("equal");
    check(&steps, 5, true).expect("equal when syncing");
}
