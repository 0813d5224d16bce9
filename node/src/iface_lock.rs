//! One node per data interface (docs/ops.md §4). The data directory's
//! lock (`crate::data_lock`) stops the same node started twice; it does
//! not stop two nodes with different data directories started on the
//! same interfaces, which would both bridge them and forward every frame
//! twice, each with a connection table of its own.
//!
//! So `rampart run` also binds, for each data interface, a Unix socket of
//! the abstract namespace named by the interface's index
//! (`rampart/data-interface/<ifindex>`) and listens on it for its whole
//! life. Abstract names belong to the network namespace, as interfaces
//! do: nodes in different namespaces (the lab's) never meet, and the
//! kernel frees the name when the process ends, however it ends.
//!
//! A second node finds the name taken, connects, and reads the holder's
//! credentials (`SO_PEERCRED`): if the holder runs as root or as this
//! node's user, it is a node, and the start is refused, naming its
//! process. The holder accepts and closes such connections (a thread
//! polls its listeners): a connection never accepted would stay queued
//! until the holder ends, and once the queue is full (`somaxconn`, after
//! that many refused starts, or at once by any local user's connections)
//! the holder could no longer be asked, and a second node would start. Anyone else could bind the name first (abstract sockets have
//! no permissions), and a local user must not be able to keep a node from
//! starting: the node then starts without the guard on that interface, and
//! says so.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the holder takes the connections of those that asked.
const ACCEPT_EVERY: Duration = Duration::from_millis(50);

/// How long a node asks a holder that does not answer at once (its queue
/// full of other askers) before it gives up on the guard.
const ASK_FOR: Duration = Duration::from_secs(1);

/// The guards, held until dropped (or the process ends).
#[derive(Debug)]
pub struct IfaceLocks {
    stop: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Drop for IfaceLocks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Take and close, every [`ACCEPT_EVERY`], the connections of those that
/// asked who holds `held` (non-blocking listeners), until `stop`.
fn serve(held: Vec<UnixListener>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        for l in &held {
            while let Ok((conn, _)) = l.accept() {
                drop(conn);
            }
        }
        std::thread::sleep(ACCEPT_EVERY);
    }
}

/// The abstract socket name of interface index `ifindex`.
fn name_of(ifindex: u32) -> String {
    format!("rampart/data-interface/{ifindex}")
}

/// Who holds a name: its process and user, when it could be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: i32,
    /// Its user id.
    pub uid: u32,
}

/// Take the guard of each interface in `interfaces` (name, index), or
/// refuse with the node that holds one. `warn` is told of an interface
/// whose name someone else (not a node) holds.
pub fn lock(
    interfaces: &[(&str, u32)],
    mut warn: impl FnMut(String),
) -> anyhow::Result<IfaceLocks> {
    let me = current_uid();
    let mut held = Vec::with_capacity(interfaces.len());
    for &(name, ifindex) in interfaces {
        let addr = SocketAddr::from_abstract_name(name_of(ifindex).as_bytes())?;
        match UnixListener::bind_addr(&addr) {
            Ok(l) => {
                l.set_nonblocking(true)?;
                held.push(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => match holder(ifindex) {
                Some(h) if h.uid == 0 || h.uid == me => anyhow::bail!(
                    "interface '{name}' is bridged by another Rampart node already (pid {}): \
                     refusing to start a second one on it, which would forward every frame \
                     twice (stop the other first)",
                    h.pid
                ),
                Some(h) => warn(format!(
                    "interface '{name}': the guard against a second node is held by pid {} of \
                     uid {}, which is not a node; running without it on this interface",
                    h.pid, h.uid
                )),
                None => warn(format!(
                    "interface '{name}': the guard against a second node is held by a process \
                     that does not answer; running without it on this interface"
                )),
            },
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "interface '{name}': taking the guard against a second node"
                )));
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acceptor = if held.is_empty() {
        None
    } else {
        let stop = stop.clone();
        Some(
            std::thread::Builder::new()
                .name("iface-guard".into())
                .spawn(move || serve(held, stop))?,
        )
    };
    Ok(IfaceLocks { stop, acceptor })
}

/// The holder of interface `ifindex`'s name: a connection to its socket
/// and the credentials the kernel recorded when it listened. Asked again
/// for up to [`ASK_FOR`] while its queue is full (others asking, which a
/// node holder empties every [`ACCEPT_EVERY`]); `None` if it cannot be
/// asked.
pub fn holder(ifindex: u32) -> Option<Holder> {
    let deadline = std::time::Instant::now() + ASK_FOR;
    loop {
        match ask(ifindex) {
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(ACCEPT_EVERY / 2);
            }
            r => return r.ok(),
        }
    }
}

