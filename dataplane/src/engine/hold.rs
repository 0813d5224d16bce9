//! Frames that wait on a peer, as two queues with named limits and
//! deadlines (docs/ARCHITECTURE.md, "The race of an asymmetric path"):
//!
//! - [`HoldQueue`]: frames the engine dropped for want of state a peer may
//!   have (a SYN-ACK whose SYN crossed a peer), kept per flow until the
//!   peer's event for that flow arrives or their deadline passes.
//! - [`DeferQueue`]: the frame that opened an inspected flow, kept until a
//!   peer acknowledges the flow's insert or the deadline passes (pfsync's
//!   `defer`).
//!
//! The queues only keep frames; what a release means (judge the frame
//! again, send it, count it) is the engine's, fed by explicit events: a
//! peer's state for a flow, a peer's acknowledgement, a timer.

use std::collections::VecDeque;

use hashbrown::HashMap;

use super::fragment::Pieces;
use crate::flow::{FlowKey, Host};
use crate::packet::PacketMeta;
use crate::sync::Incarnation;
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId};

/// Drop reasons a peer's state could turn into a pass: no entry for a
/// packet that cannot open one, or an entry whose windows or state lag
/// behind what a peer has seen. That includes a connection TCP Intercept
/// opened whose server's SYN-ACK this node has not seen: it may have
/// crossed a peer, which acknowledged it and whose state brings the shift
/// of the server's numbers (docs/asa-behaviour.md §2.2). Dropped at once,
/// the client's first data was lost on every asymmetric path and waited
/// for the client's retransmission.
pub(super) fn holdable(reason: DropReason) -> bool {
    matches!(
        reason,
        DropReason::TcpNotSyn
            | DropReason::AclDeny
            | DropReason::IcmpNoConnection
            | DropReason::IcmpErrorBadSeq
            | DropReason::IcmpSeqMismatch
            | DropReason::TcpSeqPastWindow
            | DropReason::TcpAckPastWindow
            | DropReason::TcpInvalidState
            | DropReason::Tcp3whsFailed
            | DropReason::TcpAckSynDiff
            | DropReason::TcpDataPastFin
            | DropReason::TcpRstOutOfWindow
            | DropReason::TcpRstSynInWindow
            | DropReason::LenientWait
            | DropReason::InterceptUnexpected
    )
}

/// The share of the hold buffer a frame's source draws on: its address,
/// except that an IPv6 source of a frame of a flow unknown here counts by
/// its /64, which one host may fill with addresses of its own (RFC 4291
/// §2.5.1: the interface identifier is the low 64 bits, and a host picks
/// as many as it likes, RFC 8981). A frame of a known flow counts by its
/// address: a /64 is also a whole LAN of hosts whose connections passed
/// the rules, and their replies must not share one host's share.
fn share_of(h: &Held) -> Host {
    let mut addr = h.source.addr;
    if !h.known && addr.is_v6() {
        addr.0[8..].fill(0);
    }
    Host { addr, ..h.source }
}

/// A frame held for a peer's state.
#[derive(Debug)]
pub(super) struct Held {
    /// The frame as received.
    pub frame: Vec<u8>,
    /// Its receive metadata (checksum state, GSO size).
    pub meta: PacketMeta,
    /// Where it arrived.
    pub ingress: IfaceId,
    /// Its source address (each source has a share of the buffer).
    pub source: Host,
    /// This node had an entry for its flow when it was held (a copy whose
    /// windows or state lag, a passive copy): such frames are owed the
    /// half of the buffer that frames of flows unknown here cannot take.
    pub known: bool,
    /// When it is dropped if no peer's state lets it through.
    pub deadline: Instant,
    /// The drop it met, counted if it is never released.
    pub reason: DropReason,
    /// A peer's state let it pass only leniently (without checks or a
    /// change of state, as a TCP segment in SYN-SENT that the tracker lets
    /// by for RFC 5961's challenge ACK): more of the peer's state may be
    /// on the way, so it waits on, and leaves at its deadline if it still
    /// passes.
    pub lenient: bool,
    /// When `frame` is a reassembled datagram: its fragments, which leave
    /// in its place (docs/asa-behaviour.md §2.8).
    pub frags: Option<Box<Pieces>>,
}

