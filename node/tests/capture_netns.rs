//! `capture` on a real node (docs/asa-behaviour.md §2.11): a raw-data
//! capture on the inside and one on the outside over the admin API, a TCP
//! connection from the client's namespace through `rampart run` with two
//! workers; `show capture` lists its SYN entering on the inside with the
//! client's MSS and leaving by the outside clamped to 1380, the pcap file
//! holds the SYN; an asp-drop capture records a SYN from the outside,
//! denied, with its reason; without the admin token every capture
//! endpoint is refused. Needs root, as CI has; builds and removes its own
//! namespaces.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rampart_node::lab::netns::sysctl;
use rampart_node::lab::{Lab, NodeProc, Role, is_root};
use rampart_ops::capture::{CaptureQuery, CaptureView};
use rampart_ops::client::ClientError;

const WORKERS: usize = 2;
const PORT: u16 = 5410;
/// A port on the client that the server's SYN is denied to.
const DENIED_PORT: u16 = 5411;
/// How long the node may take to show what was sent.
const WAIT: Duration = Duration::from_secs(5);

const POLICY: &str = "\
hostname fw-a
access-list IN extended permit tcp any any
access-group IN in interface inside
";

fn show(node: &NodeProc, name: &str, want: usize) -> CaptureView {
    let deadline = Instant::now() + WAIT;
    loop {
        let q = CaptureQuery {
            name: name.into(),
            ..Default::default()
        };
        let v = node
            .endpoint()
            .admin(true, move |c| c.capture(&q))
            .unwrap_or_else(|e| panic!("{e}"));
        if v.packets.len() >= want || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_real_node_captures_a_connection_and_a_denied_syn() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Lab::new(&format!("rp-cap{}", std::process::id())).unwrap();
    // The MSS the hosts announce is 1460 (no timestamps, MTU 1500).
    for role in [Role::Client, Role::Server] {
        sysctl(&lab.ns(role), "net.ipv4.tcp_timestamps=0").expect("sysctl");
    }
    let dir = std::env::temp_dir().join(format!("rampart-cap-{}", std::process::id()));
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rampart"));
    let node = lab
        .start_node(exe, &dir, POLICY, WORKERS)
        .unwrap_or_else(|e| panic!("{e}"));
    let cmd = |line: &'static str| {
        node.endpoint()
            .admin(true, move |c| c.capture_command(line))
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    };
    cmd("capture in interface inside match tcp any any eq 5410");
    cmd("capture out interface outside match tcp any any eq 5410");
    cmd("capture drops type asp-drop acl-drop");
    // Without the admin token: refused, reads too.
    let open = node.endpoint().admin(false, |c| c.captures().map(|_| ()));
    let open_pcap = node
        .endpoint()
        .admin(false, |c| c.capture_pcap("in").map(|_| ()));

    let server = lab
        .spawn(Role::Server, || {
            let l = TcpListener::bind(("198.18.0.20", PORT)).expect("listen");
            let (mut conn, _) = l.accept().expect("accept");
            conn.write_all(b"hello").expect("send");
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    lab.spawn(Role::Client, || {
        let addr: SocketAddr = ([198, 18, 0, 20], PORT).into();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .expect("connect through rampart");
        let mut got = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_to_end(&mut got).expect("receive");
        assert_eq!(got, b"hello");
    })
    .expect("namespace thread")
    .join()
    .unwrap();
    server.join().unwrap();
    // From the outside to the client: denied (no access-group there).
    lab.spawn(Role::Server, || {
        let addr: SocketAddr = ([198, 18, 0, 10], DENIED_PORT).into();
        let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    })
    .expect("namespace thread")
    .join()
    .unwrap();

    let inside = show(&node, "in", 3);
    let outside = show(&node, "out", 3);
    let drops = show(&node, "drops", 1);
    let list = node
        .endpoint()
        .admin(true, |c| c.captures())
        .unwrap_or_else(|e| panic!("{e}"));
    let pcap = node
        .endpoint()
        .admin(true, |c| c.capture_pcap("in"))
        .unwrap_or_else(|e| panic!("{e}"));
    let removed = node
        .endpoint()
        .admin(true, |c| c.capture_command("no capture in"));
    let summary = node.stop().unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).ok();
    let err = format!("{summary:?}\n{inside:#?}\n{outside:#?}\n{drops:#?}");

    let refused = |r: Result<(), rampart_node::lab::NodeError>| match r {
        Err(rampart_node::lab::NodeError::Admin {
            source: ClientError::Refused { status, .. },
            ..
        }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused(open), 401);
    assert_eq!(refused(open_pcap), 401);

    // The SYN enters on the inside with the client's MSS, and leaves by
    // the outside clamped (the ASA's default, 1380); the SYN-ACK comes
    // back the other way.
    let syn = &inside.packets[0];
    assert_eq!(
        (syn.seen.as_str(), syn.interface.as_str()),
        ("ingress", "inside"),
        "{err}"
    );
    assert!(syn.line.starts_with("198.18.0.10."), "{err}");
    assert!(syn.line.contains(" > 198.18.0.20.5410: S "), "{err}");
    assert!(syn.line.contains("<mss 1460"), "{err}");
    let out_syn = &outside.packets[0];
    assert_eq!(out_syn.seen, "egress", "{err}");
    assert!(
        out_syn.line.contains(": S ") && out_syn.line.contains("<mss 1380"),
        "{err}"
    );
    assert!(
        inside
            .packets
            .iter()
            .any(|p| p.seen == "egress" && p.line.contains("198.18.0.20.5410 > ")),
        "the SYN-ACK leaving by the inside: {err}"
    );
    // The denied SYN, with its reason.
    assert!(
        drops
            .packets
            .iter()
            .any(|p| p.line.contains(&format!(".{DENIED_PORT}: S "))
                && p.line
                    .ends_with("Drop-reason: (acl-drop) Flow is denied by configured rule")),
        "{err}"
    );
    assert!(
        list.text
            .contains("capture in type raw-data interface inside [Capturing - "),
        "{}",
        list.text
    );

    // The pcap file holds the SYN as it arrived.
    let mut r = pcap_file::pcap::PcapReader::new(&pcap[..]).expect("a pcap file");
    let first = r.next_packet().expect("a record").expect("readable");
    let p = etherparse::SlicedPacket::from_ethernet(&first.data).expect("a frame");
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP: {err}")
    };
    assert!(t.syn() && !t.ack() && t.destination_port() == PORT, "{err}");
    assert_eq!(removed.unwrap_or_else(|e| panic!("{e}")).action, "removed");
}
