//! Virtual reassembly of IP fragments, as the ASA does it by default
//! (docs/asa-behaviour.md §2.8): a datagram's fragments are kept until all
//! have arrived, the datagram they make is judged as one packet (rules,
//! connection, checks, a wait for a peer's state), and the fragments leave
//! as they came, rewritten as the datagram was (a sequence offset, a TTL),
//! or are dropped together. Nothing is judged on a fragment alone: only
//! the first carries ports, and a later one could overwrite them.

use std::collections::VecDeque;
use std::ops::Range;

use hashbrown::HashMap;

use super::{Effect, Engine, ReleaseCause};
use crate::counters::{VerdictKind, bump};
use crate::flow::{Addr, FlowKey};
use crate::packet::{
    ChecksumState, FragmentInfo, Offload, PacketMeta, Parsed, Transport, assemble, fragment_info,
    parse, set_ipv4_checksum,
};
use crate::policy::compile::FragmentLimits;
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId, Verdict};

/// Bytes of fragment frames one engine keeps at once, over all chains:
/// `fragment size` and `fragment chain` bound datagrams and fragments, but
/// their product allows far more memory than a node should give a sender
/// of fragments (30,000 datagrams of 8,200 fragments).
pub const MAX_FRAGMENT_BYTES: usize = 32 << 20;

/// Which worker of a node's engines owns a flow, for a datagram whose
/// fragments reached another one: the kernel spreads fragments by their
/// addresses alone (only the first carries ports), whole packets by their
/// ports too (docs/io.md §9).
#[derive(Debug, Clone, Copy)]
pub struct WorkerShare {
    /// This engine's worker.
    pub index: usize,
    /// The node's workers.
    pub count: usize,
    /// The worker (of `count`) whose engine holds `key`'s flow.
    pub worker_of: fn(&FlowKey, usize) -> usize,
}

/// One fragment kept.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    /// The frame as received.
    frame: Vec<u8>,
    /// Its network header's offset.
    l3: usize,
    /// Its data in the frame.
    data: Range<usize>,
    /// Where that data goes in the datagram's fragmentable part.
    offset: u32,
}

impl Piece {
    fn end(&self) -> u32 {
        self.offset + (self.data.end - self.data.start) as u32
    }
}

/// A datagram's fragments, to leave once the datagram they make passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pieces {
    /// IPv6 (else IPv4).
    v6: bool,
    /// Where the fragmentable part starts in the datagram's frame.
    head: usize,
    /// IPv6: where the next-header field that named the fragment header
    /// is (the same offset in the datagram's frame, where it names what
    /// follows the headers kept).
    next_header_at: usize,
    /// The fragments, by offset.
    pieces: Vec<Piece>,
}

/// IPv6's fragment header (RFC 8200 §4.5).
const IPV6_FRAGMENT: u8 = 44;

impl Pieces {
    /// How many fragments.
    pub(super) fn len(&self) -> usize {
        self.pieces.len()
    }

    /// The bytes of their frames.
    pub(super) fn bytes(&self) -> usize {
        self.pieces.iter().map(|p| p.frame.len()).sum()
    }

