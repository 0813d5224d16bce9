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

use rampart_afpacket::afpacket::{PacketSocket, RxBatch};
use rampart_dataplane::trace::{udp_frame, v4_pair};
use rampart_node::lab::{Netns, is_root, sh};

/// A namespace holding the veth pair `rpx0`/`rpx1`, removed on drop.
fn with_veth(name: &str) -> Netns {
    let ns = Netns::new(name).unwrap();
    sh(&[
        "ip", "-n", name, "link", "add", "rpx0", "type", "veth", "peer", "name", "rpx1",
    ])
    .unwrap();
    sh(&["ip", "-n", name, "link", "set", "rpx0", "up"]).unwrap();
    sh(&["ip", "-n", name, "link", "set", "rpx1", "up"]).unwrap();
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

/// Fanout members on `rpx1` of a fresh namespace `ns_name`, `workers` of
/// them, each opened and joined to the group by `open_member`, in worker
/// order (the kernel indexes them by join order). Sends both directions of
/// `flows` UDP flows from `rpx0` (client ports from `ports.0` in steps of
/// 7, three server ports from `ports.1`), collects the IPv4 frames each
/// member receives until all arrived or two seconds passed (with `flap`,
/// after taking `rpx1` down and up once the members joined) (`recv(member,
/// keep)` reads what the member has, hands each frame to `keep`, and
/// returns how many it read), and checks that every frame reached one
/// member, the one `worker_of` names. Returns what each member got.
fn fanout_meets_worker_of<M>(
    ns_name: &str,
    workers: usize,
    flows: u16,
    ports: (u16, u16),
    flap: bool,
    open_member: impl Fn() -> M + Send + 'static,
    mut recv: impl FnMut(&mut M, &mut dyn FnMut(&[u8])) -> usize + Send + 'static,
) -> Vec<Vec<Vec<u8>>> {
    use rampart_afpacket::fanout::worker_of;
    use rampart_dataplane::flow::{Endpoint, FlowKey, Tuple, proto};
    let ns = with_veth(ns_name);
    let per_worker = ns
        .spawn(move || {
            let tx = PacketSocket::open("rpx0").expect("open rpx0");
            let mut members: Vec<M> = (0..workers).map(|_| open_member()).collect();
            if flap {
                sh(&["ip", "link", "set", "rpx1", "down"]).expect("ip link");
                sh(&["ip", "link", "set", "rpx1", "up"]).expect("ip link");
                std::thread::sleep(Duration::from_millis(200));
            }
            let mut sent = 0;
            for i in 0..flows {
                let (c, s) = v4_pair(ports.0 + i * 7, ports.1 + i % 3);
                let frames = [udp_frame(&c, &s, b"there"), udp_frame(&s, &c, b"back")];
                let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
                sent += tx.send_batch(&refs).expect("send");
            }
            assert_eq!(sent, usize::from(flows) * 2);
            let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); workers];
            let deadline = Instant::now() + Duration::from_secs(2);
            while got.iter().map(Vec::len).sum::<usize>() < sent && Instant::now() < deadline {
                let mut any = false;
                for (w, m) in members.iter_mut().enumerate() {
                    let n = recv(m, &mut |frame| {
                        if frame.get(12..14) == Some(&[0x08, 0x00]) {
                            got[w].push(frame.to_vec());
                        }
                    });
                    any |= n > 0;
                }
                if !any {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            got
        })
        .expect("namespace thread")
        .join()
        .expect("namespace thread");
    let mut total = 0;
    for (w, frames) in per_worker.iter().enumerate() {
        for f in frames {
            let ep = |a: &[u8], p: &[u8]| Endpoint {
                addr: rampart_dataplane::flow::Addr::v4(a.try_into().unwrap()),
                port: u16::from_be_bytes(p.try_into().unwrap()),
            };
            let t = Tuple {
                src: ep(&f[26..30], &f[34..36]),
                dst: ep(&f[30..34], &f[36..38]),
                proto: proto::UDP,
                vlan: 0,
            };
            assert_eq!(
                worker_of(&FlowKey::of(&t).0, workers),
                w,
                "{t:?} reached worker {w}"
            );
            total += 1;
        }
    }
    assert_eq!(
        total,
        usize::from(flows) * 2,
        "every frame reached one member"
    );
    per_worker
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
        .expect("namespace thread")
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
    let ns = with_veth(&format!("rp-afx-{}", std::process::id()));
    let err = ns
        .spawn(|| PacketSocket::open("rp-nope0").unwrap_err().to_string())
        .expect("namespace thread")
        .join()
        .unwrap();
    assert_eq!(err, "rp-nope0: no such interface");
}

/// A data interface renamed is still the one its socket is bound to and
/// still forwards: the sweep's look finds it by its index under the new
/// name, and only a deleted interface looks gone (a review found a rename
/// counted as a deletion for good). Down and up again are seen either way.
#[test]
fn a_renamed_interface_is_looked_at_by_its_index_and_a_deleted_one_is_gone() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("rp-afn-{}", std::process::id());
    let ns = with_veth(&name);
    let looks = ns
        .spawn(move || {
            let sock = PacketSocket::open("rpx1").expect("open rpx1");
            let index = sock.ifindex();
            let look = |what: &str| {
                let p = sock.probe();
                (what.to_string(), p.index == Some(index), p.running)
            };
            let ip = |args: &[&str]| {
                let mut all = vec!["ip", "link"];
                all.extend_from_slice(args);
                sh(&all).expect("ip link");
            };
            let mut looks = vec![look("up")];
            ip(&["set", "rpx1", "down"]);
            ip(&["set", "rpx1", "name", "rpy1"]);
            looks.push(look("renamed, down"));
            ip(&["set", "rpy1", "up"]);
            // The kernel sets the carrier of a link brought up a moment
            // later (its link watch runs deferred, longer on a busy
            // machine): wait for it, bounded.
            let t0 = std::time::Instant::now();
            while !sock.probe().running && t0.elapsed() < std::time::Duration::from_secs(3) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            looks.push(look("renamed, up"));
            ip(&["del", "rpy1"]);
            looks.push(look("deleted"));
            looks
        })
        .expect("namespace thread")
        .join()
        .unwrap();
    drop(ns);
    let want = |what: &str, same: bool, running: bool| (what.to_string(), same, running);
    assert_eq!(
        looks,
        [
            want("up", true, true),
            want("renamed, down", true, false),
            want("renamed, up", true, true),
            want("deleted", false, false),
        ]
    );
}

