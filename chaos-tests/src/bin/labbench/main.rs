//! `labbench`: the lab benchmarks, in network namespaces this process
//! creates (unique prefix) and removes on exit, also on error and on
//! SIGINT/SIGTERM. Run through `scripts/bench/dataplane.sh` and
//! `scripts/bench/sync.sh`, which install the Debian packages and build
//! the release binaries first (see `scripts/bench/README.md`).
//!
//! - `labbench dataplane`: TCP throughput (iperf3) and small-packet UDP
//!   packets/s (`udpblast`) through a kernel bridge or router, the
//!   kernel's stateful firewall (nftables + conntrack) and `rampart run`,
//!   inspected and in a tcp-state-bypass class, on the single-node
//!   topology of `Lab`.
//! - `labbench conntrackd`: conntrackd (FTFW over UDP) between two
//!   firewall namespaces: events/s for a burst of real new flows,
//!   replication lag at a fixed rate from kernel timestamps, bulk resync
//!   of up to 1M entries; printed beside Rampart's link benchmark.
//! - `labbench swap`: TCP throughput (iperf3) through `rampart run` during
//!   a burst of `configure` writes (policy swaps), against the same burst
//!   refused (no swap) and no writes, on the single-node topology.
//! - `labbench http`: a real HTTP client (wrk, a new connection per
//!   request) through the asymmetric pair, symmetric against asymmetric,
//!   with the nodes' held packets and sync events per connection.
//!
//! Each prints a table on stderr and one JSON object on stdout.
// A benchmark harness reads the wall clock by definition.
#![allow(clippy::disallowed_methods)]

mod conntrackd;
mod dataplane;
mod http;
mod proc;
mod swap;

use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

/// Set by SIGINT/SIGTERM/SIGHUP: every wait checks it and unwinds, so the
/// namespace guards and process guards run.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Whether a stop was asked for.
pub fn stopping() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// An error unless no stop was asked for.
pub fn check_stop() -> Result<(), String> {
    if stopping() {
        return Err("interrupted".into());
    }
    Ok(())
}

/// Sleep `d`, waking early (with an error) on a stop request.
pub fn sleep(d: std::time::Duration) -> Result<(), String> {
    let end = std::time::Instant::now() + d;
    loop {
        check_stop()?;
        let now = std::time::Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(std::time::Duration::from_millis(20)));
    }
}

#[derive(Parser, Debug)]
#[command(about = "Rampart lab benchmarks (run as root; see scripts/bench/README.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Dataplane: kernel bridge/router, nftables, Rampart (TCP and UDP).
    Dataplane(dataplane::Args),
    /// State sync: conntrackd between two firewall namespaces.
    Conntrackd(conntrackd::Args),
    /// Policy swaps: TCP through `rampart run` during a burst of
    /// `configure` writes, against none.
    Swap(swap::Args),
    /// HTTP through the asymmetric pair: wrk, a new connection per
    /// request, symmetric against asymmetric.
    Http(http::Args),
}

fn main() {
    let cli = Cli::parse();
    if !rampart_node::lab::is_root() {
        eprintln!("labbench: run as root (network namespaces, AF_PACKET, conntrack)");
        std::process::exit(2);
    }
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
    let result = match cli.cmd {
        Cmd::Dataplane(a) => dataplane::run(&a),
        Cmd::Conntrackd(a) => conntrackd::run(&a),
        Cmd::Swap(a) => swap::run(&a),
        Cmd::Http(a) => http::run(&a),
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("labbench: {e}");
            std::process::exit(1);
        }
    }
}

/// The machine, for the JSON summary: kernel, CPUs, CPU model, load.
pub fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    serde_json::json!({
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "loadavg": read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// The `p`-th percentile (nearest rank) of `v`, sorted in place.
pub fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// `a / b` when both exist and `b` is not zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// A figure for a table cell: `-` when absent.
pub fn cell(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50.0));
        assert_eq!(percentile(&mut v, 99.0), Some(99.0));
        assert_eq!(percentile(&mut v, 100.0), Some(100.0));
        assert_eq!(percentile(&mut [7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn ratio_needs_both_and_a_nonzero_divisor() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
    }
}
