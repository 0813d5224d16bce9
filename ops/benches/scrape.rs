//! The pause a metrics scrape costs a worker: `WorkerSnapshot::take`, the
//! job a scrape runs on each worker between two batches, on an engine
//! holding 1,000 and 1,000,000 entries. It reads counters the engine keeps
//! as entries come, change and go, never the table, so the two cases
//! should cost the same; their ratio is printed, with the p99 and longest
//! of 10,000 scrapes (issue 16's bound on the pause: 20 µs).
//! Run: `cargo bench -p rampart-ops --bench scrape`.

// A benchmark measures wall time by definition.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant as WallClock};

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::trace::fill_udp_flows;
use rampart_dataplane::{Engine, EngineConfig, Instant};
use rampart_ops::pool::WorkerView;
use rampart_ops::snapshot::WorkerSnapshot;

/// An engine with `n` unreplied UDP flows.
fn engine_with(n: u32) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = n as usize + 16;
    let mut engine = Engine::new(cfg).expect("engine");
    fill_udp_flows(&mut engine, n, Instant::from_secs(100));
    assert_eq!(engine.table().len(), n as usize);
    engine
}

fn take(engine: &mut Engine) -> WorkerSnapshot {
    WorkerSnapshot::take(&WorkerView {
        engine,
        io: None,
        now: Instant::from_secs(100),
        worker: 0,
    })
}

fn scrape(c: &mut Criterion) {
    let mut means = Vec::new();
    for (n, name) in [(1_000u32, "1k_entries"), (1_000_000, "1m_entries")] {
        let mut engine = engine_with(n);
        let walks = engine.table().walks();
        let mut g = c.benchmark_group("scrape");
        g.measurement_time(Duration::from_secs(3));
        g.warm_up_time(Duration::from_secs(1));
        g.bench_function(name, |b| b.iter(|| black_box(take(&mut engine))));
        g.finish();
        assert_eq!(engine.table().walks(), walks, "a scrape walked the table");
        // The mean, p99 and longest single pause over 10,000 scrapes (the
        // longest includes whatever preempted this thread on a shared
        // machine; the p99 is the scrape's own).
        let mut pauses: Vec<Duration> = (0..10_000)
            .map(|_| {
                let t = WallClock::now();
                black_box(take(&mut engine));
                t.elapsed()
            })
            .collect();
        pauses.sort();
        let mean = pauses.iter().sum::<Duration>() / 10_000;
        eprintln!(
            "[scrape] {name}: mean {mean:?}, p99 {:?}, longest {:?} of 10,000",
            pauses[9_899], pauses[9_999]
        );
        means.push(mean);
    }
    eprintln!(
        "[scrape] 1M ÷ 1k entries: {:.2}",
        means[1].as_secs_f64() / means[0].as_secs_f64()
    );
}

criterion_group!(benches, scrape);
criterion_main!(benches);
