//! Child processes of the benchmark, each in a namespace, each bounded
//! in time and stopped by its own PID (SIGTERM, then SIGKILL) when its
//! guard drops, so an error or a Ctrl-C leaves nothing running.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process has between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// A running child whose stdout and stderr lines are collected.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    what: String,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    done: Option<ExitStatus>,
}

fn collect(
    pipe: Option<impl std::io::Read + Send + 'static>,
    sink: Arc<Mutex<Vec<String>>>,
) -> Option<std::thread::JoinHandle<()>> {
    pipe.map(|p| {
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(p).lines().map_while(Result::ok) {
                if let Ok(mut v) = sink.lock() {
                    v.push(line);
                }
            }
        })
    })
}

/// How long the output readers may take to see EOF after the exit (a
/// grandchild holding the pipes would keep them open).
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

impl Spawned {
    /// Start `args` inside namespace `ns` (`ip netns exec` execs the
    /// program, so the child's PID is the program's).
    pub fn in_ns(ns: &str, args: &[&str]) -> Result<Spawned, String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        Spawned::start(cmd, &format!("{} (in {ns})", args.join(" ")))
    }

    /// Start `cmd` with piped output.
    pub fn start(mut cmd: Command, what: &str) -> Result<Spawned, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {what}: {e}"))?;
        let (out, err) = (Arc::default(), Arc::default());
        let readers = [
            collect(child.stdout.take(), Arc::clone(&out)),
            collect(child.stderr.take(), Arc::clone(&err)),
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(Spawned {
            child,
            what: what.to_string(),
            out,
            err,
            readers,
            done: None,
        })
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().map(|v| v.join("\n")).unwrap_or_default()
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().map(|v| v.join("\n")).unwrap_or_default()
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        if self.done.is_none() {
            self.done = self.child.try_wait().ok().flatten();
        }
        self.done
    }

    /// Wait until a line of stdout or stderr contains `needle`.
    pub fn wait_line(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let end = Instant::now() + limit;
        loop {
            let seen = |v: &Arc<Mutex<Vec<String>>>| {
                v.lock()
                    .map(|v| v.iter().any(|l| l.contains(needle)))
                    .unwrap_or(false)
            };
            if seen(&self.out) || seen(&self.err) {
                return Ok(());
            }
            if let Some(st) = self.poll() {
                return Err(format!(
                    "{} exited ({st}) before printing {needle:?}: {}",
                    self.what,
                    self.stderr()
                ));
            }
            if Instant::now() >= end {
                return Err(format!(
                    "{} printed no {needle:?} within {limit:?}",
                    self.what
                ));
            }
            crate::sleep(Duration::from_millis(10))?;
        }
    }

    /// Wait for the exit within `limit`; past it the child is stopped and
    /// this is an error. Returns stdout once the pipes are drained.
    pub fn wait(&mut self, limit: Duration) -> Result<String, String> {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.poll() {
                self.drain();
                if !st.success() {
                    return Err(format!(
                        "{} failed ({st}): {} {}",
                        self.what,
                        self.stderr(),
                        self.stdout()
                    ));
                }
                return Ok(self.stdout());
            }
            if Instant::now() >= end {
                self.terminate();
                return Err(format!("{} still running after {limit:?}", self.what));
            }
            crate::sleep(Duration::from_millis(10))?;
        }
    }

    /// Wait (bounded) until the output readers have seen EOF.
    fn drain(&mut self) {
        let end = Instant::now() + DRAIN_LIMIT;
        while Instant::now() < end && self.readers.iter().any(|r| !r.is_finished()) {
            std::thread::sleep(Duration::from_millis(2));
        }
        for r in std::mem::take(&mut self.readers) {
            if r.is_finished() {
                let _ = r.join();
            }
        }
    }

    /// SIGTERM by PID, SIGKILL after a grace period; waits for the exit.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        if let Some(st) = self.poll() {
            return Some(st);
        }
        // SAFETY: our own child's PID, not yet reaped (poll saw it running).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let end = Instant::now() + TERM_GRACE;
        while Instant::now() < end {
            if let Some(st) = self.poll() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        self.done = self.child.wait().ok();
        self.done
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Run `args` in namespace `ns` to completion within `limit`; its stdout.
pub fn run_in(ns: &str, args: &[&str], limit: Duration) -> Result<String, String> {
    Spawned::in_ns(ns, args)?.wait(limit)
}

/// CPU seconds (user + system) used so far by process `pid`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}