impl Held {
    /// The bytes it keeps: its frame, and a reassembled datagram's
    /// fragments with it.
    pub fn size(&self) -> usize {
        self.frame.len() + self.frags.as_ref().map_or(0, |p| p.bytes())
    }

    /// The frames it stands for: a reassembled datagram's fragments, else one.
    pub fn frames(&self) -> u64 {
        self.frags.as_ref().map_or(1, |p| p.len() as u64)
    }
}

/// Why a frame could not be kept (it is judged without waiting instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The queue (its packets or its bytes), or this flow's share of it, is full.
    Full,
    /// The frame's source address has its share held already.
    SourceFull,
    /// The frame's flow has no entry here, and such frames fill their
    /// half of the buffer.
    StrangersFull,
    /// A frame of this flow is already deferred.
    Busy,
}

/// The hold buffer's limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct HoldLimits {
    /// Frames held at once.
    pub packets: usize,
    /// Frames held for one flow.
    pub per_flow: usize,
    /// Bytes of frames held at once.
    pub bytes: usize,
    /// Frames held from one source address.
    pub per_source: usize,
}

/// Held frames by flow, bounded in total (packets and bytes), per flow
/// and per source, and for frames of flows this node has no entry for,
/// to half of the total: anyone can send those (stray ACKs and resets
/// from spoofed or ever-new addresses; the per-source share cannot bound a
/// sender that changes its address), while a frame of a flow held here
/// belongs to a connection that passed the rules, and waits for the news
/// that keeps it alive (docs/sync.md §4).
#[derive(Debug)]
pub(super) struct HoldQueue {
    by_flow: HashMap<FlowKey, Vec<Held>, ahash::RandomState>,
    by_source: HashMap<Host, usize, ahash::RandomState>,
    count: usize,
    bytes: usize,
    /// Frames (and their bytes) of flows unknown here when held.
    strangers: usize,
    stranger_bytes: usize,
    /// Deadlines in arrival order: a deadline is arrival plus a constant,
    /// so this is also deadline order.
    order: VecDeque<(Instant, FlowKey)>,
    limits: HoldLimits,
}

impl HoldQueue {
    /// An empty buffer; `hasher` keys its maps (derived from the node's
    /// secret: the keys are chosen by whoever sends the packets).
    pub(super) fn new(limits: HoldLimits, hasher: ahash::RandomState) -> Self {
        HoldQueue {
            by_flow: HashMap::with_hasher(hasher.clone()),
            by_source: HashMap::with_hasher(hasher),
            count: 0,
            bytes: 0,
            strangers: 0,
            stranger_bytes: 0,
            order: VecDeque::new(),
            limits,
        }
    }

    /// Frames held now.
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// Keep `held` for `key`, or refuse it when a limit is reached.
    pub(super) fn push(&mut self, key: FlowKey, held: Held) -> Result<(), Refused> {
        let per_flow = self.by_flow.get(&key).map_or(0, Vec::len);
        if self.count >= self.limits.packets
            || self.bytes + held.size() > self.limits.bytes
            || per_flow >= self.limits.per_flow
        {
            return Err(Refused::Full);
        }
        // Half, but room for one frame even in the smallest buffer.
        if !held.known
            && (self.strangers >= (self.limits.packets / 2).max(1)
                || self.stranger_bytes + held.size()
                    > (self.limits.bytes / 2).max(held.size().min(self.limits.bytes)))
        {
            return Err(Refused::StrangersFull);
        }
        if self.by_source.get(&share_of(&held)).copied().unwrap_or(0) >= self.limits.per_source {
            return Err(Refused::SourceFull);
        }
        self.order.push_back((held.deadline, key));
        self.count_in(&held);
        self.by_flow.entry(key).or_default().push(held);
        Ok(())
    }

