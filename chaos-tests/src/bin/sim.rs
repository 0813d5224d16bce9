//! The seeded cluster simulator's campaign runner.
//!
//! `sim --seeds 1000000` runs a long campaign over all cores with a
//! progress line; `sim --seed N --trace` replays one seed exactly, printing
//! its whole trace. Exit status 1 when any seed broke an invariant.
// A progress line needs the wall clock.
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rampart_chaos_tests::sim::{SimConfig, replay, run};

#[derive(Parser, Debug)]
#[command(about = "Run the seeded cluster simulator")]
struct Args {
    /// Replay this one seed.
    #[arg(long)]
    seed: Option<u64>,
    /// With --seed: print the whole trace as it runs.
    #[arg(long)]
    trace: bool,
    /// Seeds to run in a campaign.
    #[arg(long, default_value_t = 10_000)]
    seeds: u64,
    /// First seed of the campaign.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Largest clock skew of a node, either way, in milliseconds.
    #[arg(long, default_value_t = 50)]
    max_skew_ms: u64,
    /// Run without faults (traffic only).
    #[arg(long)]
    no_faults: bool,
    /// Half the restarts: the survivor sees the new connection up before
    /// the old one down, as the transport reports a replaced connection.
    #[arg(long)]
    replaced_first: bool,
}

fn main() {
    let args = Args::parse();
    let cfg = SimConfig {
        max_skew: Duration::from_millis(args.max_skew_ms),
        faults: !args.no_faults,
        replaced_first: args.replaced_first,
        ..SimConfig::default()
    };
    if let Some(seed) = args.seed {
        let out = if args.trace {
            replay(seed, &cfg)
        } else {
            run(seed, &cfg)
        };
        println!("seed {seed}: {:?}", out.stats);
        if out.passed() {
            println!("passed");
            return;
        }
        if !args.trace {
            println!("{}", out.trace.join("\n"));
        }
        println!("FAILED:\n  {}", out.violations.join("\n  "));
        std::process::exit(1);
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let next = AtomicU64::new(args.from);
    let done = AtomicU64::new(0);
    let end = args.from.saturating_add(args.seeds);
    let failed = Mutex::new(Vec::new());
    let started = Instant::now();
    let running = AtomicU64::new(threads as u64);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                seeds_until_done(&args, &cfg, &next, end, &done, &failed);
                running.fetch_sub(1, Ordering::Relaxed);
            });
        }
        // Progress, about twice a second, on stderr.
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let n = done.load(Ordering::Relaxed);
            let f = failed.lock().unwrap().len();
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let rate = n as f64 / secs;
            let left = (args.seeds - n.min(args.seeds)) as f64 / rate.max(0.001);
            let width = 30;
            let filled = (n * width / args.seeds.max(1)) as usize;
            eprint!(
                "\r[{}{}] {n}/{} seeds, {f} failed, {rate:.0}/s, {left:.0} s left   ",
                "#".repeat(filled),
                " ".repeat(width as usize - filled),
                args.seeds
            );
            let _ = std::io::stderr().flush();
            if running.load(Ordering::Relaxed) == 0 {
                break;
            }
        }
    });
    eprintln!();
    let mut failed = failed.into_inner().unwrap();
    failed.sort();
    println!(
        "{} seeds from {} in {:.1} s: {} failed",
        done.load(Ordering::Relaxed),
        args.from,
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    for (seed, why) in failed.iter().take(50) {
        println!("  seed {seed}: {why}");
    }
    if !failed.is_empty() {
        println!(
            "replay one: cargo run --release -p rampart-chaos-tests --bin sim -- --seed N --trace"
        );
        std::process::exit(1);
    }
}

/// Run seeds from `next` until `end` (or the first failure with
/// `--fail-fast`).
fn seeds_until_done(
    args: &Args,
    cfg: &SimConfig,
    next: &AtomicU64,
    end: u64,
    done: &AtomicU64,
    failed: &Mutex<Vec<(u64, String)>>,
) {
    loop {
        if args.fail_fast && !failed.lock().unwrap().is_empty() {
            return;
        }
        let seed = next.fetch_add(1, Ordering::Relaxed);
        if seed >= end {
            return;
        }
        let out = run(seed, cfg);
        if !out.passed() {
            failed
                .lock()
                .unwrap()
                .push((seed, out.violations.join("; ")));
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}
