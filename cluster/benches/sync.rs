//! The sync pipeline in memory: the owner's engine produces events, its
//! protocol batches and encodes them, the peer's protocol decodes them and
//! its engine merges them. No network: this is the CPU cost per event that
//! bounds a link's events/s (the QUIC transport adds its own; see the
//! README's sync figures for the loopback run).
//! Run: `cargo bench -p rampart-cluster --bench sync`.
//!
//! Bench ids:
//! - `pipeline/update_10k_flows`: 10k established UDP flows whose
//!   last-seen moves every round (each event is a real update that joins),
//!   `poll_effect` → `push_events`/`flush` → `on_frame` → `apply_sync`.
//! - `pipeline/insert_10k_flows`: the same flows arriving at a fresh peer
//!   (creates entries).
//! - Baselines in the same run: `baseline/wire_only` (encode and decode
//!   of the same batches, no engines) and `baseline/hashmap_insert` (a
//!   `std` HashMap insert of each flow state by key).

// A benchmark measures wall time by definition.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_cluster::sync::wire::{self, Message};
use rampart_cluster::sync::{Output, Protocol, ProtocolConfig};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{SyncConfig, SyncOut};
use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::sync::SyncEvent;
use rampart_dataplane::trace::{Host, udp_frame};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant};

const FLOWS: usize = 10_000;
const T0: Instant = Instant::from_secs(1_700_000_000);

fn engine(id: u16) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(id), [1, 2, 3, u64::from(id)]);
    cfg.sync = Some(SyncConfig::default());
    let mut e = Engine::new(cfg).expect("valid config");
    e.set_peers_up(1);
    e.set_ready(true);
    e
}

fn host(ip: [u8; 4], port: u16, iface: u8) -> Host {
    Host {
        mac: [2, 0, 0, 0, 0, iface + 1],
        ip: std::net::IpAddr::from(ip),
        port,
        iface: IfaceId(iface),
    }
}

/// Engine A with `FLOWS` UDP flows; returns it with their insert events.
fn owner() -> (Engine, Vec<SyncOut>, Vec<Vec<u8>>) {
    let mut a = engine(1);
    let mut frames = Vec::new();
    for i in 0..FLOWS {
        let c = host(
            [198, 18, (i >> 8) as u8, i as u8],
            10_000 + (i % 50_000) as u16,
            0,
        );
        let s = host([198, 19, 0, 1], 53, 1);
        frames.push(udp_frame(&c, &s, b"query"));
    }
    let meta = PacketMeta {
        checksum: ChecksumState::Verified,
        ..PacketMeta::default()
    };
    for f in &frames {
        let mut f = f.clone();
        a.process(&mut f, meta, IfaceId(0), T0);
    }
    let out: Vec<SyncOut> = std::iter::from_fn(|| a.poll_effect(T0))
        .filter_map(Effect::into_sync)
        .collect();
    assert_eq!(out.len(), FLOWS);
    (a, out, frames)
}

/// Two protocols past their Hello exchange.
fn protocols() -> (Protocol, Protocol) {
    let mut p = Protocol::new(1, 11, &[1, 2], ProtocolConfig::default(), T0);
    let mut q = Protocol::new(2, 22, &[1, 2], ProtocolConfig::default(), T0);
    p.on_peer_up(2, 1, T0);
    q.on_peer_up(1, 1, T0);
    let hp = sends(&mut p);
    let hq = sends(&mut q);
    for f in hq {
        p.on_frame(2, 1, &f, T0).expect("hello");
    }
    for f in hp {
        q.on_frame(1, 1, &f, T0).expect("hello");
    }
    drain(&mut p);
    drain(&mut q);
    (p, q)
}

fn sends(p: &mut Protocol) -> Vec<bytes::Bytes> {
    let mut v = Vec::new();
    while let Some(o) = p.poll_output() {
        if let Output::Send { frame, .. } = o {
            v.push(frame);
        }
    }
    v
}

fn drain(p: &mut Protocol) {
    while p.poll_output().is_some() {}
}

/// Move `events` from protocol `p` into engine `b` through protocol `q`.
fn carry(p: &mut Protocol, q: &mut Protocol, b: &mut Engine, events: &[SyncOut], now: Instant) {
    p.push_events(events);
    p.flush(now);
    for f in sends(p) {
        q.on_frame(1, 1, &f, now).expect("valid batch");
        while let Some(o) = q.poll_output() {
            if let Output::Apply {
                from,
                passive,
                events,
                ..
            } = o
            {
                for e in &events {
                    let source = rampart_dataplane::engine::sync::Source {
                        from,
                        passive,
                        ..Default::default()
                    };
                    b.apply_peer(e, source, now).expect("valid");
                }
            }
        }
    }
    // The acks go back to A.
    for f in sends(q) {
        p.on_frame(2, 1, &f, now).expect("ack");
    }
    drain(p);
}

fn bench(c: &mut Criterion) {
    let (_a, inserts, _) = owner();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(FLOWS as u64));
    g.measurement_time(Duration::from_secs(5));

    g.bench_function("insert_10k_flows", |bch| {
        let (mut p, mut q) = protocols();
        bch.iter_batched_ref(
            || engine(2),
            |b| carry(&mut p, &mut q, b, &inserts, T0),
            criterion::BatchSize::LargeInput,
        );
    });

    g.bench_function("update_10k_flows", |bch| {
        let (mut p, mut q) = protocols();
        let mut b = engine(2);
        carry(&mut p, &mut q, &mut b, &inserts, T0);
        let mut round = 0u64;
        let mut updates = inserts.clone();
        bch.iter(|| {
            round += 1;
            for u in &mut updates {
                if let SyncEvent::Upsert(s) = &mut u.event {
                    s.last_seen_ns = T0.as_nanos() + round * 1_000;
                }
            }
            let now = Instant::from_nanos(T0.as_nanos() + round * 1_000);
            carry(&mut p, &mut q, &mut b, &updates, now);
        });
        assert!(b.sync_counters().expect("syncs").joined > 0);
        assert_eq!(b.table().len(), FLOWS);
    });
    g.finish();

    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Elements(FLOWS as u64));
    let events: Vec<SyncEvent> = inserts.iter().map(|o| o.event).collect();
    g.bench_function("wire_only", |bch| {
        bch.iter(|| {
            for (i, chunk) in events.chunks(1024).enumerate() {
                let f = wire::encode(&Message::Events {
                    seq: i as u64,
                    passive: false,
                    events: chunk.to_vec(),
                });
                black_box(wire::decode(&f).expect("valid"));
            }
        });
    });
    g.bench_function("hashmap_insert", |bch| {
        let mut m = HashMap::with_capacity(FLOWS);
        bch.iter(|| {
            for e in &events {
                if let SyncEvent::Upsert(s) = e {
                    m.insert(s.key, *s);
                }
            }
            black_box(m.len())
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
