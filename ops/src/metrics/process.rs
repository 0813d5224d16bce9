//! Process metrics in the standard `process_*` names, read from
//! `/proc/self` at scrape time (the prometheus crate's process collector
//! needs its `process` feature and procfs; these six values do not).

use super::family::{Families, Kind, Spec};

static CPU: Spec = Spec {
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    kind: Kind::Counter,
    labels: &[],
};
static RSS: Spec = Spec {
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    kind: Kind::Gauge,
    labels: &[],
};
static VSIZE: Spec = Spec {
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
    kind: Kind::Gauge,
    labels: &[],
};
static START: Spec = Spec {
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    kind: Kind::Gauge,
    labels: &[],
};
static FDS: Spec = Spec {
    name: "process_open_fds",
    help: "Number of open file descriptors.",
    kind: Kind::Gauge,
    labels: &[],
};
static MAX_FDS: Spec = Spec {
    name: "process_max_fds",
    help: "Maximum number of open file descriptors.",
    kind: Kind::Gauge,
    labels: &[],
};
static THREADS: Spec = Spec {
    name: "process_threads",
    help: "Number of OS threads in the process.",
    kind: Kind::Gauge,
    labels: &[],
};

/// The families, for the registry's descriptors.
pub static ALL: &[&Spec] = &[&CPU, &RSS, &VSIZE, &START, &FDS, &MAX_FDS, &THREADS];

/// Values of `/proc/self/stat` after the command name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// User plus system CPU, in clock ticks.
    pub cpu_ticks: u64,
    /// Threads.
    pub threads: u64,
    /// Start, in clock ticks after boot.
    pub start_ticks: u64,
    /// Virtual size, bytes.
    pub vsize: u64,
    /// Resident set, pages.
    pub rss_pages: u64,
}

/// Parse `/proc/<pid>/stat` (proc(5)): the command name is in parentheses
/// and may itself hold spaces and parentheses, so fields are counted from
/// the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); field n is f[n - 3].
    let get = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        cpu_ticks: get(14)?.saturating_add(get(15)?),
        threads: get(20)?,
        start_ticks: get(22)?,
        vsize: get(23)?,
        rss_pages: get(24)?,
    })
}

fn boot_time_s() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Fill the process families (nothing where `/proc` cannot be read).
pub fn fill(f: &mut Families) {
    let Some(stat) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_stat(&t))
    else {
        return;
    };
    // SAFETY: sysconf has no memory preconditions.
    let (tck, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let tck = if tck > 0 { tck as f64 } else { 100.0 };
    let page = if page > 0 { page as u64 } else { 4096 };
    f.counter_f64(&CPU, &[], stat.cpu_ticks as f64 / tck);
    f.gauge(&RSS, &[], stat.rss_pages.saturating_mul(page) as f64);
    f.gauge(&VSIZE, &[], stat.vsize as f64);
    f.gauge(&THREADS, &[], stat.threads as f64);
    if let Some(boot) = boot_time_s() {
        f.gauge(&START, &[], boot as f64 + stat.start_ticks as f64 / tck);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        f.gauge(&FDS, &[], dir.count() as f64);
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        f.gauge(&MAX_FDS, &[], lim.rlim_cur as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (ram (part) d) S 1 4242 4242 0 -1 4194560 1009 0 0 0 \
                    30 12 0 0 20 0 7 0 123456 99999744 2048 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                cpu_ticks: 42,
                threads: 7,
                start_ticks: 123_456,
                vsize: 99_999_744,
                rss_pages: 2048,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn own_process_is_read() {
        let mut f = Families::default();
        fill(&mut f);
        let names: Vec<String> = f.into_vec().iter().map(|m| m.name().to_string()).collect();
        for n in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
    }
}