#[test]
fn fanout_hands_both_directions_of_a_flow_to_the_worker_worker_of_names() {
    fanout_members_meet_worker_of("rp-afo", false);
}

/// A link going down takes every member out of its fanout group and up
/// puts them back (the kernel's packet notifier), one by one in the order
/// the sockets were created. The node creates and joins them in worker
/// order, so the index `worker_of` names is still the worker's after a
/// flap; if the kernel ever put them back in another order, sync events
/// would reach a worker other than the one a flow's packets reach.
#[test]
fn a_link_flap_leaves_each_flow_on_the_worker_worker_of_names() {
    use rampart_afpacket::io::IoChoice;
    use rampart_afpacket::ring::IoMode;
    fanout_members_meet_worker_of("rp-afl", true);
    ring_members_meet_worker_of("rp-afm", IoChoice::BlockRing, IoMode::BlockRing, true);
}

fn fanout_members_meet_worker_of(tag: &str, flap: bool) {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut rx = RxBatch::new();
    let per_worker = fanout_meets_worker_of(
        &format!("{tag}-{}", std::process::id()),
        3,
        60,
        (40_000, 5201),
        flap,
        || {
            let s = PacketSocket::open("rpx1").expect("open rpx1");
            s.join_fanout(0x5a5a).expect("join the fanout group");
            s
        },
        move |m, keep| {
            // A flap leaves ENETDOWN pending on the socket: read once.
            let n = match m.recv_batch(&mut rx) {
                Err(e) if e.kind() == std::io::ErrorKind::NetworkDown => 0,
                r => r.expect("recv"),
            };
            (0..n).for_each(|f| keep(rx.frame_ref(f)));
            n
        },
    );
    assert!(
        per_worker.iter().all(|f| !f.is_empty()),
        "flows spread over all workers: {:?}",
        per_worker.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

/// A sender on `rpx0` and `workers` sockets on `rpx1` joined, in order,
/// to fanout group `group` (run in the namespace of [`with_veth`]).
fn fanout_group(workers: usize, group: u16) -> (PacketSocket, Vec<PacketSocket>) {
    let tx = PacketSocket::open("rpx0").expect("open rpx0");
    let members = (0..workers)
        .map(|_| {
            let s = PacketSocket::open("rpx1").expect("open rpx1");
            s.join_fanout(group).expect("join the fanout group");
            s
        })
        .collect();
    (tx, members)
}

/// The IPv4 frames each fanout member receives, until `sent` arrived or
/// 2 s passed.
fn ipv4_frames_per_member(members: &[PacketSocket], sent: usize) -> Vec<Vec<Vec<u8>>> {
    let mut rx = RxBatch::new();
    let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); members.len()];
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.iter().map(Vec::len).sum::<usize>() < sent && Instant::now() < deadline {
        let mut any = false;
        for (w, m) in members.iter().enumerate() {
            let n = m.recv_batch(&mut rx).expect("recv");
            for f in 0..n {
                let frame = rx.frame_ref(f);
                if frame.get(12..14) == Some(&[0x08, 0x00]) {
                    got[w].push(frame.to_vec());
                }
            }
            any |= n > 0;
        }
        if !any {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    got
}

/// Protocols besides TCP and UDP are spread by their addresses alone
/// (docs/io.md): both directions of GRE, ESP and SCTP flows between 40
/// pairs of hosts reach one member, the one `worker_of` names for the
/// flow's key, as the kernel runs the fanout program on them.
#[test]
fn fanout_keeps_both_directions_of_gre_esp_and_sctp_on_one_worker() {
    use rampart_afpacket::fanout::worker_of;
    use rampart_dataplane::flow::{Addr, Endpoint, FlowKey, Tuple, proto};
    use rampart_dataplane::trace::{ip_frame, sctp_header};
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    const WORKERS: usize = 3;
    const PAIRS: u8 = 40;
    let ns_name = format!("rp-afg-{}", std::process::id());
    let ns = with_veth(&ns_name);
    let per_worker = ns
        .spawn(move || {
            let (tx, members) = fanout_group(WORKERS, 0x5a5b);
            let mut frames = Vec::new();
            for i in 0..PAIRS {
                let (mut c, mut s) = v4_pair(40_000 + u16::from(i), 2905);
                c.ip = std::net::Ipv4Addr::new(198, 18, 0, 10 + i).into();
                s.ip = std::net::Ipv4Addr::new(198, 18, 1, 200 - i).into();
                let gre = [0, 0, 0x08, 0];
                let esp = [0, 0, 1, 0, 0, 0, 0, 1];
                frames.extend([
                    ip_frame(&c, &s, proto::GRE, &gre),
                    ip_frame(&s, &c, proto::GRE, &gre),
                    ip_frame(&c, &s, proto::ESP, &esp),
                    ip_frame(&s, &c, proto::ESP, &esp),
                    ip_frame(&c, &s, proto::SCTP, &sctp_header(&c, &s)),
                    ip_frame(&s, &c, proto::SCTP, &sctp_header(&s, &c)),
                ]);
            }
            let mut sent = 0;
            for chunk in frames.chunks(6) {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                sent += tx.send_batch(&refs).expect("send");
            }
            assert_eq!(sent, frames.len());
            ipv4_frames_per_member(&members, sent)
        })
        .expect("namespace thread")
        .join()
        .expect("namespace thread");
    let mut total = 0;
    for (w, frames) in per_worker.iter().enumerate() {
        for f in frames {
            let p = f[23];
            // The engine's key: SCTP's ports, none for the others.
            let port = |at: usize| match p {
                proto::SCTP => u16::from_be_bytes([f[at], f[at + 1]]),
                _ => 0,
            };
            let ep = |a: &[u8], port| Endpoint {
                addr: Addr::v4(a.try_into().unwrap()),
                port,
            };
            let t = Tuple {
                src: ep(&f[26..30], port(34)),
                dst: ep(&f[30..34], port(36)),
                proto: p,
                vlan: 0,
            };
            assert_eq!(
                worker_of(&FlowKey::of(&t).0, WORKERS),
                w,
                "{t:?} reached worker {w}"
            );
            total += 1;
        }
    }
    assert_eq!(
        total,
        usize::from(PAIRS) * 6,
        "every frame reached one member"
    );
    assert!(
        per_worker.iter().all(|f| !f.is_empty()),
        "flows spread over all workers: {:?}",
        per_worker.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

/// `frame` (IPv4) with an authentication header between its IP and UDP
/// headers (RFC 4302 §2: next header, length in 32-bit words minus 2,
/// reserved, SPI, sequence number, 96 bits of ICV); the IP header's
/// checksum redone, the UDP checksum still valid (its pseudo-header names
/// UDP).
fn with_ah(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    let ah = [
        f[23], 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 9, 0xa5, 0xa5, 0xa5, 0xa5,
    ];
    let ah: Vec<u8> = ah.iter().copied().chain([0x5a; 8]).collect();
    f[23] = 51;
    f.splice(34..34, ah.iter().copied());
    let total = u16::from_be_bytes([f[16], f[17]]) + ah.len() as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    rampart_dataplane::packet::set_ipv4_checksum(&mut f[14..34]);
    f
}

/// `frame` (IPv6) behind `chain` extension headers, each 8 bytes: a
/// hop-by-hop header first if `hop_by_hop`, then destination options and
/// routing headers in turn (the routing header with no segments left).
fn behind(frame: &[u8], chain: usize, hop_by_hop: bool) -> Vec<u8> {
    let mut f = frame.to_vec();
    let kinds: Vec<u8> = (0..chain)
        .map(|i| match i {
            0 if hop_by_hop => 0,
            i if i % 2 == 1 => 43,
            _ => 60,
        })
        .collect();
    let mut headers = Vec::new();
    let mut next = f[20];
    for &k in kinds.iter().rev() {
        let h = if k == 43 {
            [next, 0, 0, 0, 0, 0, 0, 0]
        } else {
            [next, 0, 1, 4, 0, 0, 0, 0]
        };
        headers.splice(0..0, h);
        next = k;
    }
    f[20] = next;
    f.splice(54..54, headers.iter().copied());
    let payload = u16::from_be_bytes([f[18], f[19]]) + headers.len() as u16;
    f[18..20].copy_from_slice(&payload.to_be_bytes());
    f
}

/// TCP and UDP behind an authentication header (IPv4) or IPv6 extension
/// headers keep their ports, as the engine keys them: each frame reaches
/// the member `worker_of` names for the key the engine parses from it,
/// in both directions, as the kernel runs the fanout program (and as the
/// program's interpreter says). A frame behind more headers than the
/// program walks goes by its addresses (the engine hands it on). Before,
/// every such frame went by its addresses: a peer's state for its flow
/// went to another worker than its packets (docs/io.md §9).
#[test]
fn fanout_gives_tcp_and_udp_behind_extension_headers_the_worker_of_their_ports() {
    use rampart_afpacket::fanout::interp::kernel_worker;
    use rampart_afpacket::fanout::{EXTENSION_HEADERS_WALKED, worker_of};
    use rampart_dataplane::flow::FlowKey;
    use rampart_dataplane::packet::{PacketMeta, Parsed, parse};
    use rampart_dataplane::trace::v6_pair;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    const WORKERS: usize = 3;
    let ns = with_veth(&format!("rp-exh-{}", std::process::id()));
    let mut frames = Vec::new();
    for i in 0..30u16 {
        let (c, s) = v4_pair(42_000 + i * 11, 5300 + i % 3);
        frames.push(with_ah(&udp_frame(&c, &s, b"there")));
        frames.push(with_ah(&udp_frame(&s, &c, b"back")));
        let (c, s) = v6_pair(43_000 + i * 13, 5300 + i % 3);
        let chain = usize::from(i % 9);
        for (a, b) in [(&c, &s), (&s, &c)] {
            frames.push(behind(&udp_frame(a, b, b"q"), chain, i % 2 == 0));
        }
    }
    let sent_frames = frames.clone();
    let per_worker = ns
        .spawn(move || {
            let (tx, members) = fanout_group(WORKERS, 0x5a5c);
            let mut sent = 0;
            for chunk in frames.chunks(8) {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                sent += tx.send_batch(&refs).expect("send");
            }
            assert_eq!(sent, frames.len());
            let mut rx = RxBatch::new();
            let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); WORKERS];
            let deadline = Instant::now() + Duration::from_secs(2);
            while got.iter().map(Vec::len).sum::<usize>() < sent && Instant::now() < deadline {
                let mut any = false;
                for (w, m) in members.iter().enumerate() {
                    let n = m.recv_batch(&mut rx).expect("recv");
                    for f in 0..n {
                        let frame = rx.frame_ref(f);
                        if frames.iter().any(|s| s.as_slice() == frame) {
                            got[w].push(frame.to_vec());
                        }
                    }
                    any |= n > 0;
                }
                if !any {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            got
        })
        .expect("namespace thread")
        .join()
        .expect("namespace thread");
    let mut total = 0;
    for (w, got) in per_worker.iter().enumerate() {
        for f in got {
            let Ok(Parsed::Ip { tuple, l3, l4, .. }) = parse(f, PacketMeta::default()) else {
                panic!("the engine parses what was sent: {f:?}");
            };
            let mut key = FlowKey::of(&tuple).0;
            let headers = if f[12..14] == [0x86, 0xdd] {
                usize::from(l4 - l3 - 40) / 8
            } else {
                1
            };
            if headers > EXTENSION_HEADERS_WALKED {
                (key.lo.port, key.hi.port) = (0, 0);
            }
            assert_eq!(
                worker_of(&key, WORKERS),
                w,
                "{tuple:?} behind {headers} headers"
            );
            let ethertype = u16::from_be_bytes([f[12], f[13]]);
            assert_eq!(kernel_worker(&f[14..], ethertype, WORKERS), w, "{tuple:?}");
            total += 1;
        }
    }
    assert_eq!(total, sent_frames.len(), "every frame reached one member");
    assert!(
        per_worker.iter().all(|f| !f.is_empty()),
        "flows spread over all workers: {:?}",
        per_worker.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn ring_sockets_join_the_fanout_group_and_meet_worker_of_too() {
    use rampart_afpacket::io::IoChoice;
    use rampart_afpacket::ring::IoMode;
    ring_members_meet_worker_of("rp-afr", IoChoice::BlockRing, IoMode::BlockRing, false);
    ring_members_meet_worker_of("rp-afq", IoChoice::Ring, IoMode::Ring, false);
}

fn ring_members_meet_worker_of(
    tag: &str,
    choice: rampart_afpacket::io::IoChoice,
    want: rampart_afpacket::ring::IoMode,
    flap: bool,
) {
    use rampart_afpacket::io::PacketIo;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // Blocks reach user space within the retire timeout; two seconds at
    // most.
    let per_worker = fanout_meets_worker_of(
        &format!("{tag}-{}", std::process::id()),
        2,
        40,
        (41_000, 6201),
        flap,
        move || {
            let (s, refused) = PacketIo::open("rpx1", false, choice).expect("rpx1");
            assert!(refused.is_none(), "ring refused: {refused:?}");
            assert_eq!(s.mode(), want);
            s.join_fanout(0x5a5b).expect("join the fanout group");
            s
        },
        |m, keep| {
            let n = m.recv().expect("recv");
            (0..n).for_each(|f| keep(m.frame_out(f)));
            m.done();
            n
        },
    );
    assert!(per_worker.iter().all(|f| !f.is_empty()));
}

#[test]
fn a_ring_the_kernel_refuses_falls_back_to_recvmmsg_and_still_carries_frames() {
    use rampart_afpacket::io::IoChoice;
    use rampart_afpacket::ring::RingSocket;
    // Blocks of 1000 bytes: not a multiple of the page size, so the kernel
    // refuses the receive ring (EINVAL).
    falls_back("rp-afb", IoChoice::BlockRing, |name, vnet| {
        RingSocket::open_with_blocks(name, vnet, 1000)
    });
}

#[test]
fn a_per_frame_ring_the_kernel_refuses_falls_back_to_recvmmsg_too() {
    use rampart_afpacket::frame_ring::FrameRingSocket;
    use rampart_afpacket::io::IoChoice;
    // Slots of 1000 bytes: not a multiple of 16 (TPACKET_ALIGNMENT), so
    // the kernel refuses the receive ring (EINVAL).
    falls_back("rp-afv", IoChoice::Ring, |name, vnet| {
        FrameRingSocket::open_with_slots(name, vnet, 1000)
    });
}

fn falls_back<R: Into<rampart_afpacket::io::PacketIo> + 'static>(
    tag: &str,
    choice: rampart_afpacket::io::IoChoice,
    ring: fn(&str, bool) -> std::io::Result<R>,
) {
    use rampart_afpacket::io::PacketIo;
    use rampart_afpacket::ring::IoMode;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let ns = with_veth(&format!("{tag}-{}", std::process::id()));
    let (mode, refused, got) = ns
        .spawn(move || {
            let (mut rx, refused) =
                PacketIo::open_or_fall_back("rpx1", false, choice, ring).expect("open rpx1");
            let tx = PacketSocket::open("rpx0").expect("open rpx0");
            let (c, s) = v4_pair(4100, 53);
            let frame = udp_frame(&c, &s, b"after the fallback");
            assert_eq!(tx.send_batch(&[&frame]).expect("send"), 1);
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut got = false;
            while !got && Instant::now() < deadline {
                let n = rx.recv().expect("recv");
                got = (0..n).any(|i| rx.frame_out(i) == frame.as_slice());
                rx.done();
                if n == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (rx.mode(), refused.map(|e| e.to_string()), got)
        })
        .expect("namespace thread")
        .join()
        .expect("namespace thread");
    assert_eq!(mode, IoMode::Mmsg);
    let refused = refused.expect("the refusal is reported");
    assert!(refused.starts_with("rpx1: PACKET_RX_RING: "), "{refused}");
    assert!(got, "the fallback socket carries frames");
}

#[test]
fn frames_queued_in_a_transmit_ring_leave_at_the_kick_all_in_order() {
    use rampart_afpacket::io::{IoChoice, PacketIo};
    use rampart_afpacket::ring::IoMode;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    for (tag, choice, want) in [
        ("rp-aqk", IoChoice::Ring, IoMode::Ring),
        ("rp-aqb", IoChoice::BlockRing, IoMode::BlockRing),
        ("rp-aqm", IoChoice::Mmsg, IoMode::Mmsg),
    ] {
        let ns = with_veth(&format!("{tag}-{}", std::process::id()));
        let (mode, before, after, sent) = ns
            .spawn(move || {
                let (mut tx, _) = PacketIo::open("rpx0", false, choice).expect("open rpx0");
                let rx = PacketSocket::open("rpx1").expect("open rpx1");
                let (c, s) = v4_pair(4200, 53);
                let frames: Vec<Vec<u8>> = (0..3u8).map(|i| udp_frame(&c, &s, &[i; 64])).collect();
                assert_eq!(tx.send_frames(&frames[..2]), 2);
                assert_eq!(tx.send_frames(&frames[2..]), 1);
                // A ring holds them until the kick; sendmmsg sent them.
                let before = receive_for(&rx, Duration::from_millis(100));
                tx.kick();
                let mut after = receive(&rx, 3 - before.len());
                after.splice(0..0, before.iter().cloned());
                (tx.mode(), before.len(), after, frames)
            })
            .expect("namespace thread")
            .join()
            .expect("namespace thread");
        assert_eq!(mode, want, "{choice:?}");
        let queued = if want == IoMode::Mmsg { 3 } else { 0 };
        assert_eq!(before, queued, "{choice:?}: frames before the kick");
        assert_eq!(after, sent, "{choice:?}: every frame, in order");
    }
}

/// The fragments of one IPv4 datagram reach one fanout member, as the
/// kernel runs the program on them (docs/io.md §9): 30 UDP datagrams from
/// 30 client ports to one server, each in three fragments (the first with
/// the ports, the others with data where ports would be), over three
/// members. Before, the first fragments went by their ports, the others
/// by their data, and a datagram's fragments were spread.
#[test]
fn fanout_hands_every_fragment_of_a_datagram_to_one_worker() {
    use rampart_dataplane::flow::proto;
    use rampart_dataplane::trace::ip_frame;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    const WORKERS: usize = 3;
    const DATAGRAMS: u16 = 30;
    let ns_name = format!("rp-afr-{}", std::process::id());
    let ns = with_veth(&ns_name);
    let per_worker = ns
        .spawn(move || {
            let (tx, members) = fanout_group(WORKERS, 0x5a5c);
            let mut frames = Vec::new();
            for i in 0..DATAGRAMS {
                let (c, s) = v4_pair(40_000 + i * 7, 5300);
                // The IP identification names the datagram; frag_off is
                // More Fragments and the offset in 8-byte units.
                let fragment = |mut f: Vec<u8>, frag_off: u16| {
                    f[18..20].copy_from_slice(&i.to_be_bytes());
                    f[20..22].copy_from_slice(&frag_off.to_be_bytes());
                    f
                };
                let data: Vec<u8> = (0..64u32).map(|b| (b * 37 + u32::from(i)) as u8).collect();
                frames.extend([
                    fragment(udp_frame(&c, &s, &data), 0x2000),
                    fragment(ip_frame(&c, &s, proto::UDP, &data[3..]), 0x2000 | 9),
                    fragment(ip_frame(&c, &s, proto::UDP, &data[5..]), 17),
                ]);
            }
            let mut sent = 0;
            for chunk in frames.chunks(6) {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                sent += tx.send_batch(&refs).expect("send");
            }
            assert_eq!(sent, frames.len());
            ipv4_frames_per_member(&members, sent)
        })
        .expect("namespace thread")
        .join()
        .expect("namespace thread");
    // Which members each datagram's fragments reached, by IP id.
    let mut members_of = vec![std::collections::BTreeSet::new(); usize::from(DATAGRAMS)];
    let mut total = 0;
    for (w, frames) in per_worker.iter().enumerate() {
        for f in frames {
            members_of[usize::from(u16::from_be_bytes([f[18], f[19]]))].insert(w);
            total += 1;
        }
    }
    assert_eq!(total, usize::from(DATAGRAMS) * 3, "every fragment arrived");
    assert!(
        members_of.iter().all(|m| m.len() == 1),
        "each datagram's fragments on one member: {members_of:?}"
    );
}

/// The IPv4 frames `sock` receives within `wait`.
fn receive_for(sock: &PacketSocket, wait: Duration) -> Vec<Vec<u8>> {
    let mut rx = RxBatch::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let n = sock.recv_batch(&mut rx).expect("recv");
        for i in 0..n {
            let frame = rx.frame(i).0;
            if frame.get(12..14) == Some(&[0x08, 0x00]) {
                got.push(frame.to_vec());
            }
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    got
}
