//! What the TCP normalizer does to a passed segment of a tracked
//! connection: the ASA defaults' rewrites, the TTL floor and the sequence
//! shift (docs/asa-behaviour.md §6), on the entry the segment belongs to.

use super::normalize::{self, TcpView};
use crate::conntrack::tcp::TcpEvent;
use crate::conntrack::{Entry, ProtoState};
use crate::counters::{NormalizerCounters, bump};
use crate::flow::{Direction, FlowKey};
use crate::packet::{TcpFlags, TcpSegment};
use crate::policy::mss::MssClamp;
use crate::policy::tcp_map::{Action, TcpNormalizer};
use crate::verdict::DropReason;

/// The class's drops (docs/asa-behaviour.md §6.1), before the tracker
/// sees the segment: `synack-data drop` (the default), and under a
/// tcp-map `syn-data drop`, `reserved-bits drop`, `tcp-options range …
/// drop` and `exceed-mss drop` (`receiver_mss`: the MSS the receiver
/// announced, 0 if none or not known yet). A drop changes nothing, and is
/// fine inside an authentication header (nothing is rewritten).
/// Inlined: without a tcp-map it is one test of the segment (the frame
/// path of a class without a map costs what it did before maps).
#[inline(always)]
pub(super) fn judge(
    map: &TcpNormalizer,
    receiver_mss: u16,
    seg: &TcpSegment,
    frame: &[u8],
    view: &TcpView,
) -> Result<(), DropReason> {
    // `synack-data drop` (default): a SYN-ACK carrying data is a known
    // evasion, and no stack sends one.
    if seg.payload_len > 0
        && !map.synack_data_allow
        && TcpEvent::classify(seg.flags) == Some(TcpEvent::SynAck)
    {
        return Err(DropReason::TcpSynAckData);
    }
    if !map.is_custom() {
        return Ok(());
    }
    judge_mapped(map, receiver_mss, seg, frame, view)
}

/// [`judge`]'s drops of a class with a tcp-map (the fast path's, which
/// sees no SYN or SYN-ACK).
pub(super) fn judge_mapped(
    map: &TcpNormalizer,
    receiver_mss: u16,
    seg: &TcpSegment,
    frame: &[u8],
    view: &TcpView,
) -> Result<(), DropReason> {
    if map.syn_data_drop && is_syn_with_data(seg) {
        return Err(DropReason::TcpSynData);
    }
    if map.reserved_bits == Action::Drop && reserved_bits_set(frame, view) {
        return Err(DropReason::TcpReservedSet);
    }
    if normalize::has_dropped_option(frame, view, map) {
        return Err(DropReason::TcpOptionDrop);
    }
    if map.exceed_mss_drop && receiver_mss > 0 && wire_payload(seg, view) > u32::from(receiver_mss)
    {
        return Err(DropReason::TcpMssExceeded);
    }
    Ok(())
}

fn is_syn_with_data(seg: &TcpSegment) -> bool {
    seg.flags.has(TcpFlags::SYN) && !seg.flags.has(TcpFlags::ACK) && seg.payload_len > 0
}

fn reserved_bits_set(frame: &[u8], view: &TcpView) -> bool {
    frame.get(view.l4 + 12).is_some_and(|b| b & 0x0f != 0)
}

/// The payload as its receiver gets it. A GSO super-packet leaves the far
/// side as segments of `gso_size` bytes: that is the size the receiver
/// sees, not the super-packet's payload.
fn wire_payload(seg: &TcpSegment, view: &TcpView) -> u32 {
    match view.gso_size {
        0 => seg.payload_len,
        g => seg.payload_len.min(u32::from(g)),
    }
}