/// One try of [`holder`], without blocking.
fn ask(ifindex: u32) -> std::io::Result<Holder> {
    let name = name_of(ifindex);
    // SAFETY: a new socket; the descriptor is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a socket just opened and owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let (sa, len) = abstract_addr(&name)?;
    // SAFETY: sa is a valid sockaddr_un and len within it.
    let r = unsafe {
        libc::connect(
            sock.as_raw_fd(),
            (&sa as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a zeroed ucred is a valid value of it.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut cred_len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and cred_len are valid for the kernel to write.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut cred_len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Holder {
        pid: cred.pid,
        uid: cred.uid,
    })
}

/// The address of abstract name `name`: a NUL first, then the name (not
/// terminated; its length is the address's), and that length.
fn abstract_addr(name: &str) -> std::io::Result<(libc::sockaddr_un, usize)> {
    // SAFETY: a zeroed sockaddr_un is a valid value of it.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = name.as_bytes();
    if bytes.len() + 1 > sa.sun_path.len() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    for (d, &b) in sa.sun_path[1..].iter_mut().zip(bytes) {
        *d = b as libc::c_char;
    }
    Ok((
        sa,
        std::mem::size_of::<libc::sa_family_t>() + 1 + bytes.len(),
    ))
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index numbers no interface of the test's namespace has: the guard
    /// is a name, and the test must not meet a running node's.
    const FAKE: [u32; 2] = [4_000_000_001, 4_000_000_002];

    #[test]
    fn a_second_lock_on_an_interface_is_refused_naming_the_holder() {
        let first = lock(&[("c1", FAKE[0]), ("s1", FAKE[1])], |w| panic!("{w}")).unwrap();
        assert_eq!(
            holder(FAKE[1]),
            Some(Holder {
                pid: std::process::id() as i32,
                uid: current_uid()
            })
        );
        let e = lock(&[("s1", FAKE[1])], |w| panic!("{w}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("interface 's1' is bridged by another Rampart node"),
            "{e}"
        );
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        // Released with the first node.
        drop(first);
        assert_eq!(holder(FAKE[1]), None);
        let again = lock(&[("s1", FAKE[1])], |w| panic!("{w}"));
        assert!(again.is_ok());
    }

    /// Each refused start asks the holder once; a holder that never took
    /// those connections had its queue full after `somaxconn` of them,
    /// could no longer be asked, and the next node started beside it (a
    /// review did so with 4,097 refused starts). The holder takes them.
    #[test]
    fn the_guard_holds_however_many_starts_it_refused() {
        const IFINDEX: u32 = 4_000_000_004;
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(4096);
        let _first = lock(&[("c1", IFINDEX)], |w| panic!("{w}")).unwrap();
        for i in 0..=somaxconn.min(20_000) {
            let r = lock(&[("c1", IFINDEX)], |w| panic!("start {i}: {w}"));
            assert!(r.is_err(), "start {i} was not refused");
        }
        assert!(lock(&[("c1", IFINDEX)], |w| panic!("{w}")).is_err());
    }

    /// A local user who binds an interface's name first does not keep a
    /// node from starting: the node starts without the guard there, and
    /// says so (run as root, as CI is: the squatter is a child process
    /// of uid 65534).
    #[test]
    fn a_name_held_by_another_user_is_no_node() {
        if current_uid() != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let ifindex = 4_000_000_003u32;
        // All the child needs is made before the fork: after it, the
        // child only makes system calls.
        let (sa, len) = abstract_addr(&name_of(ifindex)).unwrap();
        let mut pipe = [0 as libc::c_int; 2];
        // SAFETY: pipe(2) into a valid array of two descriptors.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        // SAFETY: the child makes only async-signal-safe calls and ends
        // with _exit; the parent kills and reaps it by its PID.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "{}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: system calls on values made before the fork.
            unsafe {
                if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                    libc::_exit(1);
                }
                let s = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                let bound = libc::bind(
                    s,
                    (&sa as *const libc::sockaddr_un).cast(),
                    len as libc::socklen_t,
                );
                if s < 0 || bound != 0 || libc::listen(s, 16) != 0 {
                    libc::_exit(2);
                }
                libc::write(pipe[1], b"b".as_ptr().cast(), 1);
                libc::sleep(10);
                libc::_exit(0);
            }
        }
        let mut byte = 0u8;
        // SAFETY: our end of the pipe; one byte into a valid buffer.
        let got = unsafe {
            libc::close(pipe[1]);
            let n = libc::read(pipe[0], (&mut byte as *mut u8).cast(), 1);
            libc::close(pipe[0]);
            n
        };
        let held = (got == 1).then(|| {
            let holder = holder(ifindex);
            let mut warned = Vec::new();
            let held = lock(&[("c1", ifindex)], |w| warned.push(w));
            (holder, held.is_ok(), warned)
        });
        // SAFETY: our own child, by its PID.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        let (holder, started, warned) = held.expect("the child of uid 65534 bound the name");
        assert_eq!(holder.map(|h| (h.pid, h.uid)), Some((pid, 65534)));
        assert!(started, "the node did not start");
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("which is not a node"), "{warned:?}");
    }
}
