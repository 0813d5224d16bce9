//! Binding an ops listener, and binding it again later when its address is
//! taken (docs/ops.md §1).
//!
//! The listeners are unprivileged loopback or LAN ports: any local user
//! may bind one first. That must not keep the node from forwarding, so a
//! listener whose address is in use is logged loudly, counted
//! (`rampart_ops_listener_bind_failures_total`, `rampart_ops_listener_up`)
//! and tried again every [`BIND_RETRY_MS`] until it holds its address; the
//! node runs on without it meanwhile. (Whoever holds the port does not get
//! the operator's token: the CLI first checks who owns the socket it
//! reached, `crate::client`.) Any other error at start (an address not on
//! this host, a port the node may not bind) is the configuration's, and
//! waiting would not mend it: the node refuses to start, as before.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::refusal::Listener;

/// How often a listener that could not bind tries again.
pub const BIND_RETRY_MS: u64 = 2_000;

/// Failed attempts between two log lines while a listener waits (a
/// minute at [`BIND_RETRY_MS`]): loud once, then a reminder, not a flood.
const LOG_EVERY_FAILURES: u64 = 30;

#[derive(Debug, Default)]
struct State {
    configured: AtomicBool,
    bound: AtomicBool,
    failures: AtomicU64,
    answer_bytes: AtomicU64,
    reserved_in_use: AtomicU64,
    handlers_waiting: AtomicU64,
}

/// What a listener holds now, as its serve loop last published it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Bytes of answers made and not yet taken by their readers.
    pub answer_bytes: u64,
    /// Slots reserved for the admin token in use.
    pub reserved_in_use: u64,
    /// Requests without the admin token waiting for a handler permit.
    pub handlers_waiting: u64,
}

/// Whether each listener holds its address, how often binding failed, and
/// what it holds now; exported with the metrics.
#[derive(Debug, Default)]
pub struct ListenerStates {
    states: [State; Listener::ALL.len()],
}

impl ListenerStates {
    fn of(&self, l: Listener) -> &State {
        &self.states[l.index()]
    }

    /// Whether the node is configured to serve `l`.
    pub fn configured(&self, l: Listener) -> bool {
        self.of(l).configured.load(Ordering::Relaxed)
    }

    /// Whether `l` holds its address now.
    pub fn bound(&self, l: Listener) -> bool {
        self.of(l).bound.load(Ordering::Relaxed)
    }

    /// Failed attempts to bind `l` so far.
    pub fn bind_failures(&self, l: Listener) -> u64 {
        self.of(l).failures.load(Ordering::Relaxed)
    }

    pub(crate) fn set_configured(&self, l: Listener) {
        self.of(l).configured.store(true, Ordering::Relaxed);
    }

    /// Whether `l` serves now: set once its listener is registered with
    /// the runtime, not when its address is bound, so that a listener that
    /// bound but could not be served is not exported as up.
    pub(crate) fn set_bound(&self, l: Listener, up: bool) {
        self.of(l).bound.store(up, Ordering::Relaxed);
    }

    /// What `l` holds now.
    pub fn load(&self, l: Listener) -> Load {
        let s = self.of(l);
        Load {
            answer_bytes: s.answer_bytes.load(Ordering::Relaxed),
            reserved_in_use: s.reserved_in_use.load(Ordering::Relaxed),
            handlers_waiting: s.handlers_waiting.load(Ordering::Relaxed),
        }
    }

    /// Publish `l`'s connection table: the answer bytes it holds and its
    /// reserved slots in use.
    pub(crate) fn set_table(&self, l: Listener, answer_bytes: usize, reserved_in_use: usize) {
        let s = self.of(l);
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        s.answer_bytes.store(n(answer_bytes), Ordering::Relaxed);
        s.reserved_in_use
            .store(n(reserved_in_use), Ordering::Relaxed);
    }

