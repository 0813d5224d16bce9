//! The transparent bridge: frames received on one data interface go
//! through the engine and, if forwarded, leave on the other. One thread;
//! the node runs one bridge per worker, over either I/O back end
//! ([`PacketIo`]: rings or `recvmmsg`/`sendmmsg`).
//!
//! While traffic flows the loop polls the sockets without sleeping for up
//! to [`Bridge::with_busy_poll`]'s bound after the last frame (a ring is
//! read with no syscall at all), yielding the core between looks, then
//! sleeps in poll(2): a quiet node does not spin.
//!
//! An interface that goes down, or is deleted, is an event of its link
//! ([`crate::link`]), not an error of the bridge: the bridge counts it,
//! logs each change once and carries on (docs/io.md §8). Only an error
//! that says the node itself is broken (a bad descriptor) stops it.
// The I/O shell reads the clock and feeds it to the engine as `now`.
#![allow(clippy::disallowed_methods)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_dataplane::BatchFrame;
use rampart_dataplane::counters::{BridgeCounters, TxDrop};
use rampart_dataplane::engine::fragment::Handed;
use rampart_dataplane::engine::sync::{PullOut, SyncOut};
use rampart_dataplane::engine::{Effect, Engine, PREFETCH_BATCH, SWEEP_INTERVAL};
use rampart_dataplane::packet::{Offload, PacketMeta, complete_checksum};
use rampart_dataplane::time::Instant;
use rampart_dataplane::verdict::{IfaceId, Verdict};

use crate::afpacket::VNET_HDR_BYTES;
use crate::io::PacketIo;
use crate::link::{Link, LinkChange, LinkState, recv_error_is_event};
use crate::ring::{IoMode, RingCounters};
use crate::tx::TxStats;
use crate::vnet;

/// How long the bridge sleeps in `poll` when no frame is waiting.
const IDLE_POLL: Duration = Duration::from_millis(10);
/// The default busy-poll bound: how long the loop keeps polling without
/// sleeping after the last frame moved. The polling yields the core between
/// looks, so it takes no time from other runnable threads (the node's
/// cluster thread above all), and it spares the wake-up from poll(2) that a
/// frame or a peer's event arriving within the bound would pay (docs/io.md
/// §3 has the measurement).
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(200);
/// The most a busy-poll bound may be (a longer spin only burns the core).
pub const MAX_BUSY_POLL: Duration = Duration::from_millis(10);

/// The node's way into a bridge thread, called between batches: the
/// engine is owned by the bridge thread, so state learned from peers and
/// operator requests (show, clear, policy swaps) come in, and the engine's
/// changes go out, through this — never a lock on the packet path.
pub trait WorkerPort: Send {
    /// Apply what peers sent and serve queued requests.
    fn exchange(&mut self, engine: &mut Engine, io: &BridgeCounters, now: Instant);
    /// Hand the engine's sync effects of this turn (flows changed and
    /// deleted; pulls and pull answers) to the peers, taking them out of
    /// `events` and `pulls`.
    fn send_to_peers(&mut self, events: &mut Vec<SyncOut>, pulls: &mut Vec<PullOut>);
    /// Queue a datagram another worker owns (`Effect::HandOff`) for that
    /// worker's engine ([`Engine::take_handoff`]) and wake it; whether it
    /// was queued (if not, the bridge counts it dropped).
    fn hand_off(&mut self, worker: usize, chain: Box<Handed>) -> bool;
    /// An eventfd that becomes readable when something is queued, so the
    /// bridge wakes at once from its idle poll (a held packet is released
    /// within microseconds of its event arriving). The bridge reads it
    /// (clearing it) when its poll reports it readable.
    fn wake_fd(&self) -> Option<std::os::fd::RawFd>;
}

/// Most frames the engine emitted that wait to be sent in one batch.
const EMIT_BATCH: usize = 64;

