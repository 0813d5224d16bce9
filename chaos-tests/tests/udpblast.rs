//! The benchmark's small-packet generator, `udpblast`, across real
//! namespaces: what the receiver counts is what the sender sent (through
//! a kernel bridge, paced so nothing is lost), the send stops at its count
//! bound, and its many-flows mode makes one conntrack entry per flow in a
//! stateful router. Needs root.
#![cfg(target_os = "linux")]
// The test bounds its waits for the processes it starts with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_node::lab::{Lab, Role, is_root, sh};

const BLAST: &str = env!("CARGO_BIN_EXE_udpblast");

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, BLAST]).args(args);
    c
}

/// The `key` number of a udpblast JSON line.
fn field(json: &str, key: &str) -> u64 {
    let pat = format!("\"{key}\":");
    let rest = &json[json.find(&pat).unwrap_or_else(|| panic!("{key} in {json}")) + pat.len()..];
    rest.split([',', '}']).next().unwrap().parse().unwrap()
}

/// How long the receiver may take to bind its sockets and say `listening`.
const LISTEN_LIMIT: Duration = Duration::from_secs(10);
/// How long the receiver may run in all: past its own `--seconds` bound
/// (20 s), with room for a loaded machine.
const RECV_LIMIT: Duration = Duration::from_secs(40);

/// A `udpblast recv` child. Started, it has said `listening` on stderr
/// (its sockets are bound: nothing the sender sends after is lost to a
/// late bind). Dropped without [`Receiver::finish`], as on a failed
/// assert, it is killed by its PID and reaped.
struct Receiver {
    child: Option<Child>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Receiver {
    /// Spawn `c` and wait, at most `LISTEN_LIMIT`, for its `listening`
    /// line.
    fn start(c: &mut Command) -> Receiver {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("receiver");
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (listening, heard) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(out).read_to_string(&mut s);
            s
        });
        let stderr = std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line == "listening" {
                    let _ = listening.send(());
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            seen
        });
        let mut rx = Receiver {
            child: Some(child),
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        if heard.recv_timeout(LISTEN_LIMIT).is_err() {
            rx.kill();
            let said = rx.stderr.take().map(|t| t.join().unwrap_or_default());
            panic!("the receiver did not say `listening` within {LISTEN_LIMIT:?}: {said:?}");
        }
        rx
    }

    /// Wait for the receiver's end (at most `RECV_LIMIT`) and return its
    /// stdout; panics, with its stderr, if it failed or ran too long.
    fn finish(mut self) -> String {
        let mut child = self.child.take().expect("a running receiver");
        let t0 = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if t0.elapsed() < RECV_LIMIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => break None,
            }
        };
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let join = |t: Option<JoinHandle<String>>| t.map(|t| t.join().unwrap_or_default());
        let (out, err) = (join(self.stdout.take()), join(self.stderr.take()));
        assert!(
            status.is_some_and(|s| s.success()),
            "the receiver failed or ran past {RECV_LIMIT:?} ({status:?}): {err:?}"
        );
        out.unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Our own child, not yet reaped: the PID is still its own.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