    /// One more (`true`) or one fewer request of `l` waits for a handler
    /// permit.
    pub(crate) fn handler_waiting(&self, l: Listener, more: bool) {
        let w = &self.of(l).handlers_waiting;
        if more {
            w.fetch_add(1, Ordering::Relaxed);
        } else {
            w.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Count a failure; the count so far.
    pub(crate) fn failed(&self, l: Listener) -> u64 {
        self.of(l).failures.fetch_add(1, Ordering::Relaxed) + 1
    }
}

fn what(l: Listener) -> &'static str {
    match l {
        Listener::Metrics => "metrics",
        Listener::Admin => "admin API",
        Listener::AdminSocket => "admin socket",
    }
}

/// Bind `addr` for tokio's use (non-blocking).
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Bind `addr` for listener `l` now: the socket, or `None` when another
/// socket holds the address (logged loudly and counted; the caller tries
/// again with [`bind_until_bound`]). Any other error is returned: the
/// address is wrong for this host, and the node is not to start.
pub fn bind_first(
    addr: SocketAddr,
    l: Listener,
    states: &ListenerStates,
) -> std::io::Result<Option<std::net::TcpListener>> {
    states.set_configured(l);
    match bind(addr) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            states.failed(l);
            tracing::error!(
                "ops: {} waiting for {addr} (in use: {e}); the node forwards without it and \
                 binds it as soon as it is free, trying every {} ms (the process that holds \
                 the port answers in the node's place: the CLI refuses to send it a token, \
                 docs/ops.md §1)",
                what(l),
                BIND_RETRY_MS
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Try to bind `addr` every [`BIND_RETRY_MS`] until it works (the
/// listener) or `stop` turns true (`None`).
pub async fn bind_until_bound(
    addr: SocketAddr,
    l: Listener,
    states: &ListenerStates,
    stop: &mut watch::Receiver<bool>,
) -> Option<tokio::net::TcpListener> {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(BIND_RETRY_MS)) => {}
            _ = stop.changed() => return None,
        }
        match bind(addr).and_then(tokio::net::TcpListener::from_std) {
            Ok(s) => {
                states.set_bound(l, true);
                tracing::warn!(
                    "ops: {} listening on {addr} at last, after {} failed attempt(s)",
                    what(l),
                    states.bind_failures(l)
                );
                return Some(s);
            }
            // Once the node runs, it waits whatever the error: an address
            // that left the host may come back, and the node forwards.
            Err(e) => {
                let n = states.failed(l);
                if n.is_multiple_of(LOG_EVERY_FAILURES) {
                    let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                        "in use".to_string()
                    } else {
                        e.to_string()
                    };
                    tracing::error!(
                        "ops: {} still waiting for {addr} ({why}) after {n} attempts",
                        what(l)
                    );
                }
            }
        }
    }
}

/// The mode of the admin socket: its owner only (docs/ops.md §1).
pub const ADMIN_SOCKET_MODE: u32 = 0o600;

/// The admin socket's file: its device and inode, so that the node
/// removes it at exit only if it is still the one it made.
#[derive(Debug, Clone, Copy)]
pub struct SocketFile {
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Remove the socket file at `path` if it is still this one.
    pub fn remove(&self, path: &Path) {
        if let Ok(m) = std::fs::symlink_metadata(path)
            && (m.dev(), m.ino()) == (self.dev, self.ino)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The socket's directory must be one no one but root and the node's
/// user can change: in a directory others may write to, the socket could
/// be swapped for another file (or a symlink) between its creation and
/// its `chmod`, and its mode would then be set on that file instead.
pub fn private_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let m = std::fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if m.permissions().mode() & 0o022 != 0 || (m.uid() != 0 && m.uid() != me) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "its directory {} (mode {:04o}, owner uid {}) may be changed by others: \
                 put the socket in a directory only root or the node's user may write to",
                dir.display(),
                m.permissions().mode() & 0o7777,
                m.uid()
            ),
        ));
    }
    Ok(())
}

/// Bind the admin API's Unix socket at `path` (docs/ops.md §1), mode
/// [`ADMIN_SOCKET_MODE`]. A socket left there by a node that did not
/// stop cleanly (nothing answers on it) is replaced; one that answers
/// belongs to a running node, and anything else at `path` is not the
/// node's to remove: both are errors, and the node does not start.
pub fn bind_unix(
    path: &Path,
    states: &ListenerStates,
) -> std::io::Result<(std::os::unix::net::UnixListener, SocketFile)> {
    use std::io::{Error, ErrorKind};
    states.set_configured(Listener::AdminSocket);
    private_parent(path)?;
    match std::fs::symlink_metadata(path) {
        // At most the client's wait: a node wedged with a full queue must
        // not hang this start.
        Ok(m) if m.file_type().is_socket() => match crate::client::connect_unix(path) {
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    "another process serves this socket (is the node running already?)",
                ));
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path)?;
            }
            Err(e) => return Err(e),
        },
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                "something other than a socket is there; the node does not remove it",
            ));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    // Set at once; until then the peer-credential check of every
    // connection keeps other users out all the same.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(ADMIN_SOCKET_MODE))?;
    listener.set_nonblocking(true)?;
    let m = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        dev: m.dev(),
        ino: m.ino(),
    };
    Ok((listener, file))
}