    fn count_in(&mut self, h: &Held) {
        self.count += 1;
        self.bytes += h.size();
        if !h.known {
            self.strangers += 1;
            self.stranger_bytes += h.size();
        }
        *self.by_source.entry(share_of(h)).or_default() += 1;
    }

    fn count_out(&mut self, h: &Held) {
        self.count -= 1;
        self.bytes -= h.size();
        if !h.known {
            self.strangers -= 1;
            self.stranger_bytes -= h.size();
        }
        let share = share_of(h);
        if let Some(n) = self.by_source.get_mut(&share) {
            *n -= 1;
            if *n == 0 {
                self.by_source.remove(&share);
            }
        }
    }

    /// Whether frames of `key` are waiting.
    pub(super) fn holds(&self, key: &FlowKey) -> bool {
        self.by_flow.contains_key(key)
    }

    /// Take every frame held for `key` (to be judged again).
    pub(super) fn take(&mut self, key: &FlowKey) -> Vec<Held> {
        let held = self.by_flow.remove(key).unwrap_or_default();
        for h in &held {
            self.count_out(h);
        }
        held
    }

    /// Put back frames taken with [`take`](Self::take) that still wait;
    /// their deadlines are already in the order queue.
    pub(super) fn put_back(&mut self, key: FlowKey, held: Vec<Held>) {
        if held.is_empty() {
            return;
        }
        for h in &held {
            self.count_in(h);
        }
        self.by_flow.entry(key).or_default().extend(held);
    }

    /// Remove every frame whose deadline is at or before `now` into `out`.
    pub(super) fn expire(&mut self, now: Instant, out: &mut Vec<Held>) {
        while let Some(&(deadline, key)) = self.order.front() {
            if deadline > now {
                break;
            }
            self.order.pop_front();
            let Some(mut list) = self.by_flow.remove(&key) else {
                continue;
            };
            let mut i = 0;
            while i < list.len() {
                if list[i].deadline <= now {
                    let h = list.swap_remove(i);
                    self.count_out(&h);
                    out.push(h);
                } else {
                    i += 1;
                }
            }
            if !list.is_empty() {
                self.by_flow.insert(key, list);
            }
        }
    }

    /// The earliest deadline, if any frame is held.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.order.front().map(|(d, _)| *d)
    }
}

/// A flow-opening frame deferred until a peer acknowledges its insert.
#[derive(Debug)]
pub(super) struct Deferred {
    /// The frame, checksums complete but the one `offload` leaves to the
    /// egress.
    pub frame: Vec<u8>,
    /// The offload it leaves with (docs/io.md §1).
    pub offload: crate::packet::Offload,
    /// Where it arrived.
    pub ingress: IfaceId,
    /// Where it leaves.
    pub egress: IfaceId,
    /// When it leaves even without an acknowledgement.
    pub deadline: Instant,
    /// The incarnation of the flow it opened.
    pub inc: Incarnation,
    /// When `frame` is a reassembled datagram: its fragments, which leave
    /// in its place.
    pub frags: Option<Box<Pieces>>,
}

/// Deferred frames, at most one per flow, bounded in total.
#[derive(Debug)]
pub(super) struct DeferQueue {
    by_flow: HashMap<FlowKey, Deferred, ahash::RandomState>,
    order: VecDeque<(Instant, FlowKey)>,
    max_packets: usize,
}

impl DeferQueue {
    pub(super) fn new(max_packets: usize, hasher: ahash::RandomState) -> Self {
        DeferQueue {
            by_flow: HashMap::with_hasher(hasher),
            order: VecDeque::new(),
            max_packets,
        }
    }

    /// Frames deferred now.
    pub(super) fn len(&self) -> usize {
        self.by_flow.len()
    }

    /// Keep `d` until `key`'s insert is acknowledged, or refuse it.
    pub(super) fn push(&mut self, key: FlowKey, d: Deferred) -> Result<(), Refused> {
        self.room_for(&key)?;
        self.order.push_back((d.deadline, key));
        self.by_flow.insert(key, d);
        Ok(())
    }

