//! An interface that is down is an event of its link, not a fault of the
//! node (docs/io.md §8). The kernel sets the error of a packet socket
//! bound to a down interface to `ENETDOWN`, as it does when the interface
//! goes down or is deleted under it: the first receive fails with it, and
//! poll(2) reports `POLLERR` for as long as it is set.
//!
//! These tests bind sockets to an interface of this host that is down and
//! send nothing; they need root (`CAP_NET_RAW`) and such an interface, and
//! say so and pass without them. The transitions themselves (up, down,
//! deleted) are tested without the kernel in `src/link.rs`.
#![cfg(target_os = "linux")]
// A test of the I/O shell: it reads the clock and runs the bridge on a
// thread of its own, as the node does.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_afpacket::afpacket::{PacketSocket, RxBatch};
use rampart_afpacket::bridge::Bridge;
use rampart_afpacket::io::{IoChoice, PacketIo};
use rampart_afpacket::link::{LinkState, recv_error_is_event};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::{Engine, EngineConfig};

/// An interface of this host that is administratively down (`IFF_UP`
/// clear in `/sys/class/net/*/flags`), if any.
fn down_interface() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names.into_iter().find(|n| {
        std::fs::read_to_string(format!("/sys/class/net/{n}/flags"))
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & libc::IFF_UP as u32 == 0)
    })
}

/// A socket on the down interface, or why the test cannot run.
fn open_down() -> Option<(String, PacketSocket)> {
    let Some(name) = down_interface() else {
        eprintln!("skipped: no interface of this host is down");
        return None;
    };
    match PacketSocket::open(&name) {
        Ok(s) => Some((name, s)),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// poll(2) on `fd` for input, `ms` at most; the events reported.
fn poll_in(fd: libc::c_int, ms: libc::c_int) -> libc::c_short {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call.
    unsafe { libc::poll(&raw mut p, 1, ms) };
    p.revents
}

#[test]
fn a_down_interface_is_a_receive_event_and_poll_sleeps_once_its_error_is_read() {
    let Some((name, s)) = open_down() else { return };
    assert_ne!(poll_in(s.fd(), 0) & libc::POLLERR, 0, "{name}: POLLERR");
    assert_eq!(s.take_socket_error(), Some(libc::ENETDOWN));
    let t = Instant::now();
    assert_eq!(poll_in(s.fd(), 50), 0, "nothing to report: poll sleeps");
    assert!(t.elapsed() >= Duration::from_millis(40));
    // Read by a receive instead, the error is an event the bridge
    // carries on after.
    let s = PacketSocket::open(&name).expect("opened once already");
    let e = s.recv_batch(&mut RxBatch::new()).expect_err("ENETDOWN");
    assert_eq!(e.raw_os_error(), Some(libc::ENETDOWN));
    assert!(recv_error_is_event(libc::ENETDOWN));
    let p = s.probe();
    assert_eq!(p.index, Some(s.ifindex()));
    assert!(!p.running);
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid rusage for the call.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &raw mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[test]
fn a_bridge_on_a_down_interface_keeps_running_and_sleeps_in_every_mode() {
    let Some((name, _)) = open_down() else { return };
    for choice in [IoChoice::Mmsg, IoChoice::Ring, IoChoice::BlockRing] {
        let open = || PacketIo::open(&name, false, choice).expect("open").0;
        let engine =
            Engine::new(EngineConfig::inside_outside(NodeId(1), [9, 8, 7, 6])).expect("engine");
        let mut bridge = Bridge::new(open(), open(), engine);
        let mode = bridge.io_modes()[0];
        let stop = Arc::new(AtomicBool::new(false));
        let run = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let cpu = thread_cpu();
                let r = bridge.run(&stop);
                (r, thread_cpu() - cpu, bridge)
            })
        };
        let wall = Duration::from_millis(400);
        std::thread::sleep(wall);
        stop.store(true, Ordering::Relaxed);
        let (result, cpu, bridge) = run.join().expect("bridge thread");
        let mode = mode.label();
        assert!(result.is_ok(), "{mode}: the bridge stopped: {result:?}");
        // A worker that spins on POLLERR takes the whole core.
        assert!(cpu < wall / 4, "{mode}: {cpu:?} of CPU in {wall:?}");
        for side in 0..2 {
            assert_eq!(bridge.link_state(side), LinkState::Down, "{mode}");
            let l = bridge.counters.links[side];
            assert_eq!((l.down, l.is_down), (1, true), "{mode}: counted once");
        }
    }
}
