//! Dataplane throughput during a burst of policy swaps, against the same
//! workload without swaps, in the same run.
//! Run: `cargo bench -p rampart-dataplane --bench policy_swap`.
//!
//! The workload (one batch, replayed on a fresh engine every iteration):
//! 10,000 established TCP connections (handshakes through the engine
//! before timing) each sending 10 rounds of one 64-byte data segment and
//! the server's pure ACK of it, in a fixed-seed shuffled order per round,
//! with 4,096 new connections (SYN, SYN-ACK, ACK) spread through it — one
//! handshake packet every 16 packets, so new connections look the policy
//! up while the swaps happen. 212,288 packets in all.
//!
//! Bench ids (`policy_swap/…`, throughput in packets):
//! - `no_swaps`: the batch as it is.
//! - `100_swaps`: the same batch with `Engine::set_policy` called 100
//!   times, evenly spaced (every 2,122 packets), alternating two compiled
//!   policies, as a worker does between two packet batches when the node
//!   applies a committed policy. The policies differ in an inside
//!   access-list entry (which of ports 5009 and 5010 is denied) and the
//!   class idle timeout; both permit the workload, so nothing is dropped.
//! - `100_swaps_compiled_inline`: the same with each policy parsed and
//!   compiled from its text at the swap, on the packet thread. The node
//!   compiles on its admin thread, off the workers: this is an upper bound.
//! - `set_policy` and `compile`: one swap and one parse + compile alone.
//!
//! After criterion, an interleaved pass runs the three batch cases in turn,
//! [`ROUNDS_INTERLEAVED`] rounds, and prints for each the median of its
//! throughput ÷ `no_swaps`'s in the same round (`[ratio] …` on stderr):
//! the figure to quote, since the cases of a round see the same machine
//! noise. Every run asserts that nothing was
//! dropped, every new connection was created and every swap was counted.
//!
//! Time: the clock starts at 10 s and advances 1 µs per packet, far below
//! every timeout, so no flow expires while measured.

// A benchmark measures wall time by definition; the sans-IO rule is for the engine.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{Rng, hosts};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant as WallClock};

use criterion::{Criterion, Throughput};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::policy::compile::{Policy, compile};
use rampart_dataplane::policy::parse::parse_config;
use rampart_dataplane::trace::{Side, TcpModel};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};

const META: PacketMeta = PacketMeta {
    checksum: ChecksumState::Verified,
    gso_size: 0,
    asked: rampart_dataplane::packet::OffloadRequest::NONE,
};

/// Established connections.
const FLOWS: u32 = 10_000;
/// Rounds of (data, ACK) per established connection.
const ROUNDS: usize = 10;
/// New connections opened during the batch.
const NEW_CONNS: u32 = 4_096;
/// One new-connection packet every this many packets.
const NEW_EVERY: usize = 16;
/// Swaps in the burst.
const SWAPS: usize = 100;
/// Payload of each data segment.
const DATA_BYTES: u32 = 64;
/// Simulated time per packet.
const TICK_NS: u64 = 1_000;
/// Seed of the per-round shuffles.
const SHUFFLE_SEED: u64 = 0x9e37_79b9_7f4a_7c15;
/// Rounds of the interleaved pass (each runs every case once).
const ROUNDS_INTERLEAVED: usize = 21;

/// The two policies, as an operator would write them: `DENIED` is the
/// port an inside access-list denies to new connections, `IDLE` the class
/// idle timeout. Sequence randomization is off so that prepared frames
/// need no per-connection shift.
const POLICY: &str = "\
access-list IN extended deny tcp any any eq DENIED
access-list IN extended permit ip any any
access-group IN in interface inside
access-list WEB extended permit tcp any any eq 443
class-map WEB
 match access-list WEB
policy-map global_policy
 class WEB
  set connection timeout idle IDLE
  set connection random-sequence-number disable
service-policy global_policy global
";