/// The TCP normalizer's rewrites with the class's settings (`map`, the
/// ASA's defaults without a tcp-map: docs/asa-behaviour.md §6.1), then the
/// sequence shift of a randomized connection (§6.2), and the MSS clamp of
/// a SYN or SYN-ACK (§6.3), on the entry the segment belongs to; `floor`
/// says what the segment's TTL does to its direction's floor. The drops
/// were [`judge`]'s.
#[allow(clippy::too_many_arguments)]
pub(super) fn normalize_and_shift(
    entry: &mut Entry,
    n: &mut NormalizerCounters,
    dir: Direction,
    seg: &TcpSegment,
    frame: &mut [u8],
    view: &TcpView,
    floor: Floor,
    clamp: MssClamp,
    map: &TcpNormalizer,
) {
    // reserved-bits allow (default): counted, passed.
    let reserved = reserved_bits_set(frame, view);
    if reserved {
        bump(&mut n.reserved_bits_seen);
    }
    // syn-data allow (default): counted, passed.
    if is_syn_with_data(seg) {
        bump(&mut n.syn_data_seen);
    }
    // exceed-mss allow (default): counted, passed.
    if let ProtoState::Tcp(t) = &entry.proto {
        let mss = t.half[dir.other().index()].mss;
        if mss > 0 && wire_payload(seg, view) > u32::from(mss) {
            bump(&mut n.exceed_mss_seen);
        }
    }
    // An authentication header's integrity check covers the TCP header
    // (RFC 4302 §3.3.3.1): rewriting it would have the receiver discard the
    // segment. Only the TTL, which the check leaves out as mutable, is
    // clamped.
    if !entry.ah() {
        if !map.is_custom() {
            // urgent-flag clear (default).
            if normalize::clear_urgent(frame, view) {
                bump(&mut n.urgent_cleared);
            }
            // tcp-options range 6-7, 9-255 clear (default); the parse saw
            // whether there is any such option to clear.
            if seg.options.clearable {
                let cleared = normalize::clear_unknown_options(frame, view);
                n.options_cleared = n.options_cleared.saturating_add(u64::from(cleared));
            }
        } else {
            normalize_mapped(map, n, reserved, frame, view);
        }
        clamp_mss(clamp, n, seg, frame, view);
    }
    // ttl-evasion-protection (default on): the TTL of a direction may
    // fall, never rise. Turned off, the floor is neither kept nor used.
    let ttl = if map.ttl_evasion {
        normalize::ttl(frame, view)
    } else {
        None
    };
    if let Some(ttl) = ttl {
        let min = &mut entry.min_ttl[dir.index()];
        if floor == Floor::Reset {
            *min = ttl;
        } else if ttl < *min {
            if floor == Floor::Lower {
                *min = ttl;
            }
        } else if ttl > *min && normalize::clamp_ttl(frame, view, *min) {
            bump(&mut n.ttl_clamped);
        }
    }
    // Randomization shifts the initiator's space, TCP Intercept the
    // server's (`Entry::seq_shift`).
    let own = entry.seq_shift(dir);
    if own != 0 {
        normalize::shift_seq(frame, view, own);
    }
    let other = entry.seq_shift(dir.other());
    if other != 0 && seg.flags.has(TcpFlags::ACK) {
        normalize::unshift_ack(frame, view, other);
    }
}

/// The rewrites of a class with a tcp-map (not inside an authentication
/// header): `urgent-flag`, `reserved-bits clear`, and the options the map
/// clears (`tcp-options`, named or by range).
fn normalize_mapped(
    map: &TcpNormalizer,
    n: &mut NormalizerCounters,
    reserved: bool,
    frame: &mut [u8],
    view: &TcpView,
) {
    if !map.urgent_allow && normalize::clear_urgent(frame, view) {
        bump(&mut n.urgent_cleared);
    }
    if reserved && map.reserved_bits == Action::Clear && normalize::clear_reserved_bits(frame, view)
    {
        bump(&mut n.reserved_bits_cleared);
    }
    let cleared = normalize::clear_options(frame, view, map);
    n.options_cleared = n.options_cleared.saturating_add(u64::from(cleared));
}