/// A two-interface bridge around one engine.
pub struct Bridge {
    /// The two data interfaces, indexed by `IfaceId`.
    pub sockets: [PacketIo; 2],
    /// The engine.
    pub engine: Engine,
    /// I/O counters (the rings' and the kernel's refreshed every sweep).
    pub counters: BridgeCounters,
    /// The two interfaces' links, by `IfaceId`.
    links: [Link; 2],
    /// The frames of a batch the engine forwarded: their indices, and the
    /// vnet header each leaves with.
    out: Vec<(usize, [u8; VNET_HDR_BYTES])>,
    busy_poll: Duration,
    epoch: std::time::Instant,
    /// Engine time at `epoch`, in nanoseconds (cluster time for a node in
    /// a cluster: the Unix epoch; zero for a standalone bridge).
    base_ns: u64,
    port: Option<Box<dyn WorkerPort>>,
    /// The sync effects drained in one turn, for the port.
    peer_events: Vec<SyncOut>,
    /// The pulls drained in one turn, for the port.
    peer_pulls: Vec<PullOut>,
    /// Frames the engine emitted in one turn (released, or made by it),
    /// per interface, each with the vnet header it leaves with: sent as one
    /// batch each.
    emitted: [Vec<(Vec<u8>, [u8; VNET_HDR_BYTES])>; 2],
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("sockets", &self.sockets)
            .field("counters", &self.counters)
            .field("port", &self.port.is_some())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// A bridge between `inside` (IfaceId 0) and `outside` (IfaceId 1).
    pub fn new(inside: impl Into<PacketIo>, outside: impl Into<PacketIo>, engine: Engine) -> Self {
        let sockets: [PacketIo; 2] = [inside.into(), outside.into()];
        Bridge {
            links: [
                Link::new(sockets[0].ifindex()),
                Link::new(sockets[1].ifindex()),
            ],
            sockets,
            engine,
            counters: BridgeCounters::default(),
            out: Vec::with_capacity(1024),
            busy_poll: DEFAULT_BUSY_POLL,
            epoch: std::time::Instant::now(),
            base_ns: 0,
            port: None,
            peer_events: Vec::new(),
            peer_pulls: Vec::new(),
            emitted: [Vec::new(), Vec::new()],
        }
    }

    /// Serve a node: engine time becomes `clock` (cluster time, shared by
    /// the nodes), and `port` is pumped between batches.
    pub fn with_port(
        mut self,
        clock: (std::time::Instant, u64),
        port: Box<dyn WorkerPort>,
    ) -> Self {
        self.epoch = clock.0;
        self.base_ns = clock.1;
        self.port = Some(port);
        self
    }

    /// Poll without sleeping for up to `bound` after the last frame moved
    /// (zero: never; capped at [`MAX_BUSY_POLL`]).
    pub fn with_busy_poll(mut self, bound: Duration) -> Self {
        self.busy_poll = bound.min(MAX_BUSY_POLL);
        self
    }

    /// How the two sockets move frames (inside, outside).
    pub fn io_modes(&self) -> [IoMode; 2] {
        [self.sockets[0].mode(), self.sockets[1].mode()]
    }