    /// Their frames, with what judging the datagram (`datagram`, the frame
    /// it was judged as) rewrote in it put into them: each fragment's
    /// bytes of the fragmentable part, and the TTL or hop limit.
    ///
    /// An IPv6 fragment leaves with the headers the datagram was judged
    /// with: the first fragment's unfragmentable part (RFC 8200 §4.5), then
    /// its own fragment header naming the first's next header. A later
    /// fragment's own extension headers are never judged (a routing
    /// header there would send it on to an address the rules did not
    /// see), so they do not leave; OpenBSD pf rebuilds IPv6 fragments
    /// from the reassembled packet's headers in the same way.
    fn into_frames(self, datagram: &[u8]) -> impl Iterator<Item = Vec<u8>> {
        let v6 = self.v6;
        let ttl_at = move |l3: usize| l3 + if v6 { 7 } else { 8 };
        let l3 = self.pieces.first().map_or(0, |p| p.l3);
        let ttl = datagram.get(ttl_at(l3)).copied();
        let head = self.head;
        let next_header_at = self.next_header_at;
        self.pieces.into_iter().map(move |mut p| {
            let from = head + p.offset as usize;
            if v6 && let Some(data) = datagram.get(from..from + p.data.len()) {
                let mut f = Vec::with_capacity(head + 8 + data.len());
                f.extend_from_slice(&datagram[..head]);
                let fragment_header = &p.frame[p.data.start - 8..p.data.start];
                f.extend_from_slice(fragment_header);
                f[head] = datagram[next_header_at];
                f[next_header_at] = IPV6_FRAGMENT;
                f.extend_from_slice(data);
                let payload = (f.len() - l3 - 40) as u16;
                f[l3 + 4..l3 + 6].copy_from_slice(&payload.to_be_bytes());
                return f;
            }
            if let Some(src) = datagram.get(from..from + p.data.len()) {
                p.frame[p.data.clone()].copy_from_slice(src);
            }
            let at = ttl_at(p.l3);
            if let Some(ttl) = ttl
                && p.frame.get(at).is_some_and(|&t| t != ttl)
            {
                p.frame[at] = ttl;
                if !v6 {
                    let ihl = usize::from(p.frame[p.l3] & 0x0f) * 4;
                    set_ipv4_checksum(&mut p.frame[p.l3..p.l3 + ihl]);
                }
            }
            p.frame
        })
    }
}

/// What one worker hands to the worker that owns its flow
/// ([`Effect::HandOff`]), which judges it with [`Engine::take_handoff`]: a
/// datagram whose fragments all arrived on the first (the kernel spreads
/// fragments by their addresses alone), or an ICMP error about a flow
/// (spread by its own addresses, not the flow's; docs/io.md §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handed {
    ingress: IfaceId,
    /// The datagram as one frame, or the ICMP error.
    frame: Vec<u8>,
    /// The datagram's fragments; `None` for a frame handed whole.
    pieces: Option<Pieces>,
    /// How the frame is parsed.
    meta: PacketMeta,
}

impl Handed {
    /// A frame handed over whole, as it arrived on `ingress`.
    pub(super) fn whole(ingress: IfaceId, frame: Vec<u8>, meta: PacketMeta) -> Handed {
        Handed {
            ingress,
            frame,
            pieces: None,
            meta,
        }
    }

    /// How many frames it stands for (a datagram's fragments, else one).
    pub fn frames(&self) -> usize {
        self.pieces.as_ref().map_or(1, Pieces::len)
    }
}

/// Per interface, what `show fragment` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Fragments waiting for their datagram's others now (and datagrams
    /// dropped whole whose later fragments are refused until their
    /// deadline, one each).
    pub queued: u64,
    /// Datagrams whose fragments all arrived and were judged.
    pub assembled: u64,
    /// Datagrams whose fragments were dropped (overlap, too many, too
    /// long, timed out, a tiny first fragment).
    pub failed: u64,
    /// Fragments dropped because the interface's database was full and
    /// held no older datagram to give up.
    pub overflow: u64,
    /// Datagrams given up, their fragments dropped, to make room in the
    /// interface's full database for a newer one (Rampart's, beyond the
    /// ASA's counts).
    pub evicted: u64,
}

/// What identifies a datagram (RFC 791 §3.2: source, destination,
/// protocol and identification; RFC 8200 §4.5: source, destination and
/// identification), on the link and interface its fragments came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ChainKey {
    src: Addr,
    dst: Addr,
    id: u32,
    proto: u8,
    v6: bool,
    vlan: u16,
    ingress: u8,
}

/// One datagram's fragments so far.
#[derive(Debug)]
struct Chain {
    pieces: Vec<Piece>,
    /// The fragment at offset 0, once it arrived.
    first: Option<FragmentInfo>,
    /// The datagram's fragmentable length, once its last fragment arrived.
    total: Option<u32>,
    /// Data bytes kept.
    have: u32,
    /// Frame bytes kept.
    bytes: usize,
    deadline: Instant,
    /// Dropped for this reason: its later fragments are too, until the
    /// deadline.
    failed: Option<DropReason>,
}

