//! `Engine::process` in memory, on real frames from the model endpoint pair.
//!
//! - `established_tcp/{10k,1m}_flows`: in-order data segments (64-byte
//!   payload) and the peer's ACKs of connections already established,
//!   flows visited in a fixed-seed shuffled order so lookups miss the CPU
//!   caches as real traffic does. Each round of the batch is fresh data
//!   (every packet moves the window); the batch holds several rounds.
//!   `_randomized` is the same with the ASA default sequence randomization
//!   on (every packet rewritten, checksum updated incrementally).
//! - `new_connections/syn_synack_ack`: SYN, SYN-ACK and ACK of a fresh
//!   connection; throughput in connections.
//! - Baselines measured in the same run, so results read as ratios:
//!   `baseline/parse_only` (the frame parser alone on the same frames) and
//!   `baseline/std_hashmap_lookup` (one std HashMap lookup per packet in a
//!   map of the same size).
//!
//! Each packet is copied from the prepared batch into a receive buffer
//! first, as it would come off an RX ring; the copy is in every case,
//! baselines included. Checksums are marked verified by the NIC
//! (`ChecksumState::Verified`), the common case with receive offload.

// A benchmark measures wall time by definition; the sans-IO rule is for the engine.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant as WallClock};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::{ChecksumState, PacketMeta, parse};
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::{Host, Side, TcpModel};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};

const META: PacketMeta = PacketMeta {
    checksum: ChecksumState::Verified,
};

/// A tiny fixed-seed PRNG (xorshift64*) for the shuffle.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn hosts(i: u32) -> (Host, Host) {
    let client = Host {
        mac: [2, 0, 0, 0, 0, 1],
        ip: std::net::Ipv4Addr::new(198, 18, (i >> 16) as u8, (i >> 8) as u8).into(),
        port: 1024 + (i & 0xff) as u16 * 200,
        iface: IfaceId(0),
    };
    let server = Host {
        mac: [2, 0, 0, 0, 0, 2],
        ip: std::net::Ipv4Addr::new(198, 19, (i >> 8) as u8, i as u8).into(),
        port: 443,
        iface: IfaceId(1),
    };
    (client, server)
}

/// An engine with `n` established connections and a shuffled batch of
/// `ROUNDS` rounds of (client data, server ACK) per flow.
fn established(n: u32, randomize: bool) -> (Engine, Vec<(Vec<u8>, IfaceId)>, Instant) {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = n as usize + 16;
    let mut engine = Engine::new(cfg).expect("config");
    if !randomize {
        let off = compile(&randomization_off(), &engine.config().interfaces).expect("compiles");
        engine.set_policy(Arc::new(off));
    }
    let now = Instant::from_secs(10);
    let mut models = Vec::with_capacity(n as usize);
    let mut buf = Vec::new();
    for i in 0..n {
        let (c, s) = hosts(i);
        let mut m = TcpModel::new(
            c,
            s,
            [i.wrapping_mul(7919), i.wrapping_mul(104_729)],
            [64_240, 65_160],
            [Some(7), Some(7)],
        );
        let syn = m.syn();
        buf = m.frame(&syn);
        assert!(matches!(
            engine.process(&mut buf, META, c.iface, now),
            Verdict::Forward { .. }
        ));
        if let Some(e) = engine.find(&m.tuple(), now) {
            m.set_shift(e.seq_offset);
        }
        for seg in [m.syn_ack(), m.ack(Side::Client)] {
            buf = m.frame(&seg);
            assert!(matches!(
                engine.process(&mut buf, META, m.iface(seg.from), now),
                Verdict::Forward { .. }
            ));
        }
        models.push(m);
    }
    drop(buf);
    let mut order: Vec<u32> = (0..n).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Several rounds of fresh data per flow for 10k flows; one for a
    // million (the batch is already 2M frames).
    let rounds = if n > 100_000 { 1 } else { 4 };
    let mut batch = Vec::with_capacity(n as usize * rounds * 2);
    for _ in 0..rounds {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            let m = &mut models[i as usize];
            let d = m.data(Side::Client, 64);
            batch.push((m.frame(&d), IfaceId(0)));
            let a = m.ack(Side::Server);
            batch.push((m.frame(&a), IfaceId(1)));
        }
    }
    (engine, batch, now)
}

