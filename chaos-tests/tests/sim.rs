//! The seeded cluster simulator at CI size: every seed from 0 up to
//! `SIM_SEEDS` (2,000 unless set), spread over the machine's cores. A
//! failing seed prints itself, its faults and the end of its trace, and
//! replays exactly with
//! `cargo run --release -p rampart-chaos-tests --bin sim -- --seed N --trace`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rampart_chaos_tests::sim::{SimConfig, run};

#[test]
fn two_thousand_seeds_keep_every_invariant() {
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let cfg = SimConfig::default();
    let next = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let totals = Mutex::new((0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, (0u64, 0u64)));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds {
                        return;
                    }
                    let out = run(seed, &cfg);
                    {
                        let mut t = totals.lock().unwrap();
                        t.0 += out.stats.flows as u64;
                        t.1 += out.stats.packets;
                        t.2 += out.stats.faults.len() as u64;
                        t.3 += out.stats.flows_at_risk as u64;
                        t.4 += out.stats.excused_drops;
                        t.5 += out.stats.stalls;
                        t.6 += out.stats.flows_reused as u64;
                        t.7 += out.stats.flows_stale_tuple as u64;
                        t.8.0 += out.stats.policy_writes;
                        t.8.1 += out.stats.policy_writes_failed;
                    }
                    if !out.passed() {
                        failures.lock().unwrap().push((seed, out));
                    }
                }
            });
        }
    });
    let (flows, packets, faults, at_risk, excused, stalls, reused, stale, (writes, refused)) =
        *totals.lock().unwrap();
    eprintln!(
        "{seeds} seeds: {flows} flows ({reused} on a reused tuple, {stale} of them while a fault \
         kept a node with the old entry from the news), {packets} packets, {faults} faults, \
         {at_risk} flows at risk after a crash, {excused} drops excused by faults, \
         {stalls} stopped nodes resynced, {writes} policy writes ({refused} refused without a \
         majority)"
    );
    // The faults must bite, or the seeds prove nothing.
    assert!(faults >= seeds, "about two faults per seed were drawn");
    assert!(
        stalls > 0 && excused > 0 && at_risk > 0,
        "freezes, drops under faults and crashes with unreplicated state all happened"
    );
    assert!(
        writes > refused && refused > 0,
        "policy writes committed, and some were refused"
    );
    assert!(
        reused > 10 * stale.max(1),
        "tuples were reused, nearly all of them with no excuse"
    );
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|(seed, _)| *seed);
    if let Some((seed, out)) = failures.first() {
        let shown: Vec<u64> = failures.iter().take(20).map(|(s, _)| *s).collect();
        panic!(
            "{} of {seeds} seeds broke an invariant (first: {shown:?}).\n\
             seed {seed}: {}\nfaults: {:?}\ntrace (end):\n{}\n\
             replay: cargo run --release -p rampart-chaos-tests --bin sim -- --seed {seed} --trace",
            failures.len(),
            out.violations.join("\n  "),
            out.stats.faults,
            out.trace[out.trace.len().saturating_sub(60)..].join("\n"),
        );
    }
}

#[test]
fn a_seed_replays_exactly() {
    let cfg = SimConfig::default();
    for seed in [7, 1234] {
        let (a, b) = (run(seed, &cfg), run(seed, &cfg));
        assert_eq!(a.trace, b.trace, "seed {seed} replays line for line");
        assert_eq!(a.stats.packets, b.stats.packets);
        assert!(a.stats.packets > 0, "the run carried traffic");
    }
}
