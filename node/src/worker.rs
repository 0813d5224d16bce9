//! The node's workers: one thread per configured core, each a bridge with
//! its own engine and its own AF_PACKET socket on each data interface.
//! With several workers the sockets of an interface form a `PACKET_FANOUT`
//! group whose classic BPF program spreads frames by a symmetric flow hash
//! (`rampart_afpacket::fanout`), so both directions of a flow reach
//! the same worker and its connection table.
//!
//! Each socket is opened with the I/O back end of `[dataplane] io`: the
//! `TPACKET_V3` rings by default, `recvmmsg`/`sendmmsg` when the kernel
//! refuses a ring or the node file asks for it; the mode of every worker
//! is logged and reported in the exit summary.
//!
//! With several workers, a datagram whose fragments one worker
//! reassembled and another owns goes to the owner's engine through that
//! worker's hand-off queue ([`crate::handoff`], docs/io.md §9).
//!
//! Known limit of several workers: connection limits (`conn-max`,
//! `per-client-max`, embryonic limits) are counted per worker, since each
//! worker's engine keeps its own class slots; with N workers a limit
//! admits up to N times its value. One worker (the default) is exact.

use std::os::fd::RawFd;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

use anyhow::Context as _;
use rampart_afpacket::bridge::{Bridge, WorkerPort};
use rampart_afpacket::io::{IoChoice, PacketIo};
use rampart_dataplane::counters::BridgeCounters;
use rampart_dataplane::engine::fragment::Handed;
use rampart_dataplane::engine::sync::{PullOut, SyncOut};
use rampart_dataplane::{Engine, Instant};

use crate::cluster_link::{Clock, Port};
use crate::control::{Inbox, Wake};
use crate::handoff::{HandOffInbox, HandOffs};

/// What a worker serves between batches: datagrams other workers
/// reassembled for it, operator requests, and the sync link when the node
/// is in a cluster. All wake it through one eventfd.
#[derive(Debug)]
pub struct NodePort {
    /// The worker's wake-up.
    pub wake: Wake,
    /// Operator requests.
    pub inbox: Inbox,
    /// The sync link, in a cluster.
    pub sync: Option<Port>,
    /// Every worker's hand-off queue, for the datagrams this worker's
    /// engine reassembled and another owns.
    pub hand_offs: HandOffs,
    /// This worker's hand-off queue.
    pub handed: HandOffInbox,
}

impl WorkerPort for NodePort {
    fn exchange(&mut self, engine: &mut Engine, io: &BridgeCounters, now: Instant) {
        // Datagrams first: their fragments wait in their sender's engine
        // no longer, and leave as this engine's effects, which the bridge
        // drains and sends in this same turn. Those left for the next turn
        // wake the loop again.
        if self.handed.serve(|chain| engine.take_handoff(chain, now)) {
            self.wake.wake();
        }
        // Jobs left for the next turn: wake the loop, or an idle worker
        // would sleep in poll(2) with them queued.
        if self.inbox.serve(engine, io, now) {
            self.wake.wake();
        }
        // Peers' messages left for the next turn: the same.
        if let Some(sync) = &mut self.sync
            && sync.exchange(engine, now)
        {
            self.wake.wake();
        }
    }

    fn send_to_peers(&mut self, events: &mut Vec<SyncOut>, pulls: &mut Vec<PullOut>) {
        match &mut self.sync {
            Some(sync) => {
                sync.send_to_peers(events);
                sync.send_pulls(pulls);
            }
            // Only a node in a cluster builds engines that sync.
            None => {
                events.clear();
                pulls.clear();
            }
        }
    }

    fn hand_off(&mut self, worker: usize, chain: Box<Handed>) -> bool {
        self.hand_offs.send(worker, chain).is_ok()
    }

    fn wake_fd(&self) -> Option<RawFd> {
        Some(self.wake.fd())
    }
}

