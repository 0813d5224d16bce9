//! What becomes of frames on their way out: the per-frame outcome of a
//! `sendmmsg` batch, the kernel's size rule for a frame, and the counters
//! a socket keeps of the frames it could not send, by [`TxDrop`] reason.
//!
//! `sendmmsg` stops at the first message the kernel refuses and returns
//! how many went before it; the refusal's errno is lost, and a call that
//! starts at the refused message returns it (sendmmsg(2)). So one refused
//! frame must not take the rest of its batch with it: [`send_each`] sends
//! again from the refused frame, learns its errno, counts it and carries
//! on after it.

use rampart_dataplane::counters::TxDrop;

use crate::link::{ErrnoClass, classify};

/// Bytes of an Ethernet header (the device's `hard_header_len`).
const ETH_HLEN: usize = 14;
/// Bytes of one VLAN tag.
const VLAN_HLEN: usize = 4;
/// The one TPID for which the kernel lets a frame be a tag longer than
/// the MTU allows (`packet_extra_vlan_len_allowed`, packet(7) sends).
const TPID_8021Q: u16 = 0x8100;
/// Outer TPIDs of stacked tags (802.1ad, and the older 0x9100-0x9300).
const TPID_STACKED: [u16; 4] = [0x88a8, 0x9100, 0x9200, 0x9300];

/// What a socket counted of its sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Frames not sent, by reason.
    pub drops: [u64; TxDrop::COUNT],
    /// Transmit-ring kicks the kernel answered with an error.
    pub kick_errors: u64,
    /// Kicks after which the oldest queued slot was still not taken.
    pub stalled_kicks: u64,
    /// The last errno of a link event (`ENETDOWN`, `ENXIO`) a send met,
    /// for the bridge's view of the link; taken by it.
    pub link_errno: Option<i32>,
}

impl TxStats {
    /// Count `n` frames not sent for `reason`.
    pub fn drop_frames(&mut self, reason: TxDrop, n: usize) {
        let c = &mut self.drops[reason as usize];
        *c = c.saturating_add(n as u64);
    }

    /// Remember `errno` if it says something of the link.
    pub fn note_errno(&mut self, errno: i32) {
        if matches!(classify(errno), ErrnoClass::Down | ErrnoClass::Gone) {
            self.link_errno = Some(errno);
        }
    }

    /// All frames not sent.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// `other`'s counts added to these (the link errno is not summed).
    pub fn add(&mut self, other: &TxStats) {
        for (a, b) in self.drops.iter_mut().zip(other.drops) {
            *a = a.saturating_add(b);
        }
        self.kick_errors = self.kick_errors.saturating_add(other.kick_errors);
        self.stalled_kicks = self.stalled_kicks.saturating_add(other.stalled_kicks);
    }
}

/// The reason to give a frame the kernel found too large: a stacked
/// (802.1ad) tag has its own, as only an 802.1Q tag may ride over the MTU.
pub fn too_big_reason(frame: &[u8]) -> TxDrop {
    match frame.get(12..14) {
        Some(t) if TPID_STACKED.contains(&u16::from_be_bytes([t[0], t[1]])) => TxDrop::TaggedTooBig,
        _ => TxDrop::TooBig,
    }
}

/// Whether the kernel would refuse `frame` (no offload header) on a
/// device of `mtu`: longer than the MTU and the Ethernet header, unless
/// the 4 bytes over are an 802.1Q tag (`packet_snd`, `tpacket_snd`).
/// A transmit ring set to skip bad frames (`PACKET_LOSS`) would drop such
/// a frame in silence, so the ring checks it first and counts it.
pub fn refused_for_size(frame: &[u8], mtu: u32) -> Option<TxDrop> {
    let base = (mtu as usize).saturating_add(ETH_HLEN);
    let len = frame.len();
    if len <= base {
        return None;
    }
    let tagged = frame
        .get(12..14)
        .is_some_and(|t| u16::from_be_bytes([t[0], t[1]]) == TPID_8021Q);
    if tagged && len <= base + VLAN_HLEN {
        return None;
    }
    Some(too_big_reason(frame))
}