/// The datagrams in reassembly, and the fragments they keep.
#[derive(Debug)]
pub(super) struct Reassembly {
    chains: HashMap<ChainKey, Chain, ahash::RandomState>,
    /// Per interface: datagrams assembled, failed, overflowed.
    stats: Vec<FragmentStats>,
    /// Per interface: fragments kept, and datagrams dropped whole whose
    /// later fragments are still refused (each one place until its
    /// deadline): what `fragment size` bounds.
    queued: Vec<usize>,
    /// Frame bytes kept, over all chains.
    bytes: usize,
    /// The earliest deadline, if any chain waits.
    next_deadline: Option<Instant>,
    /// Per interface: its datagrams in the order they began (with their
    /// deadlines; an item whose chain completed, failed out or began
    /// again is stale and skipped), the oldest first: the one a full
    /// database gives up for a newer one. Compacted when it grows past
    /// twice the database's places, so stale items cannot pile up.
    order: Vec<VecDeque<(Instant, ChainKey)>>,
}

impl Reassembly {
    pub(super) fn new(interfaces: usize, hasher: ahash::RandomState) -> Self {
        Reassembly {
            chains: HashMap::with_hasher(hasher),
            stats: vec![FragmentStats::default(); interfaces],
            queued: vec![0; interfaces],
            bytes: 0,
            next_deadline: None,
            order: vec![VecDeque::new(); interfaces],
        }
    }

    /// Note a datagram that began on interface `ingress` (whose database
    /// has `places`).
    fn began(&mut self, key: ChainKey, deadline: Instant, places: usize) {
        let i = usize::from(key.ingress).min(self.order.len().saturating_sub(1));
        let Some(order) = self.order.get_mut(i) else {
            return;
        };
        if order.len() >= 2 * places.max(64) {
            let chains = &self.chains;
            order.retain(|(d, k)| chains.get(k).is_some_and(|c| c.deadline == *d));
        }
        order.push_back((deadline, key));
    }

    /// Take out the oldest datagram of interface `ingress` but `keep`'s,
    /// to make room for a newer one; `None` when there is none.
    fn oldest_but(&mut self, ingress: u8, keep: &ChainKey) -> Option<Chain> {
        let i = usize::from(ingress).min(self.order.len().saturating_sub(1));
        let order = self.order.get_mut(i)?;
        let mut skipped = None;
        let mut found = None;
        while let Some((deadline, key)) = order.pop_front() {
            if self.chains.get(&key).is_none_or(|c| c.deadline != deadline) {
                continue;
            }
            if key == *keep {
                skipped = Some((deadline, key));
                continue;
            }
            found = self.chains.remove(&key);
            break;
        }
        if let Some(item) = skipped {
            order.push_front(item);
        }
        let chain = found?;
        self.bytes -= chain.bytes;
        *slot(&mut self.queued, ingress) -= chain.pieces.len().max(1);
        Some(chain)
    }

    fn stats(&mut self, ingress: IfaceId) -> &mut FragmentStats {
        let i = usize::from(ingress.0).min(self.stats.len().saturating_sub(1));
        &mut self.stats[i]
    }

    fn queued(&mut self, ingress: u8) -> &mut usize {
        slot(&mut self.queued, ingress)
    }
}

/// Interface `ingress`'s entry of a per-interface count.
fn slot(counts: &mut [usize], ingress: u8) -> &mut usize {
    let i = usize::from(ingress).min(counts.len().saturating_sub(1));
    &mut counts[i]
}

