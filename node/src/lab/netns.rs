//! Network namespaces made with iproute2 and removed on drop (also when a
//! test fails), threads that run inside one, and the commands that build
//! the topologies ([`sh`]). Names carry a caller's prefix so parallel
//! labs do not collide.

use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;

/// Why a command or a namespace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The command could not be started at all.
    #[error("`{command}` could not start: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// A command line with no program.
    #[error("an empty command")]
    Empty,
    /// The namespace's file could not be opened.
    #[error("namespace {ns}: {source}")]
    Open {
        /// The namespace.
        ns: String,
        /// Why.
        source: std::io::Error,
    },
    /// A thread could not enter the namespace.
    #[error("entering namespace {ns}: {source}")]
    Enter {
        /// The namespace.
        ns: String,
        /// Why.
        source: std::io::Error,
    },
    /// A thread could not be started.
    #[error("starting a thread in namespace {ns}: {source}")]
    Thread {
        /// The namespace.
        ns: String,
        /// Why.
        source: std::io::Error,
    },
    /// The work run inside the namespace panicked.
    #[error("the work run in namespace {0} panicked")]
    Panicked(String),
    /// A role the topology does not have.
    #[error("no namespace role {0:?}")]
    NoRole(String),
}

/// Run a command; an error names it and carries its stderr.
pub fn sh(args: &[&str]) -> Result<(), NetnsError> {
    let (program, rest) = args.split_first().ok_or(NetnsError::Empty)?;
    let command = args.join(" ");
    let out = Command::new(program)
        .args(rest)
        .output()
        .map_err(|source| NetnsError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Failed {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Set one sysctl (`name=value`) in namespace `ns`.
pub fn sysctl(ns: &str, setting: &str) -> Result<(), NetnsError> {
    sh(&["ip", "netns", "exec", ns, "sysctl", "-qw", setting])
}

/// `TcpExt: TCPSynRetrans` in namespace `ns`: the SYNs and SYN-ACKs its
/// stack retransmitted (0 if it cannot be read).
pub fn syn_retransmits(ns: &Netns) -> u64 {
    tcp_ext(ns, "TCPSynRetrans")
}

/// Counter `name` of the `TcpExt:` lines of namespace `ns`'s
/// `netstat` (0 if it cannot be read). Read through
/// `/proc/thread-self/net`: `/proc/net` is `/proc/self/net`, the
/// namespace of the process's main thread, not of the thread that
/// entered `ns` (proc(5), `/proc/thread-self`).
pub fn tcp_ext(ns: &Netns, name: &str) -> u64 {
    let name = name.to_string();
    ns.run(move || {
        let text = std::fs::read_to_string("/proc/thread-self/net/netstat").unwrap_or_default();
        let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return 0;
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    })
    .unwrap_or(0)
}

/// Raise this process's open-file limit to `want` descriptors, the hard
/// limit too if needed (root may); where that is refused, to the hard
/// limit. For tests and benchmarks that hold many connections.
pub fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to an rlimit for the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let want = (want as libc::rlim_t).max(lim.rlim_cur);
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: want.max(lim.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            lim.rlim_cur = lim.rlim_max.min(want);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Turn IPv6 off in namespace `ns` (for interfaces made from now on).
pub fn no_ipv6(ns: &str) -> Result<(), NetnsError> {
    for key in ["all", "default"] {
        sysctl(ns, &format!("net.ipv6.conf.{key}.disable_ipv6=1"))?;
    }
    Ok(())
}

/// Whether this process is root (namespaces and AF_PACKET need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One network namespace, removed on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create namespace `name`.
    pub fn new(name: &str) -> Result<Netns, NetnsError> {
        sh(&["ip", "netns", "add", name])?;
        Ok(Netns {
            name: name.to_string(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }

    /// Run `f` on a new thread inside the namespace (setns is per
    /// thread); the thread once it is inside.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<NsThread<T>, NetnsError> {
        enter_and_spawn(&self.name, self.path(), f)
    }

    /// Run `f` inside the namespace and wait for its result.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NetnsError> {
        self.spawn(f)?
            .join()
            .map_err(|_| NetnsError::Panicked(self.name.clone()))
    }
}

/// A thread running inside a namespace.
#[derive(Debug)]
pub struct NsThread<T>(JoinHandle<Option<T>>);

impl<T> NsThread<T> {
    /// Wait for its result (`Err`: it panicked).
    pub fn join(self) -> std::thread::Result<T> {
        self.0
            .join()
            .and_then(|v| v.ok_or_else(|| Box::new("the thread never entered its namespace") as _))
    }

    /// Whether it has finished.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

/// Start a thread that enters namespace `ns` (its file `path`) and then
/// runs `f`; an error if it cannot enter (then `f` never runs).
pub fn enter_and_spawn<T: Send + 'static>(
    ns: &str,
    path: PathBuf,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<NsThread<T>, NetnsError> {
    let file = std::fs::File::open(&path).map_err(|source| NetnsError::Open {
        ns: ns.to_string(),
        source,
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .spawn(move || {
            // SAFETY: a valid namespace fd; setns affects only this thread.
            let r =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            drop(file);
            if r != 0 {
                let _ = tx.send(Err(std::io::Error::last_os_error()));
                return None;
            }
            let _ = tx.send(Ok(()));
            Some(f())
        })
        .map_err(|source| NetnsError::Thread {
            ns: ns.to_string(),
            source,
        })?;
    let entered = rx.recv().unwrap_or_else(|_| {
        Err(std::io::Error::other(
            "the thread ended before entering the namespace",
        ))
    });
    match entered {
        Ok(()) => Ok(NsThread(handle)),
        Err(source) => {
            let _ = handle.join();
            Err(NetnsError::Enter {
                ns: ns.to_string(),
                source,
            })
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