    /// Bring [`Self::counters`] up to date with the kernel's receive
    /// counters (read and reset by `PACKET_STATISTICS`, so added) and the
    /// rings' own (kept by the sockets, so summed afresh). The bridge does
    /// it every table sweep and when it stops.
    pub fn refresh_io_counters(&mut self) {
        let c = &mut self.counters;
        for s in &self.sockets {
            if let Ok(k) = s.take_kernel_stats() {
                c.kernel_rx_drops = c.kernel_rx_drops.saturating_add(k.drops);
                c.kernel_rx_frozen = c.kernel_rx_frozen.saturating_add(k.freeze_q);
            }
        }
        let sockets = &self.sockets;
        let sum = |get: fn(&RingCounters) -> u64| {
            sockets
                .iter()
                .filter_map(|s| s.ring_counters())
                .fold(0u64, |a, r| a.saturating_add(get(&r)))
        };
        c.ring_bad_slots = sum(RingCounters::bad_blocks_total);
        c.ring_bad_frames = sum(|r| r.bad_block_frames);
        c.ring_no_vlan_room = sum(|r| r.no_vlan_room);
        c.ring_tx_spilled = sum(|r| r.tx_spilled);
        c.ring_rx_copied = sum(|r| r.copied);
        c.ring_copy_missing = sum(|r| r.copy_missing);
        c.ring_copy_stale = sum(|r| r.copy_stale);
        let mut tx = TxStats::default();
        for s in sockets {
            tx.add(&s.tx_stats());
        }
        // The sockets count every reason but the bridge's own.
        let own = TxDrop::NoEgress as usize;
        for (i, (d, t)) in c.send_drops.iter_mut().zip(tx.drops).enumerate() {
            if i != own {
                *d = t;
            }
        }
        c.send_failed = c.send_drops.iter().fold(0u64, |a, b| a.saturating_add(*b));
        c.tx_kick_errors = tx.kick_errors;
        c.tx_stalled_kicks = tx.stalled_kicks;
        c.links = [self.links[0].counts(), self.links[1].counts()];
    }

    /// Where interface `side`'s link is, as this bridge sees it.
    pub fn link_state(&self, side: usize) -> LinkState {
        self.links[side].state()
    }

    /// Interface `side`'s sockets reported `errno`: move its link.
    fn link_errno(&mut self, side: usize, errno: i32) {
        let change = self.links[side].on_errno(errno);
        self.link_changed(side, change);
    }

    /// Take the link events the sockets met while sending (and reading
    /// the copy path).
    fn take_link_events(&mut self) {
        for side in 0..2 {
            if let Some(errno) = self.sockets[side].take_link_errno() {
                self.link_errno(side, errno);
            }
        }
    }

    /// Look at both interfaces (every table sweep).
    fn probe_links(&mut self) {
        for side in 0..2 {
            let p = self.sockets[side].probe();
            let change = self.links[side].on_probe(p);
            self.link_changed(side, change);
        }
    }

    /// Log a change of `side`'s link once, and tell its transmit ring.
    fn link_changed(&mut self, side: usize, change: Option<LinkChange>) {
        let Some(change) = change else { return };
        let down = self.links[side].state() != LinkState::Up;
        self.sockets[side].set_link_down(down);
        self.counters.links[side] = self.links[side].counts();
        let name = self.sockets[side].name();
        match change {
            LinkChange::Down(errno) => {
                let why = errno.map_or_else(
                    || "not running".to_string(),
                    |e| io::Error::from_raw_os_error(e).to_string(),
                );
                tracing::warn!(
                    "{name}: link down ({why}): frames for it are dropped and counted                      (link_down); forwarding resumes when it is up"
                );
            }
            LinkChange::Up => tracing::info!("{name}: link up"),
            LinkChange::Gone => tracing::error!(
                "{name}: interface deleted: nothing is forwarded through it; the node keeps                  running (connections, cluster, operators); restart it once the interface                  exists again to bind the new one"
            ),
            LinkChange::Recreated(index) => tracing::error!(
                "{name}: an interface of this name exists again (ifindex {index}), but the                  sockets are bound to the deleted one: restart the node to forward through it"
            ),
        }
    }

    /// The engine's clock as the bridge feeds it.
    pub fn now(&self) -> Instant {
        let elapsed = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(self.base_ns.saturating_add(elapsed))
    }