fn output(c: &mut Command) -> String {
    let out = c.stderr(Stdio::inherit()).output().expect("run udpblast");
    assert!(out.status.success(), "udpblast failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn what_is_sent_through_a_bridge_is_counted_and_the_count_bounds_the_send() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let lab = Lab::new(&format!("rp-ub{}", std::process::id())).unwrap();
    let n = lab.ns(Role::Node);
    sh(&["ip", "-n", &n, "link", "add", "br0", "type", "bridge"]).unwrap();
    for dev in ["c1", "s1"] {
        sh(&["ip", "-n", &n, "link", "set", dev, "master", "br0"]).unwrap();
    }
    sh(&["ip", "-n", &n, "link", "set", "br0", "up"]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let rx = Receiver::start(&mut in_ns(
        &lab.ns(Role::Server),
        &[
            "recv",
            "--bind",
            "198.18.0.20:9000",
            "--ports",
            "4",
            "--seconds",
            "20",
            "--idle-ms",
            "1500",
            "--expect",
            "30000",
        ],
    ));
    let sent = output(&mut in_ns(
        &lab.ns(Role::Client),
        &[
            "send",
            "--to",
            "198.18.0.20:9000",
            "--ports",
            "4",
            "--count",
            "30000",
            "--rate",
            "50000",
            "--seconds",
            "10",
        ],
    ));
    let got = rx.finish();
    assert_eq!(field(&sent, "sent"), 30_000, "{sent}");
    assert_eq!(field(&sent, "flows"), 4, "{sent}");
    assert_eq!(field(&got, "received"), 30_000, "{got}");
    assert_eq!(field(&got, "foreign"), 0, "{got}");
}

#[test]
fn many_flows_make_one_conntrack_entry_each_in_a_stateful_router() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let lab = Lab::new(&format!("rp-uf{}", std::process::id())).unwrap();
    let (c, s, n) = (
        lab.ns(Role::Client),
        lab.ns(Role::Server),
        lab.ns(Role::Node),
    );
    sh(&["ip", "-n", &n, "addr", "add", "198.18.0.1/24", "dev", "c1"]).unwrap();
    sh(&["ip", "-n", &n, "addr", "add", "198.18.1.1/24", "dev", "s1"]).unwrap();
    sh(&["ip", "-n", &s, "addr", "flush", "dev", "s0"]).unwrap();
    sh(&["ip", "-n", &s, "addr", "add", "198.18.1.20/24", "dev", "s0"]).unwrap();
    sh(&[
        "ip",
        "-n",
        &c,
        "route",
        "add",
        "198.18.128.0/17",
        "via",
        "198.18.0.1",
    ])
    .unwrap();
    sh(&[
        "ip",
        "-n",
        &n,
        "route",
        "add",
        "198.18.128.0/17",
        "via",
        "198.18.1.20",
    ])
    .unwrap();
    sh(&[
        "ip",
        "netns",
        "exec",
        &n,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ])
    .unwrap();
    sh(&[
        "ip", "netns", "exec", &n, "nft", "add", "table", "inet", "t",
    ])
    .unwrap();
    sh(&[
        "ip",
        "netns",
        "exec",
        &n,
        "nft",
        "add chain inet t f { type filter hook forward priority 0; policy accept; }",
    ])
    .unwrap();
    sh(&[
        "ip", "netns", "exec", &n, "nft", "add", "rule", "inet", "t", "f", "ct", "state", "new",
        "counter", "accept",
    ])
    .unwrap();
    let sent = output(&mut in_ns(
        &c,
        &[
            "send",
            "--to",
            "198.18.128.0:10000",
            "--hosts",
            "10",
            "--ports",
            "200",
            "--count",
            "2000",
            "--seconds",
            "10",
        ],
    ));
    assert_eq!(field(&sent, "sent"), 2000, "{sent}");
    assert_eq!(field(&sent, "flows"), 2000, "{sent}");
    let count = Command::new("ip")
        .args([
            "netns",
            "exec",
            &n,
            "cat",
            "/proc/sys/net/netfilter/nf_conntrack_count",
        ])
        .output()
        .unwrap();
    let count: u64 = String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(count, 2000, "one entry per flow, each flow sent once");
}

#[test]
fn out_of_range_arguments_are_refused() {
    for args in [
        &["send", "--to", "198.18.0.20:9000", "--size", "8"][..],
        &["send", "--to", "198.18.0.20:65535", "--ports", "2"],
        &["send", "--to", "198.18.0.20:9000", "--seconds", "0"],
        &["recv", "--bind", "198.18.0.20:9000", "--ports", "0"],
    ] {
        let out = Command::new(BLAST).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} must be refused");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}