/// The checks a fragment meets against the fragments of its datagram
/// kept so far (in order of offset, none overlapping, so only its
/// neighbours at `at`, where it would go, can overlap it): the reason the
/// datagram is dropped, if it fails one. A chain of thousands of
/// fragments costs a search per fragment, not a scan (the FragmentSmack
/// attack, CVE-2018-5391, made Linux's scan quadratic).
fn misfit(
    chain: &Chain,
    info: &FragmentInfo,
    at: usize,
    limits: &FragmentLimits,
) -> Option<DropReason> {
    let (start, end) = (info.offset, info.end());
    let before = at.checked_sub(1).map(|i| &chain.pieces[i]);
    let after = chain.pieces.get(at);
    let last_end = chain.pieces.last().map_or(0, Piece::end);
    if chain.pieces.len() >= limits.chain as usize {
        Some(DropReason::FragmentChainExceeded)
    } else if before.is_some_and(|p| p.end() > start) || after.is_some_and(|p| p.offset < end) {
        Some(DropReason::FragmentOverlap)
    } else if !info.more && (chain.total.is_some() || last_end > end)
        || info.more && chain.total.is_some_and(|t| end >= t)
    {
        // Two last fragments, or data past the last one's end.
        Some(DropReason::FragmentMalformed)
    } else {
        None
    }
}

/// The bytes of the transport header the rules and the tracker read: the
/// first fragment must hold them all (RFC 1858 §3; RFC 7112 §5 for IPv6's
/// whole header chain).
fn transport_header_len(transport: &Transport, proto: u8) -> usize {
    match transport {
        Transport::Tcp(seg) => usize::from(seg.header_len),
        Transport::Udp { .. } | Transport::Icmp(_) => 8,
        // SCTP: ports and verification tag (RFC 9260 §3.1).
        Transport::Other if proto == crate::flow::proto::SCTP => 12,
        Transport::Other => 0,
    }
}

