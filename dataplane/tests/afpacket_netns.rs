//! AF_PACKET sockets on a real veth pair in a network namespace this test
//! creates and removes: frames sent on one end arrive byte-for-byte on the
//! other, VLAN tags included (the kernel strips them into PACKET_AUXDATA and
//! the socket puts them back). Needs root, as CI has; without it the test
//! says so and returns.
#![cfg(target_os = "linux")]
// A test thread must enter the namespace (setns is per thread) and wait
// for frames with a wall-clock deadline; the engine itself does neither.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use rampart_chaos_tests::netns::{Netns, is_root, sh};
use rampart_dataplane::io::afpacket::{PacketSocket, RxBatch};
use rampart_dataplane::trace::{udp_frame, v4_pair};

/// A namespace holding the veth pair `rpx0`/`rpx1`, removed on drop.
fn with_veth(name: &str) -> Netns {
    let ns = Netns::new(name);
    sh(&[
        "ip", "-n", name, "link", "add", "rpx0", "type", "veth", "peer", "name", "rpx1",
    ]);
    sh(&["ip", "-n", name, "link", "set", "rpx0", "up"]);
    sh(&["ip", "-n", name, "link", "set", "rpx1", "up"]);
    ns
}

/// Receive until `want` frames arrived or two seconds passed.
fn receive(sock: &PacketSocket, want: usize) -> Vec<Vec<u8>> {
    let mut rx = RxBatch::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < want && Instant::now() < deadline {
        let n = sock.recv_batch(&mut rx).expect("recv");
        for i in 0..n {
            let (frame, _meta, truncated) = rx.frame(i);
            assert!(!truncated);
            // IPv6 router solicitations and the like may cross too: keep ours.
            if frame.get(12..14) == Some(&[0x08, 0x00]) || frame.get(12..14) == Some(&[0x81, 0x00])
            {
                got.push(frame.to_vec());
            }
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    got
}

#[test]
fn frames_cross_a_veth_pair_intact_vlan_tags_included() {
    if !is_root() {
        eprintln!("skipped: AF_PACKET and network namespaces need root");
        return;
    }
    let ns = with_veth(&format!("rp-afp-{}", std::process::id()));
    let received = ns
        .spawn(|| {
            let tx = PacketSocket::open("rpx0").expect("open rpx0");
            let rx = PacketSocket::open("rpx1").expect("open rpx1");
            let (c, s) = v4_pair(4000, 53);
            let plain = udp_frame(&c, &s, b"plain frame");
            let mut tagged = udp_frame(&c, &s, b"tagged frame");
            tagged.splice(12..12, [0x81, 0x00, 0x00, 0x2a]); // VLAN 42
            let big = udp_frame(&c, &s, &[7u8; 1400]);
            let sent = vec![plain, tagged, big];
            let refs: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
            assert_eq!(tx.send_batch(&refs).expect("send"), 3);
            (sent, receive(&rx, 3))
        })
        .join()
        .expect("namespace thread");
    let (sent, got) = received;
    assert_eq!(got, sent, "frames arrive exactly as sent");
}

#[test]
fn opening_a_missing_interface_says_so() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let ns = with_veth(&format!("rp-afq-{}", std::process::id()));
    let err = ns
        .spawn(|| PacketSocket::open("rp-nope0").unwrap_err().to_string())
        .join()
        .unwrap();
    assert_eq!(err, "rp-nope0: no such interface");
}