/// Send frames `0..count` through `send(first, n)` (one `sendmmsg` of
/// frames `first..first + n`, `n` at most `batch`: how many the kernel
/// took, or the errno of the first, refused, one), with
/// `bytes(i)` frame `i`'s bytes; returns how many were sent. Every frame
/// not sent is counted in `stats`, once:
///
/// - too large (`EMSGSIZE`) or refused (`EINVAL`, ...): that frame, and
///   the next ones are sent;
/// - no room (`EAGAIN`, `ENOBUFS`): `wait_for_room` once (a short poll for
///   writability), then again; still none: the rest, as `no_buffers`;
/// - the link is down or gone: the rest, as `link_down`.
pub fn send_each<'a>(
    count: usize,
    batch: usize,
    mut send: impl FnMut(usize, usize) -> Result<usize, i32>,
    mut wait_for_room: impl FnMut(),
    bytes: impl Fn(usize) -> &'a [u8],
    stats: &mut TxStats,
) -> usize {
    let mut at = 0;
    let mut sent = 0;
    let mut waited = false;
    while at < count {
        let n = (count - at).min(batch.max(1));
        // A call that takes nothing without an error is no progress: as
        // a full queue, so the loop cannot spin on it.
        let result = match send(at, n) {
            Ok(0) => Err(libc::EAGAIN),
            r => r,
        };
        match result {
            Ok(k) => {
                let k = k.min(n);
                sent += k;
                at += k;
                // k < n: the next call starts at the refused frame and
                // returns its errno.
            }
            Err(errno) => match classify(errno) {
                ErrnoClass::TooBig => {
                    stats.drop_frames(too_big_reason(bytes(at)), 1);
                    at += 1;
                }
                ErrnoClass::Other => {
                    stats.drop_frames(TxDrop::Refused, 1);
                    at += 1;
                }
                ErrnoClass::Busy if !waited => {
                    waited = true;
                    wait_for_room();
                }
                ErrnoClass::Busy => {
                    stats.drop_frames(TxDrop::NoBuffers, count - at);
                    break;
                }
                ErrnoClass::Down | ErrnoClass::Gone => {
                    stats.note_errno(errno);
                    stats.drop_frames(TxDrop::LinkDown, count - at);
                    break;
                }
            },
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames per `sendmmsg` call.
    const BATCH: usize = 32;

    /// A kernel that refuses frame `i` with `refuse(i)` and takes the
    /// rest, as sendmmsg reports it: the count before the first refused
    /// frame, or that frame's errno when it is first. Returns what was
    /// sent (frame indices) and the calls made.
    fn run(
        count: usize,
        refuse: impl Fn(usize, usize) -> Option<i32>,
    ) -> (Vec<usize>, TxStats, usize, usize) {
        let frames: Vec<Vec<u8>> = (0..count).map(|_| vec![0u8; 60]).collect();
        let mut wire = Vec::new();
        let mut calls = 0;
        let mut waits = 0;
        let mut stats = TxStats::default();
        let sent = send_each(
            count,
            BATCH,
            |first, n| {
                calls += 1;
                assert!(n <= BATCH);
                for i in first..first + n {
                    if let Some(e) = refuse(i, calls) {
                        return if i == first { Err(e) } else { Ok(i - first) };
                    }
                    wire.push(i);
                }
                Ok(n)
            },
            || waits += 1,
            |i| &frames[i],
            &mut stats,
        );
        assert_eq!(sent, wire.len());
        assert_eq!(
            sent as u64 + stats.dropped(),
            count as u64,
            "every frame sent or counted once"
        );
        (wire, stats, calls, waits)
    }

    #[test]
    fn one_refused_frame_costs_that_frame_only() {
        let (wire, stats, ..) = run(40, |i, _| (i == 3).then_some(libc::EMSGSIZE));
        assert_eq!(wire.len(), 39);
        assert!(!wire.contains(&3));
        assert_eq!(
            wire[3..],
            (4..40).collect::<Vec<_>>()[..],
            "in order after it"
        );
        assert_eq!(stats.drops[TxDrop::TooBig as usize], 1);
        let (wire, stats, ..) = run(10, |i, _| (i % 2 == 0).then_some(libc::EINVAL));
        assert_eq!(wire, vec![1, 3, 5, 7, 9]);
        assert_eq!(stats.drops[TxDrop::Refused as usize], 5);
    }

    #[test]
    fn a_full_queue_is_waited_for_once_then_the_rest_is_counted() {
        // Room comes back after the wait.
        let (wire, stats, _, waits) =
            run(8, |i, call| (i == 2 && call <= 2).then_some(libc::ENOBUFS));
        assert_eq!(wire, (0..8).collect::<Vec<_>>());
        assert_eq!((stats.dropped(), waits), (0, 1));
        // It does not.
        let (wire, stats, _, waits) = run(8, |i, _| (i >= 2).then_some(libc::EAGAIN));
        assert_eq!(wire, vec![0, 1]);
        assert_eq!(stats.drops[TxDrop::NoBuffers as usize], 6);
        assert_eq!(waits, 1);
    }

    #[test]
    fn a_link_down_counts_the_rest_and_tells_the_link() {
        let (wire, stats, calls, _) = run(70, |i, _| (i >= 33).then_some(libc::ENETDOWN));
        assert_eq!(wire.len(), 33);
        assert_eq!(stats.drops[TxDrop::LinkDown as usize], 37);
        assert_eq!(stats.link_errno, Some(libc::ENETDOWN));
        assert_eq!(calls, 3, "32, then 1, then the refused one");
        let (_, stats, ..) = run(5, |_, _| Some(libc::ENXIO));
        assert_eq!(stats.drops[TxDrop::LinkDown as usize], 5);
        assert_eq!(stats.link_errno, Some(libc::ENXIO));
    }

    #[test]
    fn a_call_that_takes_nothing_does_not_spin() {
        let mut stats = TxStats::default();
        let frames = [vec![0u8; 60]];
        let sent = send_each(1, BATCH, |_, _| Ok(0), || {}, |i| &frames[i], &mut stats);
        assert_eq!(sent, 0);
        assert_eq!(stats.drops[TxDrop::NoBuffers as usize], 1);
    }

    /// A frame of `len` bytes with EtherType (or TPID) `tpid`.
    fn frame(len: usize, tpid: u16) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[12..14].copy_from_slice(&tpid.to_be_bytes());
        f
    }

    #[test]
    fn the_kernels_size_rule_lets_only_an_8021q_tag_over_the_mtu() {
        assert_eq!(refused_for_size(&frame(1514, 0x0800), 1500), None);
        assert_eq!(
            refused_for_size(&frame(1515, 0x0800), 1500),
            Some(TxDrop::TooBig)
        );
        assert_eq!(refused_for_size(&frame(1518, 0x8100), 1500), None);
        assert_eq!(
            refused_for_size(&frame(1519, 0x8100), 1500),
            Some(TxDrop::TooBig)
        );
        // A full-size 802.1ad frame with its tag put back.
        assert_eq!(
            refused_for_size(&frame(1518, 0x88a8), 1500),
            Some(TxDrop::TaggedTooBig)
        );
        assert_eq!(refused_for_size(&frame(1514, 0x88a8), 1500), None);
        assert_eq!(refused_for_size(&[0u8; 20], 0), Some(TxDrop::TooBig));
        assert_eq!(too_big_reason(&frame(1518, 0x88a8)), TxDrop::TaggedTooBig);
        assert_eq!(too_big_reason(&[]), TxDrop::TooBig);
    }
}