    /// Forward frames until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        self.run_until(stop, &AtomicBool::new(false))
    }

    /// Forward frames until `stop` or `pause` is set (the caller handles a
    /// pause, e.g. a table dump, and calls again).
    pub fn run_until(&mut self, stop: &AtomicBool, pause: &AtomicBool) -> io::Result<()> {
        // The table sweep runs every SWEEP_INTERVAL; the sync layer's
        // timers (held packets, pulls) whenever one is due, without a sweep.
        let mut next_sweep = self.now();
        // When a frame last moved (None: not since the last sleep).
        let mut last_moved: Option<std::time::Instant> = None;
        let result = loop {
            if stop.load(Ordering::Relaxed) || pause.load(Ordering::Relaxed) {
                break Ok(());
            }
            let mut moved = 0;
            for side in 0..2 {
                match self.pump(side) {
                    Ok(n) => moved += n,
                    Err(e) => {
                        self.refresh_io_counters();
                        return Err(e);
                    }
                }
            }
            let now = self.now();
            if let Some(port) = &mut self.port {
                port.exchange(&mut self.engine, &self.counters, now);
            }
            if now >= next_sweep {
                self.engine.expire(now);
                self.probe_links();
                self.refresh_io_counters();
                next_sweep = now + SWEEP_INTERVAL;
            } else if self.engine.sync_timeout().is_some_and(|t| now >= t) {
                self.engine.expire_sync(now);
            }
            self.flush_effects(now);
            // One transmit kick per interface and turn: the frames of both
            // batches and those the engine released leave together, after
            // the turn's sync events went to the cluster thread: an event
            // that leaves before its packet more often reaches the peer
            // before the reply does (kicking first, the HTTP bench's held
            // packets waited 0.5 ms at the median instead of 0.25, and the
            // asymmetric rate fell from about 11,000 to 9,500 requests/s).
            for s in &mut self.sockets {
                s.kick();
            }
            self.take_link_events();
            if moved > 0 {
                last_moved = Some(std::time::Instant::now());
                continue;
            }
            // Traffic flowed within the bound: look again at once rather
            // than pay poll(2)'s sleep and wake-up; past it, sleep.
            if last_moved.is_some_and(|t| t.elapsed() < self.busy_poll) {
                self.counters.busy_polls = self.counters.busy_polls.saturating_add(1);
                // Yield, do not spin: on shared cores a spinning worker held
                // the core the cluster thread needed to deliver the event its
                // held packets wait for (docs/io.md §3).
                std::thread::yield_now();
                continue;
            }
            last_moved = None;
            let next = self
                .engine
                .sync_timeout()
                .map_or(next_sweep, |t| t.min(next_sweep));
            let until = next.saturating_since(self.now());
            self.wait(until.min(IDLE_POLL));
        };
        self.refresh_io_counters();
        result
    }

    /// One batch from interface `side` through the engine and out. A
    /// receive error that is a link event moves the link and is no error;
    /// any other stops the bridge.
    fn pump(&mut self, side: usize) -> io::Result<usize> {
        let n = match self.sockets[side].recv() {
            Ok(n) => n,
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                if recv_error_is_event(errno) {
                    self.link_errno(side, errno);
                    return Ok(0);
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{}: receive failed: {e} (not a link event: the worker stops)",
                        self.sockets[side].name()
                    ),
                ));
            }
        };
        if n == 0 {
            return Ok(0);
        }
        let change = self.links[side].on_traffic();
        self.link_changed(side, change);
        let now = self.now();
        let [a, b] = &mut self.sockets;
        let (rx, tx) = if side == 0 { (a, b) } else { (b, a) };
        // With vnet headers a partial checksum leaves as one, for the
        // kernel (or the receiving stack) to finish.
        let vnet = tx.vnet_hdr();
        judge(
            &mut self.engine,
            rx,
            n,
            side,
            now,
            vnet,
            &mut self.counters,
            &mut self.out,
        );
        // A frame not sent is counted by the socket, with its reason.
        if !self.out.is_empty() {
            tx.forward(rx, &self.out);
        }
        rx.done();
        Ok(n)
    }

    /// Send the frames the engine emitted, in order per interface.
    fn send_emitted(&mut self) {
        for (socket, frames) in self.sockets.iter_mut().zip(&mut self.emitted) {
            if frames.is_empty() {
                continue;
            }
            // Each with its own vnet header; a frame not sent is counted
            // by the socket, with its reason.
            socket.send_frames_with(frames);
            frames.clear();
        }
    }

    /// Drain the engine's effects: frames leave on their interface, sync
    /// events go to the peers through the port.
    fn flush_effects(&mut self, now: Instant) {
        while let Some(effect) = self.engine.poll_effect(now) {
            let (egress, mut frame, offload) = match effect {
                Effect::Transmit { egress, frame } => (egress, frame, Offload::NONE),
                // A released frame leaves as it would have when it arrived:
                // a held super-packet stays one (docs/io.md §1).
                Effect::Release {
                    egress,
                    frame,
                    offload,
                    ..
                } => (egress, frame, offload),
                Effect::Pull(pull) => {
                    self.peer_pulls.push(pull);
                    continue;
                }
                Effect::HandOff { worker, chain } => {
                    self.hand_off(worker, chain);
                    continue;
                }
                sync => {
                    self.peer_events.extend(sync.into_sync());
                    continue;
                }
            };
            let side = usize::from(egress.0);
            match (self.emitted.get_mut(side), self.sockets.get(side)) {
                (Some(frames), Some(socket)) => {
                    let hdr =
                        egress_header(&mut frame, &offload, socket.vnet_hdr(), &mut self.counters);
                    frames.push((frame, hdr));
                    if frames.len() >= EMIT_BATCH {
                        self.send_emitted();
                    }
                }
                _ => self.counters.count_send_drop(TxDrop::NoEgress),
            }
        }
        // Frames released together (a held exchange freed by one peer
        // event) leave in one batch per interface, not one each.
        self.send_emitted();
        if self.peer_events.is_empty() && self.peer_pulls.is_empty() {
            return;
        }
        // An engine syncs only under a node, which always gives a port.
        match &mut self.port {
            Some(port) => port.send_to_peers(&mut self.peer_events, &mut self.peer_pulls),
            None => {
                self.peer_events.clear();
                self.peer_pulls.clear();
            }
        }
    }

    /// Give a datagram whose flow another worker owns to that worker,
    /// through the port; counted, and dropped with its fragments when it
    /// cannot be queued (the other worker has stopped serving, or there is
    /// no port: an engine hands off only under a node of several workers).
    fn hand_off(&mut self, worker: usize, chain: Box<Handed>) {
        let c = &mut self.counters;
        if self
            .port
            .as_mut()
            .is_some_and(|p| p.hand_off(worker, chain))
        {
            c.handoffs = c.handoffs.saturating_add(1);
        } else {
            c.handoffs_dropped = c.handoffs_dropped.saturating_add(1);
        }
    }

    /// Sleep until either socket (or the cluster) is readable, or
    /// `timeout`. A socket reported in error (`POLLERR`: its interface
    /// went down or was deleted) has its error read and cleared, so that
    /// the next poll sleeps again instead of returning at once for good.
    fn wait(&mut self, timeout: Duration) {
        let wake = self.port.as_ref().and_then(|p| p.wake_fd()).unwrap_or(-1);
        let mut fds = [
            libc::pollfd {
                fd: self.sockets[0].fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.sockets[1].fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            // A negative fd is ignored by poll(2).
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: fds is a valid array of three pollfd for the call.
        unsafe { libc::poll(fds.as_mut_ptr(), 3, ms) };
        for (side, fd) in fds.iter().take(2).enumerate() {
            if fd.revents & libc::POLLERR != 0
                && let Some(errno) = self.sockets[side].take_socket_error()
            {
                self.link_errno(side, errno);
            }
        }
        // Clear the wake-up only here, not on every batch: whatever woke
        // us is served by the next exchange, and something queued during
        // that exchange leaves the descriptor readable for the next poll.
        if fds[2].revents & libc::POLLIN != 0 {
            let mut buf = [0u8; 8];
            // SAFETY: reading 8 bytes into a valid buffer from the port's
            // eventfd.
            unsafe { libc::read(wake, buf.as_mut_ptr().cast(), 8) };
        }
    }
}

/// The engine's judgement of the `n` frames of `rx`'s last batch, handed
/// to it `PREFETCH_BATCH` at a time (the engine prefetches the table for
/// all of them before it decides any, docs/ARCHITECTURE.md), from an array
/// on the stack: no allocation per batch. The indices of the frames it
/// forwards go to `out`, to leave on the other interface. Truncated frames
/// are counted and dropped here. `vnet`: the other interface's frames
/// carry a vnet header.
#[allow(clippy::too_many_arguments)]
fn judge(
    engine: &mut Engine,
    rx: &mut PacketIo,
    n: usize,
    side: usize,
    now: Instant,
    vnet: bool,
    counters: &mut BridgeCounters,
    out: &mut Vec<(usize, [u8; VNET_HDR_BYTES])>,
) {
    out.clear();
    let mut frames: [BatchFrame<'_>; PREFETCH_BATCH] =
        std::array::from_fn(|_| BatchFrame::new(&mut [], PacketMeta::default()));
    // Which frame of the receive batch each engine input is.
    let mut index = [0usize; PREFETCH_BATCH];
    let mut k = 0;
    for (i, (frame, meta, truncated)) in rx.frames_mut(n).enumerate() {
        if truncated {
            counters.truncated = counters.truncated.saturating_add(1);
            continue;
        }
        frames[k] = BatchFrame::new(frame, meta);
        index[k] = i;
        k += 1;
        if k == PREFETCH_BATCH {
            decide(engine, &mut frames, &index, side, now, vnet, counters, out);
            k = 0;
        }
    }
    decide(
        engine,
        &mut frames[..k],
        &index[..k],
        side,
        now,
        vnet,
        counters,
        out,
    );
}

/// One engine call for `frames` (receive-batch positions `index`); the
/// positions of those forwarded are appended to `out`, each with the vnet
/// header it leaves with.
#[allow(clippy::too_many_arguments)]
fn decide(
    engine: &mut Engine,
    frames: &mut [BatchFrame<'_>],
    index: &[usize],
    side: usize,
    now: Instant,
    vnet: bool,
    counters: &mut BridgeCounters,
    out: &mut Vec<(usize, [u8; VNET_HDR_BYTES])>,
) {
    if frames.is_empty() {
        return;
    }
    let mut verdicts = [Verdict::Hold; PREFETCH_BATCH];
    engine.process_batch(frames, IfaceId(side as u8), now, &mut verdicts);
    for ((f, &i), verdict) in frames.iter_mut().zip(index).zip(verdicts) {
        let Verdict::Forward { egress } = verdict else {
            continue;
        };
        // A two-interface bridge forwards to the other interface only.
        if usize::from(egress.0) == side {
            counters.count_send_drop(TxDrop::NoEgress);
            continue;
        }
        out.push((i, egress_header(f.frame, &f.offload, vnet, counters)));
    }
}

/// The vnet header a frame the engine let through leaves with (`vnet`:
/// its egress socket carries one), from the offload the engine built from
/// its parse, never the header it arrived with (docs/io.md §1). Without a
/// vnet header AF_PACKET sends the bytes as they are: a partial checksum is
/// completed here, or the receiver would drop the segment.
fn egress_header(
    frame: &mut [u8],
    offload: &Offload,
    vnet: bool,
    counters: &mut BridgeCounters,
) -> [u8; VNET_HDR_BYTES] {
    if offload.gso.is_some() {
        counters.gso_frames = counters.gso_frames.saturating_add(1);
    }
    if vnet {
        return vnet::write(offload);
    }
    if offload.csum.is_some() && complete_checksum(frame) {
        counters.checksums_completed = counters.checksums_completed.saturating_add(1);
    }
    vnet::NONE
}

#[cfg(test)]
mod tests;