    /// Whether a frame of `key` could be deferred now.
    pub(super) fn room_for(&self, key: &FlowKey) -> Result<(), Refused> {
        if self.by_flow.contains_key(key) {
            return Err(Refused::Busy);
        }
        if self.by_flow.len() >= self.max_packets {
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Whether a frame waits for the acknowledgement of `key`'s `inc`.
    pub(super) fn waits_for(&self, key: &FlowKey, inc: &Incarnation) -> bool {
        self.by_flow.get(key).is_some_and(|d| d.inc == *inc)
    }

    /// A peer acknowledged `key`'s `inc`: the frame that waited for it.
    pub(super) fn acked(&mut self, key: &FlowKey, inc: &Incarnation) -> Option<Deferred> {
        if !self.waits_for(key, inc) {
            return None;
        }
        self.by_flow.remove(key)
    }

    /// Remove every frame whose deadline is at or before `now` into `out`.
    pub(super) fn expire(&mut self, now: Instant, out: &mut Vec<Deferred>) {
        while let Some(&(deadline, key)) = self.order.front() {
            if deadline > now {
                break;
            }
            self.order.pop_front();
            if self.by_flow.get(&key).is_some_and(|d| d.deadline <= now) {
                out.extend(self.by_flow.remove(&key));
            }
        }
    }

    /// The earliest deadline, if any frame is deferred.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.order.front().map(|(d, _)| *d)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::flow::{Addr, Endpoint, Tuple, proto};
    use std::time::Duration;

    /// The key of a TCP flow from port `port` of one test host to port 80
    /// of another (the pull schedule's tests use it too).
    pub(in crate::engine) fn key(port: u16) -> FlowKey {
        let tuple = Tuple {
            src: Endpoint {
                addr: Addr::v4([198, 18, 0, 1]),
                port,
            },
            dst: Endpoint {
                addr: Addr::v4([198, 18, 0, 2]),
                port: 80,
            },
            proto: proto::TCP,
            vlan: 0,
        };
        FlowKey::of(&tuple).0
    }

    fn held(deadline_ms: u64) -> Held {
        held_from(1, 60, deadline_ms)
    }

    fn held_from(source: u8, len: usize, deadline_ms: u64) -> Held {
        Held {
            frame: vec![0; len],
            meta: PacketMeta::default(),
            ingress: IfaceId(1),
            source: Host {
                addr: Addr::v4([198, 18, 7, source]),
                vlan: 0,
            },
            deadline: Instant::ZERO + Duration::from_millis(deadline_ms),
            lenient: false,
            reason: DropReason::TcpNotSyn,
            known: true,
            frags: None,
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    // === hold ===

    fn hasher() -> ahash::RandomState {
        ahash::RandomState::with_seeds(3, 5, 7, 9)
    }

    fn queue(packets: usize, per_flow: usize) -> HoldQueue {
        let limits = HoldLimits {
            packets,
            per_flow,
            bytes: usize::MAX,
            per_source: usize::MAX,
        };
        HoldQueue::new(limits, hasher())
    }

    #[test]
    fn hold_limits_total_and_per_flow() {
        let mut q = queue(3, 2);
        assert_eq!(q.push(key(1), held(10)), Ok(()));
        assert_eq!(q.push(key(1), held(10)), Ok(()));
        assert_eq!(q.push(key(1), held(10)), Err(Refused::Full), "per flow");
        assert_eq!(q.push(key(2), held(10)), Ok(()));
        assert_eq!(q.push(key(3), held(10)), Err(Refused::Full), "total");
        assert_eq!(q.len(), 3);
    }

    /// One source cannot take more than its share, and GSO-sized frames
    /// meet the byte budget long before the packet count: a flood of stray
    /// ACKs from one sender once kept the buffer full for everyone.
    #[test]
    fn hold_limits_bytes_and_per_source() {
        let limits = HoldLimits {
            packets: 100,
            per_flow: 100,
            bytes: 3 * 65_000,
            per_source: 2,
        };
        let mut q = HoldQueue::new(limits, hasher());
        assert_eq!(q.push(key(1), held_from(1, 60, 10)), Ok(()));
        assert_eq!(q.push(key(2), held_from(1, 60, 10)), Ok(()));
        assert_eq!(
            q.push(key(3), held_from(1, 60, 10)),
            Err(Refused::SourceFull),
            "source 1 has its share"
        );
        assert_eq!(q.push(key(3), held_from(2, 65_000, 10)), Ok(()));
        assert_eq!(q.push(key(4), held_from(3, 65_000, 10)), Ok(()));
        assert_eq!(
            q.push(key(5), held_from(4, 65_000, 10)),
            Err(Refused::Full),
            "bytes"
        );
        // Taking source 1's frames frees its share (and their bytes).
        assert_eq!(q.take(&key(1)).len(), 1);
        assert_eq!(q.push(key(6), held_from(1, 60, 10)), Ok(()));
        let mut out = Vec::new();
        q.expire(at(10), &mut out);
        assert_eq!((out.len(), q.len(), q.bytes), (4, 0, 0));
        assert!(q.by_source.is_empty());
    }

    /// A source's share is an address's within its VLAN: the same address
    /// on another VLAN is another host, with a share of its own.
    #[test]
    fn each_vlans_host_has_its_own_hold_share() {
        let limits = HoldLimits {
            packets: 100,
            per_flow: 100,
            bytes: usize::MAX,
            per_source: 1,
        };
        let mut q = HoldQueue::new(limits, hasher());
        let on = |vlan: u16| {
            let mut h = held_from(1, 60, 10);
            h.source.vlan = vlan;
            h
        };
        assert_eq!(q.push(key(1), on(10)), Ok(()));
        assert_eq!(q.push(key(2), on(10)), Err(Refused::SourceFull));
        assert_eq!(q.push(key(2), on(20)), Ok(()));
        assert_eq!(q.push(key(3), on(0)), Ok(()));
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn take_and_put_back_keep_the_count_and_deadlines() {
        let mut q = queue(8, 8);
        q.push(key(1), held(10)).unwrap();
        q.push(key(1), held(20)).unwrap();
        let taken = q.take(&key(1));
        assert_eq!((taken.len(), q.len()), (2, 0));
        assert!(q.take(&key(1)).is_empty());
        q.put_back(key(1), taken);
        assert_eq!(q.len(), 2);
        let mut out = Vec::new();
        q.expire(at(10), &mut out);
        assert_eq!((out.len(), q.len()), (1, 1));
        assert_eq!(q.next_deadline(), Some(at(20)));
        q.expire(at(20), &mut out);
        assert_eq!((out.len(), q.len()), (2, 0));
        assert_eq!(q.next_deadline(), None);
    }

    /// Frames of flows unknown here (anyone's stray ACKs) take at most
    /// half the buffer, by count and by bytes; frames of flows held here
    /// may take the rest, and the whole of it.
    #[test]
    fn strangers_take_at_most_half_the_buffer() {
        let limits = HoldLimits {
            packets: 8,
            per_flow: 8,
            bytes: 8 * 100,
            per_source: usize::MAX,
        };
        let mut q = HoldQueue::new(limits, hasher());
        let stranger = |source: u8, len: usize| Held {
            known: false,
            ..held_from(source, len, 10)
        };
        for i in 0..4 {
            assert_eq!(q.push(key(i), stranger(i as u8, 60)), Ok(()));
        }
        assert_eq!(q.push(key(9), stranger(9, 60)), Err(Refused::StrangersFull));
        for i in 10..14 {
            assert_eq!(q.push(key(i), held_from(i as u8, 60, 10)), Ok(()));
        }
        assert_eq!(q.push(key(20), held(10)), Err(Refused::Full));
        // Releasing strangers frees their half for strangers again.
        assert_eq!(q.take(&key(0)).len(), 1);
        assert_eq!(q.push(key(9), stranger(9, 60)), Ok(()));
        // By bytes: 400 for strangers, however few frames.
        let mut q = HoldQueue::new(limits, hasher());
        assert_eq!(q.push(key(1), stranger(1, 350)), Ok(()));
        assert_eq!(q.push(key(2), stranger(2, 60)), Err(Refused::StrangersFull));
        assert_eq!(q.push(key(2), held_from(2, 400, 10)), Ok(()));
        let mut out = Vec::new();
        q.expire(at(10), &mut out);
        assert_eq!((q.strangers, q.stranger_bytes, q.len()), (0, 0, 0));
    }

    /// An IPv6 source's share is its /64's: a host that sends from ever
    /// new addresses of its prefix has one share, not one per address.
    #[test]
    fn an_ipv6_source_shares_with_its_slash_64() {
        let limits = HoldLimits {
            packets: 100,
            per_flow: 100,
            bytes: usize::MAX,
            per_source: 2,
        };
        let mut q = HoldQueue::new(limits, hasher());
        let from = |prefix: u8, iid: u8| {
            let mut a = [0u8; 16];
            a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            a[7] = prefix;
            a[15] = iid;
            let mut h = held(10);
            h.known = false;
            h.source = Host {
                addr: Addr::v6(a),
                vlan: 0,
            };
            h
        };
        assert_eq!(q.push(key(1), from(1, 1)), Ok(()));
        assert_eq!(q.push(key(2), from(1, 2)), Ok(()));
        assert_eq!(q.push(key(3), from(1, 3)), Err(Refused::SourceFull));
        assert_eq!(q.push(key(3), from(2, 3)), Ok(()), "another /64");
        let mut out = Vec::new();
        q.expire(at(10), &mut out);
        assert!(q.by_source.is_empty());
    }

    #[test]
    fn expire_skips_flows_already_released() {
        let mut q = queue(8, 8);
        q.push(key(1), held(10)).unwrap();
        q.push(key(2), held(15)).unwrap();
        assert_eq!(q.take(&key(1)).len(), 1);
        let mut out = Vec::new();
        q.expire(at(12), &mut out);
        assert!(out.is_empty());
        q.expire(at(15), &mut out);
        assert_eq!((out.len(), q.len()), (1, 0));
    }

    // === defer ===

    fn deferred(ms: u64, id: u32) -> Deferred {
        Deferred {
            frame: vec![1; 60],
            offload: crate::packet::Offload::NONE,
            ingress: IfaceId(0),
            egress: IfaceId(1),
            deadline: at(ms),
            inc: Incarnation {
                created_ns: 1,
                owner: 1,
                id,
            },
            frags: None,
        }
    }

    #[test]
    fn defer_keeps_one_frame_per_flow_within_the_limit() {
        let mut q = DeferQueue::new(2, hasher());
        assert_eq!(q.push(key(1), deferred(10, 1)), Ok(()));
        assert_eq!(q.push(key(1), deferred(10, 2)), Err(Refused::Busy));
        assert_eq!(q.push(key(2), deferred(10, 3)), Ok(()));
        assert_eq!(q.push(key(3), deferred(10, 4)), Err(Refused::Full));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn only_the_acknowledgement_of_the_same_incarnation_releases() {
        let mut q = DeferQueue::new(4, hasher());
        q.push(key(1), deferred(10, 1)).unwrap();
        let other = deferred(10, 9).inc;
        assert!(q.acked(&key(1), &other).is_none());
        let inc = deferred(10, 1).inc;
        assert!(q.waits_for(&key(1), &inc));
        assert!(q.acked(&key(1), &inc).is_some());
        assert_eq!(q.len(), 0);
        let mut out = Vec::new();
        q.expire(at(10), &mut out);
        assert!(out.is_empty(), "an acknowledged frame does not leave twice");
    }

    #[test]
    fn defer_expires_in_deadline_order() {
        let mut q = DeferQueue::new(4, hasher());
        q.push(key(1), deferred(10, 1)).unwrap();
        q.push(key(2), deferred(20, 2)).unwrap();
        let mut out = Vec::new();
        q.expire(at(15), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(q.next_deadline(), Some(at(20)));
        q.expire(at(25), &mut out);
        assert_eq!((out.len(), q.len()), (2, 0));
    }
}
