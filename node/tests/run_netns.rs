//! `rampart run` as a real process in a node namespace: TCP from the
//! client reaches the server through it, and SIGTERM (sent to its PID)
//! stops it cleanly with its counters printed. Needs root, as CI has.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_node::lab::{Lab, NodeProc, NodeSpec, Role, fnv, is_root, write_standalone};
use rampart_node::summary::Summary;
use rampart_ops::show_conn::{ConnFilter, render_conn_list};

/// Write the node file (inside interface `inside`, outside `s1`, `workers`
/// worker threads, `[ops]` on its loopback) and its policy.
fn write_node(
    dir: &std::path::Path,
    inside: &'static str,
    policy: &str,
    workers: usize,
) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("policy.cfg"), policy).unwrap();
    let me = NodeSpec {
        id: 1,
        name: "fw-a",
        inside,
        outside: "s1",
        sync: "127.0.0.1",
        workers,
        conn_log: false,
    };
    write_standalone(dir, &me, "").unwrap()
}

/// `rampart run` in the lab's node namespace, as a person starts it.
fn rampart(lab: &Lab, node_file: &std::path::Path) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &lab.ns(Role::Node),
        env!("CARGO_BIN_EXE_rampart"),
        "run",
        "--config",
    ])
    .arg(node_file);
    cmd
}

/// Start the daemon with the lab's interfaces and `policy`.
fn start(lab: &Lab, dir: &std::path::Path, policy: &str) -> NodeProc {
    start_with(lab, dir, policy, 1)
}

