//! What the TCP normalizer does to a passed segment of a tracked
//! connection: the ASA defaults' rewrites, the TTL floor and the sequence
//! shift (docs/asa-behaviour.md §6), on the entry the segment belongs to.

use super::normalize::{self, TcpView};
use crate::conntrack::{Entry, ProtoState};
use crate::counters::{NormalizerCounters, bump};
use crate::flow::Direction;
use crate::packet::{TcpFlags, TcpSegment};
use crate::policy::mss::MssClamp;

/// The TCP normalizer's rewrites with the ASA's defaults
/// (docs/asa-behaviour.md §6.1), then the sequence shift of a randomized
/// connection (§6.2), and the MSS clamp of a SYN or SYN-ACK (§6.3), on the
/// entry the segment belongs to; `floor` says what the segment's TTL does
/// to its direction's floor.
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
) {
    // reserved-bits allow (default): counted, passed.
    if frame.get(view.l4 + 12).is_some_and(|b| b & 0x0f != 0) {
        bump(&mut n.reserved_bits_seen);
    }
    // syn-data allow (default): counted, passed.
    if seg.flags.has(TcpFlags::SYN) && !seg.flags.has(TcpFlags::ACK) && seg.payload_len > 0 {
        bump(&mut n.syn_data_seen);
    }
    // exceed-mss allow (default): counted, passed. A GSO super-packet
    // leaves the far side as segments of `gso_size` bytes: that is the
    // size the receiver sees, not the super-packet's payload.
    if let ProtoState::Tcp(t) = &entry.proto {
        let mss = t.half[dir.other().index()].mss;
        let wire = match view.gso_size {
            0 => seg.payload_len,
            g => seg.payload_len.min(u32::from(g)),
        };
        if mss > 0 && wire > u32::from(mss) {
            bump(&mut n.exceed_mss_seen);
        }
    }
    // An authentication header's integrity check covers the TCP header
    // (RFC 4302 §3.3.3.1): rewriting it would have the receiver discard the
    // segment. Only the TTL, which the check leaves out as mutable, is
    // clamped.
    if !entry.ah() {
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
        clamp_mss(clamp, n, seg, frame, view);
    }
    // ttl-evasion-protection (default on): the TTL of a direction may
    // fall, never rise.
    if let Some(ttl) = normalize::ttl(frame, view) {
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
    let offset = entry.seq_offset;
    if offset != 0 {
        match dir {
            Direction::Orig => {
                normalize::shift_seq(frame, view, offset);
            }
            Direction::Reply if seg.flags.has(TcpFlags::ACK) => {
                normalize::unshift_ack(frame, view, offset);
            }
            Direction::Reply => {}
        }
    }
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
/// SYN-ACK's MSS after [`clamp_mss`]. The tracker records the MSS each side
/// announced, and `exceed-mss` compares data with it: the value the other
/// end received is what it sends by, and it is what every node records
/// (and syncs, docs/sync.md §1), since every node applies the same policy.
pub(super) fn as_received(seg: &mut TcpSegment, clamp: MssClamp) {
    if seg.flags.has(TcpFlags::SYN) {
        seg.options.mss = seg.options.mss.map(|m| clamp.apply(m));
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