/// The index of interface `name` (`if_nametoindex`, which resolves an
/// alternative name too), if it exists.
pub(crate) fn index_of(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string for the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Refuse two names of one interface: the node file's check compares
/// names, and an interface and its alternative name (`ip link property
/// add ... altname`) differ as names. The kernel resolves both to one
/// index; bridged to itself, the node would forward every frame back out
/// where it came from.
fn distinct_interfaces(
    inside: &str,
    outside: &str,
    index_of: impl Fn(&str) -> Option<u32>,
) -> anyhow::Result<()> {
    match (index_of(inside), index_of(outside)) {
        (Some(a), Some(b)) if a == b => anyhow::bail!(
            "interface[0].name '{inside}' and interface[1].name '{outside}' are the same \
             interface (ifindex {a}; one is an alternative name of the other): a transparent \
             bridge needs two"
        ),
        // Different, or one missing: opening it says which.
        _ => Ok(()),
    }
}

/// Open each worker's sockets on `inside` and `outside` with the back
/// end `io` asks for; with more than one worker, join them to one fanout
/// group per interface, in worker order (the kernel's member index is the
/// join order, and the node's routing of sync events by `worker_of`
/// relies on it). Returns the sockets and each worker's I/O mode label.
/// Two names of one interface are refused before any socket is opened.
pub fn open_sockets(
    inside: &str,
    outside: &str,
    workers: usize,
    offload: bool,
    io: IoChoice,
) -> anyhow::Result<(Vec<[PacketIo; 2]>, Vec<String>)> {
    // Fanout group ids are per network namespace; derive them from the
    // process id so two nodes in one namespace do not collide.
    distinct_interfaces(inside, outside, index_of)?;
    let base = (std::process::id() as u16).wrapping_mul(2);
    let mut out = Vec::with_capacity(workers);
    let mut modes = Vec::with_capacity(workers);
    for w in 0..workers {
        let open = |name: &str| -> std::io::Result<PacketIo> {
            let (s, refused) = PacketIo::open(name, offload, io)?;
            if let Some(e) = refused {
                tracing::warn!("worker {w}: {name}: ring refused ({e}); using recvmmsg/sendmmsg");
            }
            Ok(s)
        };
        let pair = [open(inside)?, open(outside)?];
        if workers > 1 {
            for (i, s) in pair.iter().enumerate() {
                s.join_fanout(base.wrapping_add(i as u16))
                    .with_context(|| format!("worker {w}: joining the fanout group"))?;
            }
        }
        let mode = mode_label(&pair);
        tracing::info!("worker {w}: I/O {mode}");
        modes.push(mode);
        out.push(pair);
    }
    Ok((out, modes))
}

/// A worker's I/O mode: its sockets' common mode, or both (`ring/mmsg`)
/// when one interface fell back and the other did not.
fn mode_label(pair: &[PacketIo; 2]) -> String {
    let [a, b] = [pair[0].mode().label(), pair[1].mode().label()];
    if a == b {
        a.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Start one bridge thread per worker. Each returns its bridge when
/// `stop` is set (or the I/O error that stopped it).
pub fn spawn(
    sockets: Vec<[PacketIo; 2]>,
    engines: Vec<Engine>,
    ports: Vec<NodePort>,
    clock: Clock,
    busy_poll: std::time::Duration,
    stop: &'static AtomicBool,
) -> anyhow::Result<Vec<JoinHandle<std::io::Result<Bridge>>>> {
    let mut handles = Vec::with_capacity(sockets.len());
    for (w, (([inside, outside], engine), port)) in
        sockets.into_iter().zip(engines).zip(ports).enumerate()
    {
        let h = std::thread::Builder::new()
            .name(format!("rampart-w{w}"))
            .spawn(move || {
                let mut bridge = Bridge::new(inside, outside, engine)
                    .with_port((clock.epoch, clock.base_ns), Box::new(port))
                    .with_busy_poll(busy_poll);
                bridge.run(stop)?;
                Ok(bridge)
            })
            .with_context(|| format!("starting worker {w}"))?;
        handles.push(h);
    }
    Ok(handles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn two_names_of_one_interface_are_refused_before_a_socket_is_opened() {
        // `lo` exists on every host; no socket is opened, so no privilege
        // is needed either.
        let e = open_sockets("lo", "lo", 1, false, IoChoice::Mmsg).expect_err("refused");
        assert!(e.to_string().contains("same interface"), "{e}");
        // An alternative name resolves to its interface's index.
        let alias = |n: &str| match n {
            "eth0" | "enp1s0" => Some(2),
            "eth1" => Some(3),
            _ => None,
        };
        let e = distinct_interfaces("eth0", "enp1s0", alias).expect_err("one interface");
        assert!(e.to_string().contains("ifindex 2"), "{e}");
        assert!(distinct_interfaces("eth0", "eth1", alias).is_ok());
        assert!(
            distinct_interfaces("eth0", "nope", alias).is_ok(),
            "open says"
        );
    }

    /// Whether the wake-up is set; clears it.
    fn woken(wake: &Wake) -> bool {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into a valid buffer from our eventfd
        // (non-blocking: -1 when it is not set).
        unsafe { libc::read(wake.fd(), buf.as_mut_ptr().cast(), 8) == 8 }
    }

    /// A datagram worker 0 reassembled for a flow worker 1 owns (by the
    /// fanout's hash) goes through worker 0's port to worker 1's queue,
    /// wakes worker 1, and at worker 1's next exchange its engine judges
    /// it: the fragments are its effects, to be drained in that same turn.
    /// Before, the bridge dropped the hand-off, and no engine had a share.
    #[test]
    fn a_reassembled_datagram_reaches_the_owners_engine_through_the_ports() {
        use rampart_afpacket::bridge::WorkerPort as _;
        use rampart_afpacket::fanout::worker_of;
        use rampart_dataplane::engine::Effect;
        use rampart_dataplane::flow::FlowKey;
        use rampart_dataplane::packet::{ChecksumState, OffloadRequest, PacketMeta};
        use rampart_dataplane::trace::{fragment_frame, udp_frame, v4_pair};
        let wakes: Vec<Wake> = (0..2).map(|_| Wake::new().unwrap()).collect();
        let (_w, inboxes) = crate::control::workers(&wakes);
        let (hand_offs, handed) = crate::handoff::hand_offs(&wakes);
        let mut ports: Vec<NodePort> = wakes
            .iter()
            .zip(inboxes)
            .zip(handed)
            .map(|((wake, inbox), handed)| NodePort {
                wake: wake.clone(),
                inbox,
                sync: None,
                hand_offs: hand_offs.clone(),
                handed,
            })
            .collect();
        let node = rampart_dataplane::EngineConfig::inside_outside(
            rampart_dataplane::conntrack::NodeId(1),
            [1, 2, 3, 4],
        );
        let mut engines: Vec<Engine> = (0..2)
            .map(|i| Engine::new(crate::run::worker_engine_config(&node, i, 2)).unwrap())
            .collect();
        // A client port whose flow worker 1 owns.
        let (c, s) = (40_000..)
            .map(|port| v4_pair(port, 5300))
            .find(|(c, s)| {
                let t = rampart_dataplane::flow::Tuple {
                    src: rampart_dataplane::flow::Endpoint {
                        addr: rampart_dataplane::flow::Addr::v4([198, 18, 0, 10]),
                        port: c.port,
                    },
                    dst: rampart_dataplane::flow::Endpoint {
                        addr: rampart_dataplane::flow::Addr::v4([198, 18, 0, 20]),
                        port: s.port,
                    },
                    proto: rampart_dataplane::flow::proto::UDP,
                    vlan: 0,
                };
                worker_of(&FlowKey::of(&t).0, 2) == 1
            })
            .unwrap();
        let payload: Vec<u8> = (0..3_000u32).map(|i| (i * 7) as u8).collect();
        let frags = fragment_frame(&udp_frame(&c, &s, &payload), 1_480, 9);
        let meta = PacketMeta {
            checksum: ChecksumState::Verified,
            gso_size: 0,
            asked: OffloadRequest::NONE,
        };
        let now = Instant::from_secs(10);
        for f in &frags {
            let mut f = f.clone();
            engines[0].process(&mut f, meta, c.iface, now);
        }
        while woken(&wakes[1]) {}
        let io = BridgeCounters::default();
        let mut handed_off = 0;
        while let Some(e) = engines[0].poll_effect(now) {
            if let Effect::HandOff { worker, chain } = e {
                assert_eq!(worker, 1);
                assert!(ports[0].hand_off(worker, chain), "queued");
                handed_off += 1;
            }
        }
        assert_eq!(handed_off, 1);
        assert!(woken(&wakes[1]), "the owner is woken");
        assert_eq!(engines[0].table().len(), 0, "judged by the owner only");
        let [_, p1] = &mut ports[..] else {
            unreachable!()
        };
        p1.exchange(&mut engines[1], &io, now);
        let released: Vec<Vec<u8>> = std::iter::from_fn(|| engines[1].poll_effect(now))
            .filter_map(|e| match e {
                Effect::Release { frame, .. } => Some(frame),
                _ => None,
            })
            .collect();
        assert!(
            released == frags,
            "the fragments leave as they came: {} of {}",
            released.len(),
            frags.len()
        );
        assert_eq!(engines[1].table().len(), 1);
    }

    /// A turn that leaves jobs queued wakes the worker again, so an idle
    /// worker does not sleep in poll(2) with them waiting.
    #[test]
    fn jobs_left_for_the_next_turn_wake_the_worker() {
        let wake = Wake::new().unwrap();
        let (w, mut inboxes) = crate::control::workers(std::slice::from_ref(&wake));
        let (hand_offs, mut handed) = crate::handoff::hand_offs(std::slice::from_ref(&wake));
        let mut port = NodePort {
            wake: wake.clone(),
            inbox: inboxes.remove(0),
            sync: None,
            hand_offs,
            handed: handed.remove(0),
        };
        let askers: Vec<_> = (0..2)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    w.each(Duration::from_secs(10), |_| {
                        std::thread::sleep(crate::control::JOBS_PER_TURN * 2);
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        assert!(woken(&wake), "queuing wakes the worker");
        let mut engine = Engine::new(rampart_dataplane::EngineConfig::inside_outside(
            rampart_dataplane::conntrack::NodeId(1),
            [1, 2, 3, 4],
        ))
        .unwrap();
        let io = BridgeCounters::default();
        port.exchange(&mut engine, &io, Instant::from_nanos(5));
        assert!(woken(&wake), "one job left: woken again");
        port.exchange(&mut engine, &io, Instant::from_nanos(5));
        assert!(!woken(&wake), "none left");
        for a in askers {
            a.join().unwrap().unwrap();
        }
    }
}
