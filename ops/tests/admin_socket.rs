//! The admin API on its Unix socket (docs/ops.md §1): mode 0600, for root
//! and the node's own user; no other local user can reach it, so a flood
//! of the loopback port cannot keep the operator out. A socket left by a
//! node that did not stop is replaced, a live one or another file is not,
//! and a connection of another user is closed before it takes a slot.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_ops::backend::Backend;
use rampart_ops::client::{Client, ClientError, Endpoint};
use rampart_ops::fixture;
use rampart_ops::http::ServeLimits;
use rampart_ops::http::admission::Caps;
use rampart_ops::metrics::Metrics;
use rampart_ops::metrics::text::sample;
use rampart_ops::server::{OpsConfig, OpsServer, StartError};

const TOKEN: &str = "50ck37-t0k";

/// A short private directory for a socket (its path must fit 107 bytes).
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = PathBuf::from(format!("/tmp/rampart-sock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn sock(&self) -> PathBuf {
        self.0.join("admin.sock")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(socket: &Path, limits: ServeLimits) -> Result<OpsServer, StartError> {
    let backend: Arc<dyn Backend> = Arc::new(fixture::admin(fixture::standalone_status()));
    let b = backend.clone();
    let metrics = Arc::new(Metrics::new(Arc::new(move || b.snapshot()), None));
    let cfg = OpsConfig {
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        admin_socket: Some(socket.to_path_buf()),
        token: Some(TOKEN.into()),
        limits,
        ..OpsConfig::default()
    };
    OpsServer::start(&cfg, backend, metrics)
}

fn scrape(metrics: SocketAddr) -> String {
    let r = Client::new(metrics, None)
        .request("GET", "/metrics", b"", "")
        .unwrap();
    String::from_utf8(r.body).unwrap()
}

#[test]
fn the_socket_serves_the_admin_api_with_mode_0600_and_goes_at_exit() {
    let dir = Dir::new("serve");
    let path = dir.sock();
    let srv = start(&path, ServeLimits::default()).unwrap();
    assert_eq!(srv.admin_socket.as_deref(), Some(path.as_path()));
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let c = Client::new(Endpoint::Unix(path.clone()), Some(TOKEN.into()));
    let counters = c.counters().unwrap();
    let labels: Vec<_> = counters
        .ops_listeners
        .iter()
        .map(|l| l.listener.as_str())
        .collect();
    assert_eq!(labels, ["metrics", "admin", "admin_socket"]);
    assert!(counters.ops_listeners.iter().all(|l| l.up));
    // A change goes through it too (the token is checked as on the port).
    let e = Client::new(Endpoint::Unix(path.clone()), Some("wrong".into()))
        .clear_conns(&Default::default())
        .unwrap_err();
    assert!(matches!(e, ClientError::Refused { status: 401, .. }), "{e}");
    Client::new(Endpoint::Unix(path.clone()), Some(TOKEN.into()))
        .clear_conns(&Default::default())
        .unwrap();
    let text = scrape(srv.metrics_addr.unwrap());
    let up = sample(
        &text,
        "rampart_ops_listener_up",
        &[("listener", "admin_socket")],
    );
    assert_eq!(up, Some(1.0));
    drop(srv);
    assert!(!path.exists(), "the socket outlived its node");
}

/// A local user who holds every slot of the loopback port, the reserved
/// ones included, keeps the operator out of the port, but not out of the
/// socket: the socket's slots are its own, and that user cannot connect
/// to it at all.
#[test]
fn a_flood_of_the_loopback_port_leaves_the_socket_answering() {
    let dir = Dir::new("flood");
    let path = dir.sock();
    let limits = ServeLimits {
        caps: Caps {
            max_connections: 4,
            max_per_source: 2,
            reserved: 1,
            // Nothing is closed to make room while the test runs.
            min_evict_age_ms: 600_000,
            silent_grace_ms: 600_000,
            ..ServeLimits::default().caps
        },
        header_read_timeout_ms: 600_000,
        ..ServeLimits::default()
    };
    let srv = start(&path, limits).unwrap();
    let port = srv.admin_addr.unwrap();
    // Two idle connections fill the source; a request with the token
    // takes the reserved slot and holds it (its body never comes).
    let mut held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(port).unwrap()).collect();
    let mut tokened = TcpStream::connect(port).unwrap();
    tokened
        .write_all(
            format!(
                "POST /v1/configure HTTP/1.1\r\nHost: {port}\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Length: 100\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    held.push(tokened);
    // The operator on the port: busy, even with the token.
    let mut refused_on_port = false;
    for _ in 0..50 {
        match Client::new(port, Some(TOKEN.into())).counters() {
            Err(ClientError::Busy { .. }) => {
                refused_on_port = true;
                break;
            }
            // The reserved slot not yet taken by the stalled request.
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused_on_port, "the flood did not fill the port");
    // The operator on the socket: answered.
    let c = Client::new(Endpoint::Unix(path.clone()), Some(TOKEN.into()));
    for _ in 0..3 {
        c.counters().unwrap();
    }
    drop(held);
}

/// A local user loops token-less `show conn`s on the loopback port, so one
/// of them always holds the token-less turn and budget: the operator's
/// `show conn` on the socket without a token (the CLI sends none for reads
/// unless a read token is configured) is answered every time. Before, the socket's token-less reads were the port's
/// kind of caller, and every one of them was refused (429) under the loop.
#[test]
fn the_port_s_token_less_walks_do_not_refuse_the_operator_s_on_the_socket() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = Dir::new("walks");
    let path = dir.sock();
    let srv = start(&path, ServeLimits::default()).unwrap();
    let port = srv.admin_addr.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let loops: Vec<_> = (0..3)
        .map(|_| {
            let (stop, refused) = (stop.clone(), refused.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let walk = Client::new(port, None).conns(&Default::default(), false);
                    if let Err(ClientError::Refused { status: 429, .. }) = walk {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Until the loops meet each other's turn: the turn is held.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while refused.load(Ordering::Relaxed) == 0 {
        assert!(std::time::Instant::now() < deadline, "the loops never met");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let operator = Client::new(Endpoint::Unix(path.clone()), None);
    let answers: Vec<_> = (0..10)
        .map(|_| operator.conns(&Default::default(), false))
        .collect();
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.join().unwrap();
    }
    for a in answers {
        a.expect("the operator's show conn on the socket");
    }
}

#[test]
fn a_stale_socket_is_replaced_but_a_live_one_or_another_file_is_not() {
    let dir = Dir::new("stale");
    let path = dir.sock();
    // Left by a node that did not stop: nothing listens on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let first = start(&path, ServeLimits::default()).unwrap();
    Client::new(Endpoint::Unix(path.clone()), Some(TOKEN.into()))
        .counters()
        .unwrap();
    // A second node on the same path: refused, and the first's socket
    // is left as it was.
    let e = start(&path, ServeLimits::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("another process serves this socket"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    Client::new(Endpoint::Unix(path.clone()), Some(TOKEN.into()))
        .counters()
        .unwrap();
    drop(first);
    // Not a socket: not removed, and the node does not start.
    std::fs::write(&path, b"the operator's notes").unwrap();
    let msg = start(&path, ServeLimits::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("something other than a socket"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), b"the operator's notes");
}

/// What a connection of uid 65533 to the socket got, told from inside the
/// child before it would exec (its only way to report without a binary
/// of its own): `ECONNABORTED` when the node closed it without a byte,
/// `EPROTO` when the node answered.
fn connect_as_another_user(path: &Path) -> std::io::Result<std::process::Child> {
    let path = path.to_path_buf();
    // The child never execs (the closure below always returns an error):
    // the program named is this test binary, never run.
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.uid(65_533).gid(65_533);
    // SAFETY: the closure runs in the forked child and makes only system
    // calls (connect, write, read) on memory it owns; it allocates nothing
    // (the path was made before the fork, errors are raw OS codes).
    unsafe {
        cmd.pre_exec(move || {
            let mut s = std::os::unix::net::UnixStream::connect(&path)?;
            let _ = s.write_all(b"GET /v1/counters HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let mut buf = [0u8; 64];
            let got = s.read(&mut buf).unwrap_or(0);
            Err(std::io::Error::from_raw_os_error(if got == 0 {
                libc::ECONNABORTED
            } else {
                libc::EPROTO
            }))
        });
    }
    cmd.spawn()
}

/// The socket's mode keeps other users out; should it be opened up (by
/// hand, or in the moment between its creation and its chmod), the node
/// still closes their connections at once by their credentials, counted
/// as `peer_uid`, and they take no slot. Needs root (CI runs as root):
/// only root can run a child as another user.
#[test]
fn a_connection_of_another_user_is_closed_before_it_takes_a_slot() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test runs as root");
    let dir = Dir::new("uid");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.sock();
    let srv = start(&path, ServeLimits::default()).unwrap();
    // With the mode the node gives it: not even a connection.
    let e = connect_as_another_user(&path).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    for _ in 0..3 {
        let e = connect_as_another_user(&path).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNABORTED), "{e}");
    }
    let text = scrape(srv.metrics_addr.unwrap());
    let refused = sample(
        &text,
        "rampart_ops_http_refused_total",
        &[("listener", "admin_socket"), ("reason", "peer_uid")],
    );
    assert_eq!(refused, Some(3.0));
    // Root's own connection is served.
    Client::new(Endpoint::Unix(path.clone()), Some(TOKEN.into()))
        .counters()
        .unwrap();
}

/// A directory others may write to could have the socket swapped for a
/// symlink between its creation and its `chmod` (which would then change
/// the mode of whatever the link names): such a place is refused, naming
/// the directory, and nothing is created there.
#[test]
fn a_socket_in_a_directory_others_may_change_is_refused() {
    let dir = Dir::new("shared");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = dir.sock();
    let msg = start(&path, ServeLimits::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("may be changed by others"), "{msg}");
    assert!(msg.contains(&dir.0.display().to_string()), "{msg}");
    assert!(!path.exists());
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700)).unwrap();
    start(&path, ServeLimits::default()).unwrap();
}
