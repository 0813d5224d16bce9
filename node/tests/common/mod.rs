//! Shared by this package's tests that run `rampart lab` as a child: a
//! guard for the namespaces under the run's prefix, and a bounded wait
//! for the run (SIGINT, then SIGKILL, by its PID).
// Each test uses a part of it.
#![allow(dead_code)]

use std::io::Read as _;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a lab has to tear down after SIGINT before SIGKILL.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(15);

/// The namespaces under a test's prefix: on drop, every process still in
/// one of them (only the lab's nodes, started by this test's lab run) is
/// killed by PID, and the namespaces are removed, so a failed or hung run
/// leaves nothing behind.
pub struct Leftovers {
    pub prefix: String,
}

impl Leftovers {
    /// The namespaces named `<prefix>-…` that exist now (the separator
    /// keeps prefix `x1` from matching another run's `x12-…`).
    pub fn namespaces(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list");
        let mine = format!("{}-", self.prefix);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&mine))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for ns in self.namespaces() {
            let pids = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                // SAFETY: a PID inside this test's own namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

/// Wait for `child` at most `limit`, calling `tick` about every 50 ms
/// while it runs; past `limit`, SIGINT (the lab tears down) and then,
/// after `INTERRUPT_GRACE`, SIGKILL, by its PID. Returns its stdout,
/// stderr and whether it ended in time with status 0.
pub fn wait_bounded(
    mut child: Child,
    limit: Duration,
    mut tick: impl FnMut(),
) -> (String, String, bool) {
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let t0 = Instant::now();
    let mut status = None;
    while t0.elapsed() < limit + INTERRUPT_GRACE {
        if let Ok(Some(s)) = child.try_wait() {
            status = Some(s);
            break;
        }
        if t0.elapsed() >= limit {
            // SAFETY: our own child's PID, still running.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        } else {
            tick();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let in_time = t0.elapsed() < limit;
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    (out, err, in_time && status.is_some_and(|s| s.success()))
}