fn memory_report(engine: &Engine, n: u32) {
    let t = engine.table();
    eprintln!(
        "[memory] {n} flows: {} bytes in the table = {} bytes/flow (entry {} bytes)",
        t.memory_bytes(),
        t.memory_bytes() / t.len().max(1),
        std::mem::size_of::<Option<rampart_dataplane::conntrack::Entry>>()
    );
}

fn established_tcp(c: &mut Criterion) {
    let mut g = c.benchmark_group("established_tcp");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    for (n, name) in [(10_000u32, "10k_flows"), (1_000_000, "1m_flows")] {
        for randomize in [false, true] {
            let t0 = WallClock::now();
            let (mut engine, batch, now) = established(n, randomize);
            eprintln!("[setup] {name} randomize={randomize}: {:?}", t0.elapsed());
            if !randomize {
                memory_report(&engine, n);
            }
            let id = if randomize {
                format!("{name}_randomized")
            } else {
                name.to_string()
            };
            let mut rx = vec![0u8; 2048];
            let mut next = 0usize;
            g.bench_function(BenchmarkId::new("process", id), |b| {
                b.iter(|| {
                    let (frame, iface) = &batch[next];
                    next = (next + 1) % batch.len();
                    let len = frame.len();
                    rx[..len].copy_from_slice(frame);
                    black_box(engine.process(&mut rx[..len], META, *iface, now))
                })
            });
            assert_eq!(
                engine.counters().total_dropped(),
                0,
                "the batch must pass cleanly"
            );
        }
    }
    g.finish();

    // Baselines over the same kind of frames.
    let (_, batch, _) = established(10_000, false);
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    let mut rx = vec![0u8; 2048];
    let mut next = 0usize;
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            let (frame, _) = &batch[next];
            next = (next + 1) % batch.len();
            let len = frame.len();
            rx[..len].copy_from_slice(frame);
            black_box(parse(&rx[..len], META).is_ok())
        })
    });
    for n in [10_000u64, 1_000_000] {
        let map: HashMap<u64, u64> = (0..n)
            .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i))
            .collect();
        let mut rng = Rng(7);
        g.bench_function(format!("std_hashmap_lookup_{n}"), |b| {
            b.iter(|| {
                let k = (rng.next() % n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                black_box(map.get(&k).copied())
            })
        });
    }
    g.finish();
}

fn new_connections(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_connections");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    let now = Instant::from_secs(10);
    g.bench_function("syn_synack_ack", |b| {
        b.iter_custom(|iters| {
            let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
            cfg.max_conns = iters as usize + 16;
            let mut engine = Engine::new(cfg).expect("config");
            // The model pair talks directly (no randomization shift).
            let off = compile(&randomization_off(), &engine.config().interfaces).expect("compiles");
            engine.set_policy(Arc::new(off));
            // Frames prepared outside the timed part.
            let mut conns: Vec<[(Vec<u8>, IfaceId); 3]> = Vec::with_capacity(iters as usize);
            for i in 0..iters as u32 {
                let (c, s) = hosts(i);
                let mut m = TcpModel::new(c, s, [i, !i], [64_240, 65_160], [Some(7), Some(7)]);
                let [syn, sa, ack] = m.handshake();
                conns.push([
                    (m.frame(&syn), c.iface),
                    (m.frame(&sa), s.iface),
                    (m.frame(&ack), c.iface),
                ]);
            }
            let t0 = WallClock::now();
            for conn in &mut conns {
                for (frame, iface) in conn.iter_mut() {
                    black_box(engine.process(frame, META, *iface, now));
                }
            }
            let elapsed = t0.elapsed();
            assert_eq!(engine.counters().total_dropped(), 0);
            assert_eq!(engine.table().len(), iters as usize);
            elapsed
        })
    });
    g.finish();
}

criterion_group!(benches, established_tcp, new_connections);
criterion_main!(benches);
