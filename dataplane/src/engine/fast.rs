//! The established-TCP fast path: most frames a firewall sees are in-window
//! segments of established connections, and for them the general path
//! ([`Engine::judge`], the tracker's transition table, the judgement a
//! peer may wait on) reduces to a few steps. This path does exactly those
//! steps, with the same strict window checks, normalizer and sequence
//! shift, and leaves every other frame, untouched, to the general path.
//!
//! A frame takes it when it is a TCP segment that is only an ACK (with
//! data, PSH, ECE, CWR or URG), on an interface the engine has, of a live
//! connection in ESTABLISHED whose copy is not passive, arriving on the
//! interface of its direction, with no FIN seen either way, and passes the
//! window checks as current (not stale). Everything is checked before
//! anything changes, so a frame that fails a check is judged from scratch
//! by the general path. `tests/fast_path_equivalence.rs` runs random
//! conversations through an engine with and without this path and
//! requires identical verdicts, frames, counters, entries and effects.

use super::normalize::TcpView;
use super::segment::{Floor, as_received, judge_mapped, normalize_and_shift};
use super::{Engine, account};
use crate::conntrack::{FlowId, ProtoState, TcpState};
use crate::counters::VerdictKind;
use crate::flow::FlowKey;
use crate::packet::{ChecksumState, PacketMeta, Parsed, Transport};
use crate::policy::mss::MssClamp;
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId, Verdict};

impl Engine {
    /// Turn the established-TCP fast path on or off (on by default). Off,
    /// every frame takes the general path: for tests that compare the two.
    #[doc(hidden)]
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_path = on;
    }

    /// Frames the fast path decided so far (tests check that it ran).
    #[doc(hidden)]
    pub fn fast_path_frames(&self) -> u64 {
        self.fast_path_frames
    }

    /// Decide an in-window segment of an established connection exactly as
    /// [`judge`](Self::judge) and the rest of `process_parsed` would, or
    /// return `Err`, having changed nothing, for any other frame: with the
    /// key's hash, and the slot of its entry once looked up, for the
    /// general path to reuse (`hash` as given when the frame was refused
    /// before the lookup). Always inlined: `process_parsed`'s body has two
    /// copies, one with captures (`engine/capture.rs`), and a function
    /// called twice would otherwise stay out of the one without.
    #[inline(always)]
    pub(super) fn established_fast(
        &mut self,
        frame: &mut [u8],
        meta: PacketMeta,
        ingress: IfaceId,
        now: Instant,
        parsed: &Result<Parsed, DropReason>,
        hash: Option<(u64, Option<FlowId>)>,
    ) -> Result<Verdict, Option<(u64, Option<FlowId>)>> {
        let Ok(Parsed::Ip {
            tuple,
            transport: Transport::Tcp(seg),
            ip_len,
            l3,
            l4,
            // A packet inside an authentication header takes the general
            // path: its connection must have been opened inside one.
            ah: false,
            ..
        }) = parsed
        else {
            return Err(hash);
        };
        // The cheap test first: the tracker refuses anything but an ACK.
        if seg.flags.0 & (crate::packet::TcpFlags::SYN | crate::packet::TcpFlags::FIN) != 0 {
            return Err(hash);
        }
        let Some(iface) = self.config.interfaces.get(usize::from(ingress.0)) else {
            return Err(hash);
        };
        let egress = iface.peer;
        let (key, src_is_lo) = FlowKey::of(tuple);
        let (hash, hint) = hash.unwrap_or_else(|| (self.table.hash(&key), None));
        let Some(id) = self.table.find_hinted(hash, &key, hint) else {
            // Not in the table: the general path need not look again.
            return Err(Some((hash, None)));
        };
        let fallback = Err(Some((hash, Some(id))));
        let entry = self.table.get(id);
        // Handshakes and closes first, the cheapest test (the tracker would
        // refuse them below). An expired entry is removed by the general
        // path's lookup; a passive copy waits there for a pull.
        if !matches!(&entry.proto, ProtoState::Tcp(t) if t.state == TcpState::Established)
            || self.is_expired(entry, now)
            || self.passive_copy(id)
            || entry.ah()
        {
            return fallback;
        }
        // The entry stays ESTABLISHED TCP (checked below): its kind count
        // needs no update.
        let entry = self.table.get_mut_same_kind(id);
        let dir = entry.direction(src_is_lo);
        if entry.ingress[dir.index()] != ingress {
            return fallback;
        }
        // What the other end's acknowledgements are shifted by
        // (`Entry::seq_shift`: randomization's or TCP Intercept's).
        let offset = entry.seq_shift(dir.other());
        let map = &self.classes.get(entry.class).options.tcp_normalizer;
        let ProtoState::Tcp(track) = &mut entry.proto else {
            return fallback;
        };
        let view = TcpView {
            l3: usize::from(*l3),
            l4: usize::from(*l4),
            header_len: usize::from(seg.header_len),
            v6: tuple.src.addr.is_v6(),
            fix_checksum: meta.checksum != ChecksumState::Partial,
            gso_size: meta.gso_size,
        };
        // A tcp-map's drops are the general path's to count.
        if map.is_custom()
            && judge_mapped(map, track.half[dir.other().index()].mss, seg, frame, &view).is_err()
        {
            return fallback;
        }
        // As the general path: an end acknowledges the other's space as
        // shifted, the tracker works in each end's own.
        let mut seen = *seg;
        // Not a SYN: only a map's clears change what the receiver gets.
        if map.is_custom() {
            as_received(&mut seen, MssClamp::OFF, map, false);
        }
        if offset != 0 {
            seen.ack = seen.ack - offset;
            seen.options.sack_right_edge = seen.options.sack_right_edge.map(|e| e - offset);
        }
        let Some(changed) = track.track_established(dir, &seen) else {
            return fallback;
        };
        debug_assert_eq!(track.state, TcpState::Established);
        // From here on, what the general path does with
        // `Tracked::Pass { from: Established, to: Established }`.
        account(entry, dir, *ip_len, now, true);
        normalize_and_shift(
            entry,
            &mut self.counters.normalizer,
            dir,
            seg,
            frame,
            &view,
            Floor::Lower,
            self.policy.mss_clamp(),
            map,
        );
        self.sync_touch(id, changed, now);
        self.reopened_after = None;
        self.fast_path_frames += 1;
        self.count_forwarded(frame.len());
        self.counters
            .count_frame(usize::from(ingress.0), VerdictKind::Forward, frame.len());
        Ok(Verdict::Forward { egress })
    }
}
