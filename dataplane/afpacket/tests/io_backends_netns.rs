//! Real traffic through the bridge over every I/O back end: the per-frame
//! `TPACKET_V2` ring, the `TPACKET_V3` block rings and
//! `recvmmsg`/`sendmmsg`, each with the links'
//! offloads on (vnet headers: 64 KiB super-packets cross whole) and off.
//! A client and a server namespace are joined only through a node
//! namespace where the bridge runs the engine (ASA defaults). Each case
//! carries 1 MB of TCP checked end to end, 200 UDP datagrams, and a
//! VLAN-tagged frame that must arrive with its tag; a connection opened
//! from the outside must be dropped by the engine. Namespaces are created
//! and removed by the test (on drop, also when it fails); needs root.
#![cfg(target_os = "linux")]
// Test threads enter namespaces and keep wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_afpacket::afpacket::{PacketSocket, RxBatch};
use rampart_afpacket::io::{IoChoice, PacketIo};
use rampart_afpacket::ring::IoMode;
use rampart_dataplane::IfaceId;
use rampart_dataplane::trace::{Host, udp_frame, vlan_tagged};
use rampart_node::lab::{Lab, Role, is_root};

/// UDP datagrams sent client to server.
const UDP_DATAGRAMS: usize = 200;
/// TCP bytes sent client to server.
const TCP_BYTES: u32 = 1_000_000;

