//! The benchmark's small-packet generator, `udpblast`, across real
//! namespaces: what the receiver counts is what the sender sent (through
//! a kernel bridge, paced so nothing is lost), the send stops at its count
//! bound, and its many-flows mode makes one conntrack entry per flow in a
//! stateful router. Needs root.
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::time::Duration;

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
    let rx = in_ns(
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
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("receiver");
    std::thread::sleep(Duration::from_millis(300));
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
    let got = rx.wait_with_output().expect("receiver output");
    let got = String::from_utf8(got.stdout).unwrap();
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