/// `sysopt connection tcpmss` (docs/asa-behaviour.md §6.3): the MSS
/// option of a SYN or SYN-ACK, in either direction ("if either endpoint of
/// a connection requests a TCP MSS that is larger …", Cisco ASA Series
/// General Operations CLI Configuration Guide, "About the TCP MSS"),
/// brought within `clamp`. The MSS option means something only on a SYN
/// (RFC 9293 §3.7.1), so no other segment is touched. Counted when the
/// frame changed.
pub(super) fn clamp_mss(
    clamp: MssClamp,
    n: &mut NormalizerCounters,
    seg: &TcpSegment,
    frame: &mut [u8],
    view: &TcpView,
) {
    if clamp == MssClamp::OFF || !seg.flags.has(TcpFlags::SYN) || seg.options.mss.is_none() {
        return;
    }
    if normalize::clamp_mss(frame, view, clamp) {
        bump(&mut n.mss_clamped);
    }
}

/// The segment as its receiver gets it, for the tracker: a SYN's or
/// SYN-ACK's MSS after [`clamp_mss`], and without the options the class's
/// tcp-map clears (`map`; nothing is cleared inside an authentication
/// header, `ah`). The tracker records the MSS each side announced, and
/// `exceed-mss` compares data with it: the value the other end received
/// is what it sends by, and it is what every node records (and syncs,
/// docs/sync.md §1), since every node applies the same policy. A window
/// scale cleared from a SYN means neither side scales (RFC 7323 §2.2),
/// and cleared SACK blocks acknowledge nothing to the receiver.
pub(super) fn as_received(seg: &mut TcpSegment, clamp: MssClamp, map: &TcpNormalizer, ah: bool) {
    if seg.flags.has(TcpFlags::SYN) {
        seg.options.mss = seg.options.mss.map(|m| clamp.apply(m));
    }
    if map.is_custom() && !ah {
        if map.window_scale_clear {
            seg.options.window_scale = None;
        }
        if map.sack_clear {
            seg.options.sack_permitted = false;
            seg.options.sack_right_edge = None;
        }
    }
}

/// What a passed TCP segment's TTL does to its direction's floor
/// (`ttl-evasion-protection`, docs/asa-behaviour.md §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Floor {
    /// The tracker checked it against the windows: it may lower the floor.
    Lower,
    /// It passed unchecked (a SYN or SYN-ACK in a live connection outside
    /// its window, a
    /// stale or challenge segment): anyone who guessed the tuple can send
    /// one, and a TTL of 1 would have every later segment of the
    /// direction die at the first router. It leaves the floor alone.
    Keep,
    /// A SYN (or SYN-ACK) that starts its direction's sequence space anew:
    /// the floor starts anew with it. A blind SYN that restarted an
    /// initiator's space (and its floor) is undone, floor too, by the
    /// initiator's own retransmission.
    Reset,
}

/// The sequence-randomization offset of a new connection: a keyed PRF of
/// the flow and the initiator's ISN (RFC 6528 §3 builds ISNs the same
/// way), so it cannot be predicted without the secret. It depends on
/// nothing node-local: a node that never heard of a connection (its
/// insert lost with the node that forwarded the SYN) shifts the client's
/// retransmitted SYN, which carries the same ISN, exactly as that node
/// shifted the first one, and the server, still in SYN-RECEIVED, answers
/// it (docs/sync.md §1). A stack that restarts the attempt with a new ISN
/// on an entry still in SYN_SENT keeps the offset the entry was given:
/// the offset is part of an incarnation's state, which peers never
/// change, so every node that holds the entry shifts alike (a node that
/// never heard of it would take the new ISN's offset). A new incarnation
/// of a tuple has a new ISN and so a new offset. Never zero, which means
/// "not randomized".
pub(super) fn seq_offset(secret: [u64; 2], key: &FlowKey, isn: u32) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = siphasher::sip::SipHasher24::new_with_keys(secret[0], secret[1]);
    key.hash(&mut h);
    isn.hash(&mut h);
    (h.finish() as u32).max(1)
}