fn through_bridge(tag: &str, offloads: bool, choice: IoChoice, want: IoMode) {
    if !is_root() {
        eprintln!("skipped: network namespaces and AF_PACKET need root");
        return;
    }
    let prefix = format!("rp{tag}{}", std::process::id());
    let lab = if offloads {
        Lab::with_offloads(&prefix).unwrap()
    } else {
        Lab::new(&prefix).unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let bridge = common::spawn_bridge(&lab, &stop, move |name| {
        let (s, refused) = PacketIo::open(name, offloads, choice).expect(name);
        assert!(refused.is_none(), "{name}: ring refused: {refused:?}");
        s
    });
    // Whatever fails below, the bridge thread stops (and the namespaces
    // go when `lab` drops).
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop_guard = StopOnDrop(stop.clone());

    // TCP, 1 MB, checked by the server's digest.
    let (got, expect, received) = common::tcp_through(&lab, TCP_BYTES);
    assert_eq!(got, expect, "TCP bytes intact");
    assert_eq!(received, TCP_BYTES as usize);

    // UDP: every datagram arrives (paced; bounded in count and time).
    let sink = lab
        .spawn(Role::Server, || {
            let s = UdpSocket::bind("198.18.0.20:5301").expect("bind");
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut got = 0;
            let mut buf = [0u8; 2048];
            while got < UDP_DATAGRAMS && Instant::now() < deadline {
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    assert_eq!(n, 100);
                    got += 1;
                }
            }
            got
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    lab.spawn(Role::Client, || {
        let s = UdpSocket::bind("198.18.0.10:0").expect("bind");
        for i in 0..UDP_DATAGRAMS {
            s.send_to(&[i as u8; 100], "198.18.0.20:5301")
                .expect("send");
            if i % 20 == 19 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    })
    .expect("namespace thread")
    .join()
    .expect("udp client");
    assert_eq!(
        sink.join().expect("udp sink"),
        UDP_DATAGRAMS,
        "UDP datagrams"
    );

    // A VLAN-tagged frame crosses with its tag (the kernel strips it on
    // receive; the bridge puts it back).
    let (c, s) = {
        let c = Host {
            mac: [0x02, 0, 0, 0, 0, 0x11],
            ip: [198, 18, 0, 11].into(),
            port: 4000,
            iface: IfaceId(0),
        };
        let s = Host {
            mac: [0x02, 0, 0, 0, 0, 0x22],
            ip: [198, 18, 0, 21].into(),
            port: 53,
            iface: IfaceId(1),
        };
        (c, s)
    };
    let tagged = vlan_tagged(udp_frame(&c, &s, b"tagged through the bridge"), 0, 42);
    assert_eq!(
        crossing(&lab, (Role::Client, "c0"), (Role::Server, "s0"), &[&tagged]),
        [true],
        "the VLAN-tagged frame arrived with its tag"
    );
    // Its connection is of VLAN 42 (docs/asa-behaviour.md §2.6): the
    // answer passes on VLAN 42, and the same answer on VLAN 43 belongs to
    // no connection (outside to inside: denied).
    let answer = udp_frame(&s, &c, b"answered on its own VLAN only");
    let (other, own) = (
        vlan_tagged(answer.clone(), 0, 43),
        vlan_tagged(answer, 0, 42),
    );
    assert_eq!(
        crossing(
            &lab,
            (Role::Server, "s0"),
            (Role::Client, "c0"),
            &[&other, &own]
        ),
        [false, true],
        "the answer crosses on its connection's VLAN only"
    );

    // A connection opened from the outside (security 0 → 100) is refused.
    assert!(
        common::outside_connect_fails(&lab),
        "outside-initiated connection opened"
    );

    let b = common::stop_and_check(&stop, bridge);
    assert_eq!(b.io_modes(), [want, want]);
    if offloads {
        assert!(b.counters.gso_frames > 0, "super-packets crossed whole");
    }
    let mut copied = 0;
    for s in &b.sockets {
        if let Some(rc) = s.ring_counters() {
            assert_eq!(rc.bad_blocks_total(), 0);
            assert_eq!(s.tx_stats().dropped(), 0, "no frame failed to leave");
            assert_eq!(rc.no_vlan_room, 0);
            match want {
                IoMode::Ring => {
                    assert!(rc.slots > 0);
                    assert_eq!(rc.copy_missing, 0);
                    assert_eq!(rc.copy_stale, 0);
                    copied += rc.copied;
                }
                _ => assert!(rc.blocks > 0),
            }
            // Super-packets leave through the transmit ring's companion
            // socket (the server side sends only small segments back).
            if offloads {
                assert!(rc.tx_spilled > 0 || s.name() == "c1");
            }
        }
    }
    if want == IoMode::Ring {
        // Super-packets are larger than a slot: they cross through the
        // copy path, whole; without offloads every frame fits a slot.
        assert_eq!(copied > 0, offloads, "frames copied whole: {copied}");
    }
    // The bridge's counters (what /metrics exports) hold the rings' sums.
    assert_eq!(b.counters.ring_rx_copied, copied);
    assert_eq!(b.counters.ring_bad_slots, 0);
}

/// One test per back end and offload setting: `name: tag, offloads,
/// back end` (the `IoChoice` asked for and the `IoMode` it must give).
macro_rules! through_bridge_cases {
    ($($name:ident: $tag:literal, $offloads:literal, $mode:ident;)*) => {
        $(
            #[test]
            fn $name() {
                through_bridge($tag, $offloads, IoChoice::$mode, IoMode::$mode);
            }
        )*
    };
}

through_bridge_cases! {
    frame_ring_io_carries_tcp_udp_and_vlan_with_offloads_on: "fon", true, Ring;
    frame_ring_io_carries_tcp_udp_and_vlan_with_offloads_off: "fof", false, Ring;
    block_ring_io_carries_tcp_udp_and_vlan_with_offloads_on: "ron", true, BlockRing;
    block_ring_io_carries_tcp_udp_and_vlan_with_offloads_off: "rof", false, BlockRing;
    mmsg_io_carries_tcp_udp_and_vlan_with_offloads_on: "mon", true, Mmsg;
    mmsg_io_carries_tcp_udp_and_vlan_with_offloads_off: "mof", false, Mmsg;
}

/// Send `frames` (in order) from `from`'s interface and report which of
/// them arrive, byte for byte, on `to`'s within a second of the last.
fn crossing(
    lab: &Lab,
    (from, from_if): (Role, &'static str),
    (to, to_if): (Role, &'static str),
    frames: &[&[u8]],
) -> Vec<bool> {
    let want: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    let n = want.len();
    let sent = Arc::new(AtomicBool::new(false));
    let listener = lab
        .spawn(to, {
            let sent = Arc::clone(&sent);
            move || {
                let sock = PacketSocket::open(to_if).expect("open the receiving side");
                let mut rx = RxBatch::new();
                let mut seen = vec![false; want.len()];
                let mut deadline = Instant::now() + Duration::from_secs(5);
                let mut after_send = false;
                while Instant::now() < deadline && !seen.iter().all(|&s| s) {
                    if !after_send && sent.load(Ordering::Acquire) {
                        after_send = true;
                        deadline = deadline.min(Instant::now() + Duration::from_secs(1));
                    }
                    let got = sock.recv_batch(&mut rx).expect("recv");
                    for i in 0..got {
                        for (k, w) in want.iter().enumerate() {
                            seen[k] |= rx.frame_ref(i) == w.as_slice();
                        }
                    }
                    if got == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                seen
            }
        })
        .expect("namespace thread");
    std::thread::sleep(Duration::from_millis(100));
    let out: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    lab.spawn(from, move || {
        let sock = PacketSocket::open(from_if).expect("open the sending side");
        for f in &out {
            assert_eq!(sock.send_batch(&[f]).expect("send"), 1);
        }
    })
    .expect("namespace thread")
    .join()
    .expect("sender");
    sent.store(true, Ordering::Release);
    let seen = listener.join().expect("listener");
    assert_eq!(seen.len(), n);
    seen
}