fn policy_text(which: usize) -> String {
    let (denied, idle) = if which.is_multiple_of(2) {
        ("5010", "1:00:00")
    } else {
        ("5009", "0:30:00")
    };
    POLICY.replace("DENIED", denied).replace("IDLE", idle)
}

fn compile_text(engine: &Engine, text: &str) -> Policy {
    let parsed = parse_config(text).expect("the bench policy parses");
    compile(&parsed.config, &engine.config().interfaces).expect("the bench policy compiles")
}

/// The two compiled policies, and the prepared batch.
struct Workload {
    policies: [Arc<Policy>; 2],
    texts: [String; 2],
    /// Handshake frames of the established connections (before timing).
    setup: Vec<(Vec<u8>, IfaceId)>,
    /// The measured batch.
    batch: Vec<(Vec<u8>, IfaceId)>,
}

fn engine(w: &Workload) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = (FLOWS + NEW_CONNS) as usize + 16;
    let mut e = Engine::new(cfg).expect("config");
    e.set_policy(w.policies[0].clone())
        .expect("the policy's classes fit");
    e
}

fn workload() -> Workload {
    let probe = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).expect("config");
    let texts = [policy_text(0), policy_text(1)];
    let policies = [
        Arc::new(compile_text(&probe, &texts[0])),
        Arc::new(compile_text(&probe, &texts[1])),
    ];
    let mut setup = Vec::with_capacity(FLOWS as usize * 3);
    let mut models = Vec::with_capacity(FLOWS as usize);
    for i in 0..FLOWS {
        let (c, s) = hosts(i);
        let mut m = TcpModel::new(
            c,
            s,
            [i.wrapping_mul(7919), i.wrapping_mul(104_729)],
            [64_240, 65_160],
            [Some(7), Some(7)],
        );
        for seg in m.handshake() {
            setup.push((m.frame(&seg), m.iface(seg.from)));
        }
        models.push(m);
    }
    let mut established = Vec::with_capacity(FLOWS as usize * ROUNDS * 2);
    let mut order: Vec<u32> = (0..FLOWS).collect();
    let mut rng = Rng(SHUFFLE_SEED);
    for _ in 0..ROUNDS {
        rng.shuffle(&mut order);
        for &i in &order {
            let m = &mut models[i as usize];
            let d = m.data(Side::Client, DATA_BYTES);
            established.push((m.frame(&d), IfaceId(0)));
            let a = m.ack(Side::Server);
            established.push((m.frame(&a), IfaceId(1)));
        }
    }
    // New connections: their handshake packets in order, one every
    // NEW_EVERY packets of the batch.
    let mut fresh = Vec::with_capacity(NEW_CONNS as usize * 3);
    for i in 0..NEW_CONNS {
        let (c, s) = hosts(FLOWS + i);
        let mut m = TcpModel::new(c, s, [i, !i], [64_240, 65_160], [Some(7), Some(7)]);
        for seg in m.handshake() {
            fresh.push((m.frame(&seg), m.iface(seg.from)));
        }
    }
    let mut batch = Vec::with_capacity(established.len() + fresh.len());
    let mut fresh = fresh.into_iter();
    for (k, f) in established.into_iter().enumerate() {
        if k % (NEW_EVERY - 1) == 0
            && let Some(n) = fresh.next()
        {
            batch.push(n);
        }
        batch.push(f);
    }
    batch.extend(fresh);
    Workload {
        policies,
        texts,
        setup,
        batch,
    }
}

/// How a run swaps policies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Swaps {
    None,
    Compiled,
    CompiledInline,
}