impl Engine {
    /// A frame [`parse`] found to be a fragment, arrived on `ingress`:
    /// kept with its datagram's others (the shell sends nothing now), or
    /// dropped. The fragments leave as [`Effect::Release`] once the
    /// datagram is complete and passes.
    pub(super) fn fragment(
        &mut self,
        frame: &[u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
    ) -> Verdict {
        let verdict = self.collect_fragment(frame, meta, ingress, now);
        let kind = match verdict {
            Verdict::Drop(reason) => {
                bump(&mut self.counters.drops[reason.index()]);
                VerdictKind::Drop
            }
            _ => VerdictKind::Hold,
        };
        self.counters
            .count_frame(usize::from(ingress.0), kind, frame.len());
        verdict
    }

    fn collect_fragment(
        &mut self,
        frame: &[u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
    ) -> Verdict {
        let limits = self.policy.fragment_limits(ingress);
        if limits.chain <= 1 {
            return Verdict::Drop(DropReason::Fragment);
        }
        // No sender asks offload of a fragment: a checksum cannot be left
        // to a device across fragments, nor can one be cut in segments.
        if meta.asked != Default::default()
            || meta.gso_size != 0
            || meta.checksum == ChecksumState::Partial
        {
            return Verdict::Drop(DropReason::OffloadUnsupported);
        }
        let info = match fragment_info(frame) {
            Ok(info) => info,
            Err(reason) => return Verdict::Drop(reason),
        };
        let key = ChainKey {
            src: info.src,
            dst: info.dst,
            id: info.id,
            // RFC 8200 §4.5: an IPv6 datagram is identified without it (its
            // fragments may name different next headers; the first's counts).
            proto: if info.v6 { 0 } else { info.proto },
            v6: info.v6,
            vlan: info.vlan,
            ingress: ingress.0,
        };
        // The ASA's `fragment size` bounds the packets waiting for
        // reassembly ("the maximum number of packets that can be in the
        // IP reassembly database", its command reference), as here. Where
        // the ASA then refuses every fragment until the database empties,
        // Rampart gives up the interface's oldest datagrams for the newer
        // one (docs/asa-behaviour.md §2.8): a sender of lone fragments
        // cannot hold the database against datagrams that complete.
        while self.fragments.bytes + frame.len() > MAX_FRAGMENT_BYTES
            || *self.fragments.queued(ingress.0) >= limits.size as usize
        {
            let Some(old) = self.fragments.oldest_but(ingress.0, &key) else {
                bump(&mut self.fragments.stats(ingress).overflow);
                return Verdict::Drop(DropReason::FragmentDatabaseFull);
            };
            bump(&mut self.fragments.stats(ingress).evicted);
            if old.failed.is_none() {
                let d = &mut self.counters.drops[DropReason::FragmentDatabaseFull.index()];
                *d = d.saturating_add(old.pieces.len() as u64);
                let frames = old.pieces.iter().map(|p| &p.frame[..]);
                self.capture_late_drops(frames, ingress, DropReason::FragmentDatabaseFull, now);
            }
        }
        let r = &mut self.fragments;
        let deadline = now + limits.timeout;
        if !r.chains.contains_key(&key) {
            r.began(key, deadline, limits.size as usize);
        }
        let chain = r.chains.entry(key).or_insert_with(|| Chain {
            pieces: Vec::new(),
            first: None,
            total: None,
            have: 0,
            bytes: 0,
            deadline,
            failed: None,
        });
        if r.next_deadline.is_none_or(|d| chain.deadline < d) {
            r.next_deadline = Some(chain.deadline);
        }
        if let Some(reason) = chain.failed {
            return Verdict::Drop(reason);
        }
        let at = chain.pieces.partition_point(|p| p.offset < info.offset);
        if chain
            .pieces
            .get(at)
            .is_some_and(|p| p.offset == info.offset && p.end() == info.end())
        {
            return Verdict::Drop(DropReason::FragmentDuplicate);
        }
        if let Some(reason) = misfit(chain, &info, at, &limits) {
            // The datagram is dropped whole: its fragments kept so far
            // too, and those still to come until its deadline (the
            // datagram keeps one place in the database until then).
            let kept = chain.pieces.len();
            r.bytes -= chain.bytes;
            chain.bytes = 0;
            let dropped = std::mem::take(&mut chain.pieces);
            chain.failed = Some(reason);
            let q = r.queued(ingress.0);
            *q = *q - kept + 1;
            bump(&mut r.stats(ingress).failed);
            let d = &mut self.counters.drops[reason.index()];
            *d = d.saturating_add(kept as u64);
            self.capture_late_drops(dropped.iter().map(|p| &p.frame[..]), ingress, reason, now);
            return Verdict::Drop(reason);
        }
        chain.pieces.insert(
            at,
            Piece {
                frame: frame.to_vec(),
                l3: info.l3,
                data: info.data.clone(),
                offset: info.offset,
            },
        );
        *slot(&mut r.queued, ingress.0) += 1;
        chain.have += info.len();
        chain.bytes += frame.len();
        r.bytes += frame.len();
        if !info.more {
            chain.total = Some(info.end());
        }
        if info.offset == 0 {
            chain.first = Some(info);
        }
        // Complete: no overlap, so the bytes kept cover the whole.
        if chain.total == Some(chain.have) && chain.first.is_some() {
            let chain = r.chains.remove(&key).expect("just found");
            r.bytes -= chain.bytes;
            *r.queued(ingress.0) -= chain.pieces.len();
            self.reassembled(ingress, chain, now);
        }
        Verdict::Hold
    }

    /// A datagram's fragments are all in: build the datagram, and judge it
    /// here, or hand it to the worker that owns its flow.
    fn reassembled(&mut self, ingress: IfaceId, mut chain: Chain, now: Instant) {
        let first = chain.first.take().expect("complete chains have a first");
        let mut data = Vec::with_capacity(chain.have as usize);
        for p in &chain.pieces {
            data.extend_from_slice(&p.frame[p.data.clone()]);
        }
        let head = if first.v6 {
            first.head_len
        } else {
            first.data.start
        };
        // No datagram is longer than its 16-bit length says (IPv4: the
        // total length; IPv6: the payload length, RFC 8200 §3).
        let counted = head - first.l3 - if first.v6 { 40 } else { 0 };
        if counted + data.len() > 65_535 {
            bump(&mut self.fragments.stats(ingress).failed);
            let d = &mut self.counters.drops[DropReason::FragmentMalformed.index()];
            *d = d.saturating_add(chain.pieces.len() as u64);
            let frames = chain.pieces.iter().map(|p| &p.frame[..]);
            self.capture_late_drops(frames, ingress, DropReason::FragmentMalformed, now);
            return;
        }
        bump(&mut self.fragments.stats(ingress).assembled);
        let r = Handed {
            ingress,
            frame: assemble(&chain.pieces[0].frame, &first, &data),
            pieces: Some(Pieces {
                v6: first.v6,
                head,
                next_header_at: first.next_header_at,
                pieces: chain.pieces,
            }),
            meta: DATAGRAM_META,
        };
        if let Some(share) = self.config.workers
            && share.count > 1
            && let Ok(Parsed::Ip { tuple, .. }) = parse(&r.frame, DATAGRAM_META)
        {
            let worker = (share.worker_of)(&FlowKey::of(&tuple).0, share.count);
            if worker != share.index {
                self.push_effect(Effect::HandOff {
                    worker,
                    chain: Box::new(r),
                });
                return;
            }
        }
        self.judge_handed(r, DATAGRAM_META, now);
    }

    /// Judge what another worker handed over: a datagram's fragments, or
    /// the frame, leave as [`Effect::Release`] effects, or are dropped and
    /// counted (a frame was counted on arrival by the worker that got it).
    // (Boxed as the effect carried it: a worker's queue passes it on whole.)
    #[allow(clippy::boxed_local)]
    pub fn take_handoff(&mut self, chain: Box<Handed>, now: Instant) {
        let meta = chain.meta;
        self.judge_handed(*chain, meta, now);
    }

    /// Judge a datagram (or a frame handed over whole) as one packet
    /// arrived on `ingress`; its fragments leave, wait with it for a
    /// peer's state, or are dropped.
    fn judge_handed(&mut self, r: Handed, meta: PacketMeta, now: Instant) {
        let Handed {
            ingress,
            mut frame,
            pieces,
            ..
        } = r;
        let n = pieces.as_ref().map_or(1, Pieces::len) as u64;
        let parsed = parse(&frame, meta);
        let early = if let Some(reason) = self.not_ready().map(|_| DropReason::ClusterNotReady) {
            Some(reason)
        } else if let Some(&Some(reason)) = self.gates.get(usize::from(ingress.0)) {
            Some(reason)
        } else {
            match &parsed {
                Err(reason) => Some(*reason),
                Ok(Parsed::Ip {
                    l4,
                    transport,
                    tuple,
                    ..
                }) => pieces.as_ref().and_then(|pieces| {
                    let first_end = pieces.head + pieces.pieces[0].data.len();
                    let need = usize::from(*l4) + transport_header_len(transport, tuple.proto);
                    (need > first_end).then_some(DropReason::FragmentTiny)
                }),
                Ok(_) => None,
            }
        };
        if let Some(reason) = early {
            if reason == DropReason::FragmentTiny {
                bump(&mut self.fragments.stats(ingress).failed);
            }
            let d = &mut self.counters.drops[reason.index()];
            *d = d.saturating_add(n);
            self.capture_late_drop(&frame, ingress, reason, now, &parsed);
            return;
        }
        // A shun that reached this worker while the frame was on its way
        // covers it too (counted there).
        if self.shunned(&frame, ingress, n, now).is_some() {
            self.capture_late_drop(&frame, ingress, DropReason::Shunned, now, &parsed);
            return;
        }
        let judged = self.judge(&mut frame, meta, ingress, now, &parsed, None);
        let whole = pieces.is_none();
        let offload = match (&parsed, whole) {
            (Ok(Parsed::Ip { offload, .. }), true) => *offload,
            _ => Offload::NONE,
        };
        let mut kept = pieces;
        let verdict = self.wait_for_peer(judged, &frame, meta, offload, ingress, now, &mut kept);
        self.settle_hits(&judged, verdict);
        match verdict {
            Verdict::Forward { egress } => match kept {
                Some(pieces) => {
                    self.release_pieces(&frame, pieces, egress, ReleaseCause::Reassembled);
                }
                None => {
                    self.count_forwarded(frame.len());
                    self.push_effect(Effect::Release {
                        egress,
                        frame,
                        offload,
                        cause: ReleaseCause::HandedOff,
                    });
                }
            },
            Verdict::Drop(reason) => {
                let d = &mut self.counters.drops[reason.index()];
                *d = d.saturating_add(n);
                self.log_denied(&frame, meta, ingress, reason, now);
                self.capture_late_drop(&frame, ingress, reason, now, &parsed);
            }
            Verdict::Hold => {}
        }
    }

    /// A datagram (judged as `datagram`) passed: its fragments leave by
    /// `egress`.
    pub(super) fn release_pieces(
        &mut self,
        datagram: &[u8],
        pieces: Pieces,
        egress: IfaceId,
        cause: ReleaseCause,
    ) {
        // All or none: a datagram part of whose fragments left would be
        // lost all the same at the host. A datagram of more fragments than
        // the bound goes alone into an empty queue (`fragment chain` may
        // be 8,200).
        let n = pieces.len();
        if !self.effects.is_empty() && self.effects.len() + n > super::MAX_PENDING_EFFECTS {
            let d = &mut self.counters.effects_dropped;
            *d = d.saturating_add(n as u64);
            return;
        }
        for frame in pieces.into_frames(datagram) {
            self.count_forwarded(frame.len());
            self.effects.push_back(Effect::Release {
                egress,
                frame,
                offload: Offload::NONE,
                cause,
            });
        }
    }

    /// Drop the datagrams whose fragments did not all arrive in time.
    pub(super) fn expire_fragments(&mut self, now: Instant) {
        let capturing = self.captures.is_some();
        let r = &mut self.fragments;
        if r.next_deadline.is_none_or(|d| d > now) {
            return;
        }
        // The fragments of the datagrams that timed out, for the captures.
        let mut expired = Vec::new();
        let mut next = None::<Instant>;
        let mut timed_out = Vec::new();
        let mut gone = Vec::new();
        r.chains.retain(|key, chain| {
            if chain.deadline > now {
                next = Some(next.map_or(chain.deadline, |n| n.min(chain.deadline)));
                return true;
            }
            gone.push((key.ingress, chain.pieces.len().max(1)));
            if chain.failed.is_none() {
                timed_out.push((key.ingress, chain.pieces.len() as u64));
                if capturing {
                    expired.push((key.ingress, std::mem::take(&mut chain.pieces)));
                }
            }
            false
        });
        for (ingress, places) in gone {
            *r.queued(ingress) -= places;
        }
        r.next_deadline = next;
        r.bytes = r.chains.values().map(|c| c.bytes).sum();
        for (ingress, kept) in timed_out {
            bump(&mut r.stats(IfaceId(ingress)).failed);
            let d = &mut self.counters.drops[DropReason::FragmentTimeout.index()];
            *d = d.saturating_add(kept);
        }
        for (ingress, pieces) in expired {
            let frames = pieces.iter().map(|p| &p.frame[..]);
            self.capture_late_drops(frames, IfaceId(ingress), DropReason::FragmentTimeout, now);
        }
    }

    /// Items in interface `iface`'s list of datagrams in arrival order,
    /// stale ones included (for tests of its bound).
    #[cfg(test)]
    pub(crate) fn fragment_order_len(&self, iface: IfaceId) -> usize {
        self.fragments
            .order
            .get(usize::from(iface.0))
            .map_or(0, VecDeque::len)
    }

    /// `show fragment`'s counters, per interface.
    pub fn fragment_stats(&self) -> Vec<FragmentStats> {
        let mut stats = self.fragments.stats.clone();
        for (s, &q) in stats.iter_mut().zip(&self.fragments.queued) {
            s.queued = q as u64;
        }
        stats
    }
}

/// How a reassembled datagram is parsed: its transport checksum was never
/// checked (a fragment's frame carries no offload), so it is now, over
/// the whole datagram.
const DATAGRAM_META: PacketMeta = PacketMeta {
    checksum: ChecksumState::Unverified,
    gso_size: 0,
    asked: crate::packet::OffloadRequest::NONE,
};
