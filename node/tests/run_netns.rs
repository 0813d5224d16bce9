//! `rampart run` as a real process in a node namespace: TCP from the
//! client reaches the server through it, and SIGTERM (sent to its PID)
//! stops it cleanly with its counters printed. Needs root, as CI has.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_chaos_tests::netns::{Lab, fnv, is_root};

/// Write a node file (inside interface `inside`, outside `s1`) and its policy.
fn write_node(dir: &std::path::Path, inside: &str, policy: &str) -> std::path::PathBuf {
    write_node_with(dir, inside, policy, 1)
}

/// The same with `workers` worker threads.
fn write_node_with(
    dir: &std::path::Path,
    inside: &str,
    policy: &str,
    workers: usize,
) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("node.toml");
    std::fs::write(
        &file,
        format!(
            "[node]\nid = 1\nname = \"fw-a\"\ndata_dir = \"{}\"\npolicy = \"policy.cfg\"\nworkers = {workers}\n\n\
             [[interface]]\nname = \"{inside}\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
             [[interface]]\nname = \"s1\"\nnameif = \"outside\"\nsecurity_level = 0\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("policy.cfg"), policy).unwrap();
    file
}

/// `rampart run` in the lab's node namespace. `ip netns exec` execs
/// rampart, so the child's PID is rampart's.
fn rampart(lab: &Lab, node_file: &std::path::Path) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &lab.ns("n"),
        env!("CARGO_BIN_EXE_rampart"),
        "run",
        "--config",
    ])
    .arg(node_file);
    cmd
}

/// Start the daemon with the lab's interfaces and `policy`.
fn start(lab: &Lab, dir: &std::path::Path, policy: &str) -> std::process::Child {
    start_with(lab, dir, policy, 1)
}