/// One run on a fresh engine: the wall time of the batch alone.
fn run(w: &Workload, swaps: Swaps) -> Duration {
    let mut e = engine(w);
    let mut now = Instant::from_secs(10).as_nanos();
    for (frame, iface) in &w.setup {
        let mut f = frame.clone();
        assert!(matches!(
            e.process(&mut f, META, *iface, Instant::from_nanos(now)),
            Verdict::Forward { .. }
        ));
    }
    // Copies made before timing: the engine rewrites frames in place.
    let mut frames: Vec<(Vec<u8>, IfaceId)> = w.batch.clone();
    let every = frames.len() / SWAPS;
    let swaps_before = e.counters().policy_swaps;
    let mut next = 1usize;
    let t0 = WallClock::now();
    for (k, (frame, iface)) in frames.iter_mut().enumerate() {
        if swaps != Swaps::None && k % every == every - 1 && next <= SWAPS {
            let p = match swaps {
                Swaps::CompiledInline => Arc::new(compile_text(&e, &w.texts[next % 2])),
                _ => w.policies[next % 2].clone(),
            };
            e.set_policy(p).expect("the policy's classes fit");
            next += 1;
        }
        now += TICK_NS;
        black_box(e.process(frame, META, *iface, Instant::from_nanos(now)));
    }
    let took = t0.elapsed();
    let c = e.counters();
    assert_eq!(c.total_dropped(), 0, "the batch passes cleanly");
    assert_eq!(
        e.table().len(),
        (FLOWS + NEW_CONNS) as usize,
        "every new connection was created, no flow expired"
    );
    let want = if swaps == Swaps::None {
        0
    } else {
        SWAPS as u64
    };
    assert_eq!(c.policy_swaps - swaps_before, want, "every swap counted");
    took
}

fn bench(c: &mut Criterion, w: &Workload) {
    let mut g = c.benchmark_group("policy_swap");
    g.throughput(Throughput::Elements(w.batch.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    for (id, swaps) in [
        ("no_swaps", Swaps::None),
        ("100_swaps", Swaps::Compiled),
        ("100_swaps_compiled_inline", Swaps::CompiledInline),
    ] {
        g.bench_function(id, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(w, swaps)).sum())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("policy_swap");
    g.throughput(Throughput::Elements(1));
    let mut e = engine(w);
    let mut which = 0usize;
    g.bench_function("set_policy", |b| {
        b.iter(|| {
            which += 1;
            e.set_policy(w.policies[which % 2].clone())
                .expect("the policy's classes fit");
        })
    });
    g.bench_function("compile", |b| {
        b.iter(|| black_box(compile_text(&e, &w.texts[1])))
    });
    g.finish();
}

/// The interleaved pass: each round runs the three cases in turn; the
/// medians of (with swaps ÷ without) throughput, round by round.
fn interleaved(w: &Workload, rounds: usize) {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let cases = [Swaps::None, Swaps::Compiled, Swaps::CompiledInline];
    let mut secs: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    for _ in 0..rounds {
        let t: Vec<f64> = cases.iter().map(|&c| run(w, c).as_secs_f64()).collect();
        for (i, x) in t.iter().enumerate() {
            secs[i].push(*x);
            ratios[i].push(t[0] / x);
        }
    }
    let n = w.batch.len() as f64;
    for (i, name) in ["no_swaps", "100_swaps", "100_swaps_compiled_inline"]
        .iter()
        .enumerate()
    {
        let r = &ratios[i];
        let (lo, hi) = (
            r.iter().copied().fold(f64::INFINITY, f64::min),
            r.iter().copied().fold(0.0, f64::max),
        );
        eprintln!(
            "[ratio] {name}: {:.1} ns/packet (median of {rounds}); throughput \u{f7} no_swaps \
             in the same round: median {:.4} (min {lo:.4}, max {hi:.4})",
            median(&mut secs[i]) * 1e9 / n,
            median(&mut ratios[i].clone()),
        );
    }
}

fn main() {
    let w = workload();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &w);
    c.final_summary();
    // `cargo test --benches` and `cargo bench -- --test` check that the
    // benches run: one pair is enough there.
    let testing = std::env::args().any(|a| a == "--test" || a == "--list");
    interleaved(&w, if testing { 1 } else { ROUNDS_INTERLEAVED });
}
