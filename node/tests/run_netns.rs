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
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("node.toml");
    std::fs::write(
        &file,
        format!(
            "[node]\nid = 1\nname = \"fw-a\"\ndata_dir = \"{}\"\npolicy = \"policy.cfg\"\n\n\
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
    let file = write_node(dir, "c1", policy);
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
            use rampart_dataplane::io::afpacket::PacketSocket;
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