/// The same with `workers` worker threads; returns once it is ready.
fn start_with(lab: &Lab, dir: &std::path::Path, policy: &str, workers: usize) -> NodeProc {
    let file = write_node(dir, "c1", policy, workers);
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let mut node = NodeProc::start(lab.netns(Role::Node), exe, &file, "fw-a").expect("start");
    node.wait_ready(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    node
}

/// SIGTERM by PID: the daemon stops cleanly with its exit summary.
fn stop(node: NodeProc) -> Summary {
    node.stop().unwrap_or_else(|e| panic!("{e}"))
}

/// Send `bytes` from the client to a server on port `port` through the
/// node; returns whether the server's digest of what it got matches.
fn transfer(lab: &Lab, port: u16, bytes: usize) -> bool {
    let server = lab
        .spawn(Role::Server, move || {
            let l = TcpListener::bind(("198.18.0.20", port)).expect("listen");
            let (mut conn, _) = l.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut data = Vec::new();
            conn.read_to_end(&mut data).expect("read");
            conn.write_all(&fnv(&data).to_be_bytes()).unwrap();
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let payload: Vec<u8> = (0..bytes as u32).map(|i| (i % 251) as u8).collect();
    let expect = fnv(&payload);
    let got = lab
        .spawn(Role::Client, move || {
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
        .expect("namespace thread")
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
    let lab = Lab::new(&format!("rp-run{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-run-{}", std::process::id()));
    let mut child = start(
        &lab,
        &dir,
        "hostname fw-a\naccess-list OUT permit tcp any host 198.18.0.10 eq 5003\naccess-group OUT in interface outside\n",
    );
    assert!(
        transfer(&lab, 5001, 300_000),
        "the server received exactly the bytes sent"
    );

    // The access-group admits outside → inside on port 5003 only.
    let listener = lab
        .spawn(Role::Client, || {
            let l = TcpListener::bind("198.18.0.10:5003").expect("listen");
            l.set_nonblocking(false).unwrap();
            l.accept().is_ok()
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let opened = lab
        .spawn(Role::Server, || {
            let addr: SocketAddr = "198.18.0.10:5003".parse().unwrap();
            TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
        })
        .expect("namespace thread")
        .join()
        .unwrap();
    assert!(opened, "the access-group permits this inbound connection");
    assert!(listener.join().unwrap());

    // The operator's CLI with the node file goes through the admin
    // socket in the node's data directory (docs/ops.md §1): no network
    // namespace needed, since the socket is a file.
    let node_file = dir.join("fw-a.toml");
    let socket = dir.join("fw-a").join("admin.sock");
    let cli = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["show", "counters", "--json", "--config"])
        .arg(&node_file)
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{answer}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let counters: rampart_ops::model::Counters = serde_json::from_str(&answer).unwrap();
    let socket_up = counters
        .ops_listeners
        .iter()
        .any(|l| l.listener == "admin_socket" && l.up);
    assert!(socket_up, "{answer}");
    assert!(socket.exists());

    // The same node file started again: refused, naming the running
    // node, which would otherwise see every frame forwarded twice.
    let second = rampart(&lab, &node_file).output().unwrap();
    let second_err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{second_err}");
    assert!(
        second_err.contains(&format!(
            "another process (pid {}) holds this lock: a node runs on the data directory",
            child.pid()
        )),
        "{second_err}"
    );

    // Another node file, with a data directory of its own, on the same
    // interfaces: refused too, naming the running node (docs/ops.md §4).
    let other_dir = dir.join("other");
    let other_file = write_node(&other_dir, "c1", POLICY, 1);
    let mut third = rampart(&lab, &other_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let third_deadline = Instant::now() + Duration::from_secs(10);
    while third.try_wait().unwrap().is_none() && Instant::now() < third_deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if third.try_wait().unwrap().is_none() {
        // By its PID (`ip netns exec` runs the node in its own process).
        third.kill().ok();
        third.wait().ok();
        panic!("a second node started on the interfaces the first bridges");
    }
    let third = third.wait_with_output().unwrap();
    let third_err = String::from_utf8_lossy(&third.stderr);
    assert!(!third.status.success(), "{third_err}");
    assert!(
        third_err.contains(&format!(
            "is bridged by another Rampart node already (pid {})",
            child.pid()
        )),
        "{third_err}"
    );

    // A hang-up (the operator's terminal closed) stops nothing: the node
    // logs that it reloads no file and keeps bridging.
    // SAFETY: kill(2) to the child this test started, by its PID.
    unsafe { libc::kill(child.pid() as libc::pid_t, libc::SIGHUP) };
    let hup_deadline = Instant::now() + Duration::from_secs(5);
    let hup_logged = || {
        child
            .log()
            .into_iter()
            .any(|r| r.message.starts_with("SIGHUP ignored"))
    };
    while !hup_logged() && Instant::now() < hup_deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(hup_logged(), "{}", child.output());
    assert!(
        !child.exited(),
        "SIGHUP stopped the node: {}",
        child.output()
    );
    assert!(
        transfer(&lab, 5002, 10_000),
        "the node bridges after SIGHUP"
    );

    // The log says the policy was loaded, and what it ignored.
    let loaded = child.log().into_iter().any(|r| {
        r.message.starts_with("policy ") && r.message.contains("loaded (1 line(s) ignored)")
    });
    let output = child.output();
    let summary = stop(child);
    let socket_left = socket.exists();
    std::fs::remove_dir_all(&dir).ok();
    assert!(!socket_left, "the admin socket outlived the node");
    assert!(loaded, "{output}");
    assert!(summary.counters.forwarded > 0, "{summary:?}");
}

#[test]
fn the_daemon_survives_a_flood_of_malformed_frames_and_keeps_forwarding() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-fld{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-fld-{}", std::process::id()));
    let child = start(&lab, &dir, "hostname fw-a\n");
    // 20,000 crafted frames from the client side: random bytes, and real
    // frames with random bytes overwritten (bounded in count).
    let sent = lab
        .spawn(Role::Client, || {
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
        .expect("namespace thread")
        .join()
        .unwrap();
    assert!(sent > 10_000, "the flood went out ({sent} frames)");
    assert!(
        transfer(&lab, 5004, 200_000),
        "good traffic still passes after the flood"
    );
    let summary = stop(child);
    std::fs::remove_dir_all(&dir).ok();
    assert!(summary.counters.forwarded > 0, "{summary:?}");
}

/// A data directory named through a link (root's, so allowed) is used by
/// its resolved path from the start: the link pointed elsewhere while the
/// node runs moves none of its files (here the SIGUSR1 table dump) there.
#[test]
fn a_data_directory_link_repointed_while_the_node_runs_changes_nothing() {
    if !is_root() {
        eprintln!("skipped: rampart run needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-rln{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-rln-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (first, second) = (dir.join("real-a"), dir.join("real-b"));
    for d in [&first, &second] {
        rampart_cluster::private_files::create_private_dir_all(d).unwrap();
    }
    std::os::unix::fs::symlink(&first, dir.join("fw-a")).unwrap();
    let child = start(&lab, &dir, "hostname fw-a\n");
    let repointed = dir.join("fw-a.new");
    std::os::unix::fs::symlink(&second, &repointed).unwrap();
    std::fs::rename(&repointed, dir.join("fw-a")).unwrap();
    // SAFETY: kill(2) to the child this test started, by its PID.
    unsafe { libc::kill(child.pid() as libc::pid_t, libc::SIGUSR1) };
    let deadline = Instant::now() + Duration::from_secs(5);
    let dumped = |d: &std::path::Path| d.join("fw-a.counters").exists();
    while !dumped(&first) && !dumped(&second) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (in_first, in_second) = (dumped(&first), dumped(&second));
    let output = child.output();
    stop(child);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!in_second, "the dump followed the repointed link: {output}");
    assert!(in_first, "{output}");
}

#[test]
fn a_missing_interface_is_a_clear_error() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-rne{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-rne-{}", std::process::id()));
    let file = write_node(&dir, "nope0", "hostname fw-a\n", 1);
    let out = rampart(&lab, &file).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope0: no such interface"), "{err}");
}

/// The policy of the tests below: the seed's kind of bypass class for
/// port 5006 (either direction), everything else inspected, ICMP echo
/// included; outside may open to the client's port 5003 only.
const POLICY: &str = "hostname fw-a
access-list BYP extended permit tcp any any eq 5006
access-list BYP extended permit tcp any eq 5006 any
access-list OUT extended permit tcp any host 198.18.0.10 eq 5003
access-list OUT extended permit tcp any eq 5006 any
access-group OUT in interface outside
class-map BYP
 match access-list BYP
class-map inspection_default
 match default-inspection-traffic
policy-map global_policy
 class BYP
  set connection advanced-options tcp-state-bypass
 class inspection_default
  inspect icmp
service-policy global_policy global
";

/// A test's lab, node directory and daemon, removed on drop.
struct Daemon {
    lab: Lab,
    dir: std::path::PathBuf,
    child: Option<NodeProc>,
}

impl Daemon {
    fn new(tag: &str, workers: usize) -> Daemon {
        let lab = Lab::new(&format!("rp-{tag}{}", std::process::id())).unwrap();
        let dir = std::env::temp_dir().join(format!("rampart-{tag}-{}", std::process::id()));
        let child = Some(start_with(&lab, &dir, POLICY, workers));
        Daemon { lab, dir, child }
    }

    /// Stop it (SIGTERM); its exit summary (a clean exit).
    fn stop(&mut self) -> Summary {
        stop(self.child.take().expect("running"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            c.kill();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The daemon's `show conn detail` (its admin API), for messages.
fn table_of(node: &NodeProc) -> String {
    node.conns(&ConnFilter::default())
        .map(|l| render_conn_list(&l, true))
        .unwrap_or_else(|e| format!("(no table: {e})"))
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
    let summary = d.stop();
    assert_eq!(summary.workers, 2, "{summary:?}");
    assert_eq!(
        summary.counters.drops_of("tcp-seq-past-win"),
        0,
        "{summary:?}"
    );
}

#[test]
fn a_connection_the_policy_denies_is_blocked_and_counted() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut d = Daemon::new("rdn", 1);
    // Outside → inside: only port 5003 is permitted; 5004 is not.
    let _listener = d
        .lab
        .spawn(Role::Client, || {
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
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let opened = d
        .lab
        .spawn(Role::Server, || {
            let addr: SocketAddr = "198.18.0.10:5004".parse().unwrap();
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        })
        .expect("namespace thread")
        .join()
        .unwrap();
    assert!(!opened, "the denied connection must not open");
    assert!(!_listener.join().unwrap(), "nothing reached the client");
    let summary = d.stop();
    assert!(
        summary.counters.drops_of("acl-drop") >= 1,
        "the SYN was counted: {summary:?}"
    );
}

#[test]
fn udp_request_response_and_icmp_echo_pass() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut d = Daemon::new("rud", 2);
    let server = d
        .lab
        .spawn(Role::Server, || {
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
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let replies = d
        .lab
        .spawn(Role::Client, || {
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
        .expect("namespace thread")
        .join()
        .unwrap();
    assert_eq!(replies, 5, "every UDP query got its answer");
    assert_eq!(server.join().unwrap(), 5);
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &d.lab.ns(Role::Client),
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
    let summary = d.stop();
    // (IPv6 neighbour chatter from the outside may meet the access-group.)
    for reason in ["icmp-no-connection", "bad-udp-cksum", "icmp-malformed"] {
        assert_eq!(
            summary.counters.drops_of(reason),
            0,
            "{reason}: {summary:?}"
        );
    }
}

#[test]
fn a_connection_older_than_the_node_passes_only_in_a_bypass_class() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-rms{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-rms-{}", std::process::id()));
    let n = lab.ns(Role::Node);
    // Before the node runs, a kernel bridge carries the connections.
    let bridge = |args: &[&str]| {
        let mut full = vec!["ip", "-n", n.as_str()];
        full.extend_from_slice(args);
        rampart_node::lab::sh(&full).unwrap();
    };
    bridge(&["link", "add", "br0", "type", "bridge"]);
    bridge(&["link", "set", "c1", "master", "br0"]);
    bridge(&["link", "set", "s1", "master", "br0"]);
    bridge(&["link", "set", "br0", "up"]);
    // The server counts what each connection delivers (bounded reads).
    let servers: Vec<_> = [5005u16, 5006]
        .into_iter()
        .map(|port| {
            lab.spawn(Role::Server, move || {
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
            .expect("namespace thread")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let client = lab
        .spawn(Role::Client, move || {
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
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(300));
    bridge(&["link", "del", "br0"]);
    let child = start(&lab, &dir, POLICY);
    tx.send(()).unwrap();
    client.join().unwrap();
    let got: Vec<usize> = servers.into_iter().map(|h| h.join().unwrap()).collect();
    let table = table_of(&child);
    let summary = stop(child);
    let err = format!("{summary:?}\n{table}");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        got[0], 1000,
        "the inspected connection stops at the node: {err}"
    );
    assert_eq!(
        got[1], 101_000,
        "the bypass connection is picked up mid-stream: {err}"
    );
    assert!(summary.counters.drops_of("tcp-not-syn") >= 1, "{err}");
}

#[test]
fn with_offloads_on_tcp_crosses_as_whole_gso_super_packets() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::with_offloads(&format!("rp-rgs{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-rgs-{}", std::process::id()));
    let child = start_with(&lab, &dir, POLICY, 2);
    let ok = transfer(&lab, 5001, 10 << 20);
    let summary = stop(child);
    std::fs::remove_dir_all(&dir).ok();
    assert!(ok, "10 MB arrive intact: {summary:?}");
    assert!(
        summary.counters.io.gso_frames > 0,
        "super-packets crossed whole: {summary:?}"
    );
    assert_eq!(
        summary.counters.drops_of("tcp-seq-past-win"),
        0,
        "{summary:?}"
    );
}

/// An IPv6 prefix in an access list opens IPv6 only, and an IPv4 address
/// IPv4 only, with real connections through `rampart run`: flow keys hold
/// IPv4 as mapped IPv6, and `::/0` once matched every IPv4 packet too.
#[test]
fn an_ipv6_prefix_in_an_access_list_does_not_open_ipv4() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    const FAMILY_POLICY: &str = "\
access-list OUTSIDE_IN extended permit icmp6 any6 any6
access-list OUTSIDE_IN extended permit tcp ::/0 any eq 5022
access-list OUTSIDE_IN extended permit tcp 198.18.0.0 255.255.255.0 any eq 5044
access-group OUTSIDE_IN in interface outside
";
    let lab = Lab::new(&format!("rp-fam{}", std::process::id())).unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-fam-{}", std::process::id()));
    // Benchmarking addresses (RFC 5180 section 5) inside this test's namespaces.
    lab.add_ipv6().unwrap();
    let node = start(&lab, &dir, FAMILY_POLICY);
    // The client (inside) listens on both ports and both families.
    let listeners = lab
        .spawn(Role::Client, || {
            let ls: Vec<TcpListener> = ["[::]:5022", "[::]:5044"]
                .iter()
                .map(|a| {
                    let l = TcpListener::bind(a).expect("listen");
                    l.set_nonblocking(true).unwrap();
                    l
                })
                .collect();
            // Accept for five seconds (bounded); report who got through.
            let mut got = Vec::new();
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                for l in &ls {
                    if let Ok((_, peer)) = l.accept() {
                        got.push((l.local_addr().unwrap().port(), peer.ip().to_canonical()));
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            got
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(200));
    let opened = lab
        .spawn(Role::Server, || {
            let try_connect = |a: &str| {
                let addr: SocketAddr = a.parse().unwrap();
                TcpStream::connect_timeout(&addr, Duration::from_millis(1500)).is_ok()
            };
            [
                try_connect("[2001:2::10]:5022"),
                try_connect("198.18.0.10:5022"),
                try_connect("198.18.0.10:5044"),
                try_connect("[2001:2::10]:5044"),
            ]
        })
        .expect("namespace thread")
        .join()
        .unwrap();
    let got = listeners.join().unwrap();
    let table = table_of(&node);
    let summary = stop(node);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        opened,
        [true, false, true, false],
        "IPv6 to 5022 and IPv4 to 5044 only; accepted {got:?}\n{table}"
    );
    assert!(
        summary.counters.drops_of("acl-drop") >= 2,
        "both wrong-family SYNs were dropped by the access list: {summary:?}"
    );
}

/// `rampart packet-tracer` against a running node of two workers: a SYN
/// of an open connection finds it in the table of the worker that holds
/// it (the one `show conn` names), with its id; from outside, the entry
/// of the access-group that permits is named with its text, and the
/// implicit deny is named; and the traces open no connection.
#[test]
fn packet_tracer_finds_a_live_connection_on_its_worker() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = Daemon::new("rpt", 2);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = d
        .lab
        .spawn(Role::Server, || {
            let l = TcpListener::bind("198.18.0.20:5005").expect("listen");
            let (mut conn, _) = l.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest);
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let client = d
        .lab
        .spawn(Role::Client, move || {
            let addr: SocketAddr = "198.18.0.20:5005".parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("connect through rampart");
            s.write_all(b"hello").unwrap();
            // Open until the traces are done (bounded).
            let _ = done_rx.recv_timeout(Duration::from_secs(30));
        })
        .expect("namespace thread");
    let node = d.child.as_ref().expect("running");
    let deadline = Instant::now() + Duration::from_secs(5);
    let row = loop {
        let rows = node.conns(&ConnFilter::default()).unwrap().conns;
        if let Some(r) = rows
            .into_iter()
            .find(|r| r.responder.to_string() == "198.18.0.20")
        {
            break r;
        }
        assert!(Instant::now() < deadline, "{}", table_of(node));
        std::thread::sleep(Duration::from_millis(20));
    };
    let client_port = if row.higher.addr.to_string() == "198.18.0.10" {
        row.higher.port
    } else {
        row.lower.port
    };
    let node_file = d.dir.join("fw-a.toml");
    let trace = |words: &str| -> rampart_ops::model::PacketTrace {
        let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .arg("packet-tracer")
            .args(words.split_whitespace())
            .args(["--json", "--config"])
            .arg(&node_file)
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{answer}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&answer).unwrap()
    };
    // The table's connections by id (their idle times move; the hosts'
    // own traffic may move the counters, which the engine tests hold).
    let ids = || {
        let mut ids: Vec<(usize, u32)> = node
            .conns(&ConnFilter::default())
            .unwrap()
            .conns
            .iter()
            .map(|r| (r.worker, r.id))
            .collect();
        ids.sort_unstable();
        ids
    };
    let before = ids();
    let found = trace(&format!(
        "input inside tcp 198.18.0.10 {client_port} 198.18.0.20 5005"
    ));
    assert_eq!(found.phases[0].flow_id, Some(row.id), "{found:#?}");
    assert_eq!(found.worker, row.worker, "{found:#?}");
    assert_eq!((found.phases.len(), found.action.as_str()), (1, "allow"));
    let permit = trace("input outside tcp 198.18.0.20 40000 198.18.0.10 5003");
    let acl = &permit.phases[1];
    assert_eq!(
        (acl.access_list.as_deref(), acl.line),
        (Some("OUT"), Some(1))
    );
    assert_eq!(
        acl.config,
        [
            "access-group OUT in interface outside",
            "access-list OUT extended permit tcp any host 198.18.0.10 eq 5003"
        ]
    );
    let denied = trace("input outside tcp 198.18.0.20 40000 198.18.0.10 5004");
    assert_eq!(
        denied.drop_reason.as_deref(),
        Some("(acl-drop) Flow is denied by configured rule")
    );
    assert_eq!(denied.phases[1].config, ["Implicit Rule"]);
    assert_eq!(ids(), before, "the traces opened nothing");
    done_tx.send(()).unwrap();
    client.join().unwrap();
    server.join().unwrap();
}