/// The same with `workers` worker threads.
fn start_with(
    lab: &Lab,
    dir: &std::path::Path,
    policy: &str,
    workers: usize,
) -> std::process::Child {
    let file = write_node_with(dir, "c1", policy, workers);
    let child = rampart(lab, &file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rampart");
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// SIGTERM by PID; the exit status and what rampart printed.
fn stop(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our own child's.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "rampart did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

/// Send `bytes` from the client to a server on port `port` through the
/// node; returns whether the server's digest of what it got matches.
fn transfer(lab: &Lab, port: u16, bytes: usize) -> bool {
    let server = lab.spawn("s", move || {
        let l = TcpListener::bind(("198.18.0.20", port)).expect("listen");
        let (mut conn, _) = l.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut data = Vec::new();
        conn.read_to_end(&mut data).expect("read");
        conn.write_all(&fnv(&data).to_be_bytes()).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let payload: Vec<u8> = (0..bytes as u32).map(|i| (i % 251) as u8).collect();
    let expect = fnv(&payload);
    let got = lab
        .spawn("c", move || {
            let addr: SocketAddr = ([198, 18, 0, 20], port).into();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("connect through rampart");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&payload).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut reply = [0u8; 8];
            s.read_exact(&mut reply).expect("reply");
            u64::from_be_bytes(reply)
        })
        .join()
        .unwrap();
    server.join().unwrap();
    got == expect
}

#[test]
fn the_daemon_bridges_real_tcp_and_stops_on_sigterm() {
    if !is_root() {
        eprintln!("skipped: rampart run needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-run{}", std::process::id()));
    let dir = std::env::temp_dir().join(format!("rampart-run-{}", std::process::id()));
    let child = start(
        &lab,
        &dir,
        "hostname fw-a\naccess-list OUT permit tcp any host 198.18.0.10 eq 5003\naccess-group OUT in interface outside\n",
    );
    assert!(
        transfer(&lab, 5001, 300_000),
        "the server received exactly the bytes sent"
    );

    // The access-group admits outside → inside on port 5003 only.
    let listener = lab.spawn("c", || {
        let l = TcpListener::bind("198.18.0.10:5003").expect("listen");
        l.set_nonblocking(false).unwrap();
        l.accept().is_ok()
    });
    std::thread::sleep(Duration::from_millis(100));
    let opened = lab
        .spawn("s", || {
            let addr: SocketAddr = "198.18.0.10:5003".parse().unwrap();
            TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
        })
        .join()
        .unwrap();
    assert!(opened, "the access-group permits this inbound connection");
    assert!(listener.join().unwrap());

    let (status, err) = stop(child);
    std::fs::remove_dir_all(&dir).ok();
    assert!(status.success(), "exit status {status}: {err}");
    assert!(
        err.contains("policy") && err.contains("loaded (1 line(s) ignored)"),
        "{err}"
    );
    assert!(err.contains("rampart: stopped; forwarded"), "{err}");
}

#[test]
fn the_daemon_survives_a_flood_of_malformed_frames_and_keeps_forwarding() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-fld{}", std::process::id()));
    let dir = std::env::temp_dir().join(format!("rampart-fld-{}", std::process::id()));
    let child = start(&lab, &dir, "hostname fw-a\n");
    // 20,000 crafted frames from the client side: random bytes, and real
    // frames with random bytes overwritten (bounded in count).
    let sent = lab
        .spawn("c", || {
            use rampart_afpacket::afpacket::PacketSocket;
            use rampart_dataplane::trace::{udp_frame, v4_pair};
            let sock = PacketSocket::open("c0").expect("open c0");
            let (c, s) = v4_pair(4000, 53);
            let base = udp_frame(&c, &s, b"a perfectly good datagram");
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let mut rnd = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut sent = 0;
            for i in 0..20_000 {
                let frame: Vec<u8> = if i % 2 == 0 {
                    (0..(rnd() % 200 + 14) as usize)
                        .map(|_| rnd() as u8)
                        .collect()
                } else {
                    let mut f = base.clone();
                    for _ in 0..3 {
                        let at = (rnd() as usize) % f.len();
                        f[at] = rnd() as u8;
                    }
                    f
                };
                sent += sock.send_batch(&[&frame]).unwrap_or(0);
            }
            sent
        })
        .join()
        .unwrap();
    assert!(sent > 10_000, "the flood went out ({sent} frames)");
    assert!(
        transfer(&lab, 5004, 200_000),
        "good traffic still passes after the flood"
    );
    let (status, err) = stop(child);
    std::fs::remove_dir_all(&dir).ok();
    assert!(status.success(), "exit status {status}: {err}");
    assert!(err.contains("rampart: stopped; forwarded"), "{err}");
}

#[test]
fn a_missing_interface_is_a_clear_error() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-rne{}", std::process::id()));
    let dir = std::env::temp_dir().join(format!("rampart-rne-{}", std::process::id()));
    let file = write_node(&dir, "nope0", "hostname fw-a\n");
    let out = rampart(&lab, &file).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope0: no such interface"), "{err}");
}

/// The policy of the tests below: the seed's kind of bypass class for
/// port 5006 (either direction), everything else inspected; outside may
/// open to the client's port 5003 only.
const POLICY: &str = "hostname fw-a
access-list BYP extended permit tcp any any eq 5006
access-list BYP extended permit tcp any eq 5006 any
access-list OUT extended permit tcp any host 198.18.0.10 eq 5003
access-list OUT extended permit tcp any eq 5006 any
access-group OUT in interface outside
class-map BYP
 match access-list BYP
policy-map global_policy
 class BYP
  set connection advanced-options tcp-state-bypass
service-policy global_policy global
";

/// A test's lab, node directory and daemon, removed on drop.
struct Daemon {
    lab: Lab,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl Daemon {
    fn new(tag: &str, workers: usize) -> Daemon {
        let lab = Lab::new(&format!("rp-{tag}{}", std::process::id()));
        let dir = std::env::temp_dir().join(format!("rampart-{tag}-{}", std::process::id()));
        let child = Some(start_with(&lab, &dir, POLICY, workers));
        Daemon { lab, dir, child }
    }

    /// Stop it (SIGTERM) and return what it printed; asserts a clean exit.
    fn stop(&mut self) -> String {
        let (status, err) = stop(self.child.take().expect("running"));
        assert!(status.success(), "exit status {status}: {err}");
        err
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The daemon's `show conn detail` (SIGUSR1 writes it to its data dir).
fn table_of(child: &std::process::Child, dir: &std::path::Path) -> String {
    let path = dir.join("fw-a.conn");
    let _ = std::fs::remove_file(&path);
    // SAFETY: the pid is our own child's.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) };
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Ok(t) = std::fs::read_to_string(&path) {
            return t;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    "(no table dump)".into()
}

/// The count of drop reason `label` in the daemon's exit line.
fn drops(err: &str, label: &str) -> u64 {
    err.lines()
        .filter(|l| l.contains("rampart: stopped;"))
        .flat_map(|l| l.split([' ', '[', ']']))
        .find_map(|w| w.strip_prefix(label)?.strip_prefix('=')?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn ten_megabytes_cross_two_workers_intact() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut d = Daemon::new("r10", 2);
    for port in [5001, 5002, 5007] {
        assert!(
            transfer(&d.lab, port, 10 << 20),
            "10 MB to port {port}: the server's digest matches"
        );
    }
    let err = d.stop();
    assert!(err.contains("with 2 worker(s)"), "{err}");
    assert_eq!(drops(&err, "tcp-seq-past-win"), 0, "{err}");
}

#[test]
fn a_connection_the_policy_denies_is_blocked_and_counted() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut d = Daemon::new("rdn", 1);
    // Outside → inside: only port 5003 is permitted; 5004 is not.
    let _listener = d.lab.spawn("c", || {
        let l = TcpListener::bind("198.18.0.10:5004").expect("listen");
        l.set_nonblocking(true).unwrap();
        // Accept nothing for three seconds (bounded), then give up.
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if l.accept().is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    std::thread::sleep(Duration::from_millis(100));
    let opened = d
        .lab
        .spawn("s", || {
            let addr: SocketAddr = "198.18.0.10:5004".parse().unwrap();
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        })
        .join()
        .unwrap();
    assert!(!opened, "the denied connection must not open");
    assert!(!_listener.join().unwrap(), "nothing reached the client");
    let err = d.stop();
    assert!(drops(&err, "acl-drop") >= 1, "the SYN was counted: {err}");
}

#[test]
fn udp_request_response_and_icmp_echo_pass() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut d = Daemon::new("rud", 2);
    let server = d.lab.spawn("s", || {
        let sock = std::net::UdpSocket::bind("198.18.0.20:5300").expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1500];
        let mut answered = 0;
        for _ in 0..5 {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                break;
            };
            let mut reply = b"re:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            sock.send_to(&reply, from).unwrap();
            answered += 1;
        }
        answered
    });
    std::thread::sleep(Duration::from_millis(100));
    let replies = d
        .lab
        .spawn("c", || {
            let sock = std::net::UdpSocket::bind("198.18.0.10:0").expect("bind");
            sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut ok = 0;
            for i in 0..5 {
                let q = format!("query {i}");
                sock.send_to(q.as_bytes(), "198.18.0.20:5300").unwrap();
                let mut buf = [0u8; 1500];
                if let Ok(n) = sock.recv(&mut buf)
                    && buf[..n] == *format!("re:{q}").as_bytes()
                {
                    ok += 1;
                }
            }
            ok
        })
        .join()
        .unwrap();
    assert_eq!(replies, 5, "every UDP query got its answer");
    assert_eq!(server.join().unwrap(), 5);
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &d.lab.ns("c"),
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
        ])
        .arg("198.18.0.20")
        .output()
        .expect("ping");
    assert!(
        ping.status.success(),
        "ICMP echo through the node: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let err = d.stop();
    // (IPv6 neighbour chatter from the outside may meet the access-group.)
    for reason in ["icmp-no-connection", "udp-bad-checksum", "icmp-malformed"] {
        assert_eq!(drops(&err, reason), 0, "{reason}: {err}");
    }
}

#[test]
fn a_connection_older_than_the_node_passes_only_in_a_bypass_class() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-rms{}", std::process::id()));
    let dir = std::env::temp_dir().join(format!("rampart-rms-{}", std::process::id()));
    let n = lab.ns("n");
    // Before the node runs, a kernel bridge carries the connections.
    let bridge = |args: &[&str]| {
        let mut full = vec!["ip", "-n", n.as_str()];
        full.extend_from_slice(args);
        rampart_chaos_tests::netns::sh(&full);
    };
    bridge(&["link", "add", "br0", "type", "bridge"]);
    bridge(&["link", "set", "c1", "master", "br0"]);
    bridge(&["link", "set", "s1", "master", "br0"]);
    bridge(&["link", "set", "br0", "up"]);
    // The server counts what each connection delivers (bounded reads).
    let servers: Vec<_> = [5005u16, 5006]
        .into_iter()
        .map(|port| {
            lab.spawn("s", move || {
                let l = TcpListener::bind(("198.18.0.20", port)).expect("listen");
                let (mut conn, _) = l.accept().expect("accept");
                conn.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
                let mut total = 0usize;
                let mut buf = [0u8; 65536];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => total += k,
                    }
                }
                total
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let client = lab.spawn("c", move || {
        let conns: Vec<TcpStream> = [5005u16, 5006]
            .into_iter()
            .map(|port| {
                let addr: SocketAddr = ([198, 18, 0, 20], port).into();
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
                s.write_all(&[1u8; 1000]).unwrap();
                s
            })
            .collect();
        // Wait until the node has replaced the kernel bridge.
        rx.recv_timeout(Duration::from_secs(10)).expect("node up");
        // One thread each: the inspected connection's write stalls.
        let writers: Vec<_> = conns
            .into_iter()
            .map(|mut s| {
                std::thread::spawn(move || {
                    let _ = s.write_all(&[2u8; 100_000]);
                    let _ = s.shutdown(std::net::Shutdown::Write);
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    bridge(&["link", "del", "br0"]);
    let child = start(&lab, &dir, POLICY);
    tx.send(()).unwrap();
    client.join().unwrap();
    let got: Vec<usize> = servers.into_iter().map(|h| h.join().unwrap()).collect();
    let table = table_of(&child, &dir);
    let (status, err) = stop(child);
    let err = format!("{err}\n{table}");
    std::fs::remove_dir_all(&dir).ok();
    assert!(status.success(), "{err}");
    assert_eq!(
        got[0], 1000,
        "the inspected connection stops at the node: {err}"
    );
    assert_eq!(
        got[1], 101_000,
        "the bypass connection is picked up mid-stream: {err}"
    );
    assert!(drops(&err, "tcp-not-syn") >= 1, "{err}");
}

#[test]
fn with_offloads_on_tcp_crosses_as_whole_gso_super_packets() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::with_offloads(&format!("rp-rgs{}", std::process::id()));
    let dir = std::env::temp_dir().join(format!("rampart-rgs-{}", std::process::id()));
    let child = start_with(&lab, &dir, POLICY, 2);
    let ok = transfer(&lab, 5001, 10 << 20);
    let (status, err) = stop(child);
    std::fs::remove_dir_all(&dir).ok();
    assert!(status.success(), "{err}");
    assert!(ok, "10 MB arrive intact: {err}");
    let gso: u64 = err
        .split("gso_frames=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(gso > 0, "super-packets crossed whole: {err}");
    assert_eq!(drops(&err, "tcp-seq-past-win"), 0, "{err}");
}
