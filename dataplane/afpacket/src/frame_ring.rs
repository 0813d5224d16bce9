//! AF_PACKET with a per-frame `TPACKET_V2` receive ring (Linux): the
//! low-latency ring back end ("packet_mmap", Linux kernel documentation;
//! packet(7)). docs/io.md §2 gives the reasoning.
//!
//! - Every frame slot of [`SLOT_BYTES`] has its own `tp_status`: the
//!   kernel hands a frame to user space the moment it is written and wakes
//!   the reader per frame. There is no block retire timer, so a quiet link
//!   pays no millisecond per crossing as the `TPACKET_V3` block ring does;
//!   a busy link is still read with no syscall per frame.
//! - Frames larger than a slot (a 64 KiB GSO super-packet with
//!   `PACKET_VNET_HDR`, a jumbo frame): with `PACKET_COPY_THRESH` set, the
//!   kernel puts the first bytes in the slot, marks it `TP_STATUS_COPY`,
//!   and queues the whole frame on the socket's receive queue in ring
//!   order; it is read from there with `recvmmsg` (one syscall per batch of
//!   such frames). When the queue is over its budget the kernel queues
//!   nothing: the slot then holds a frame cut short, reported truncated.
//! - Transmit: a companion send-only socket with a `TPACKET_V3` transmit
//!   ring ([`RingSocket::open_tx_only`]: a socket has one ring version,
//!   and the block ring's transmit code is V3), one kick per batch; where
//!   the kernel refuses it, `sendmmsg` on the receiving socket.
//! - Same semantics as the other back ends: checksum state from
//!   `tp_status` or the vnet header, the 802.1Q tag of `tp_vlan_tci` put
//!   back into the frame (the shared [`prepare`](crate::ring::prepare)),
//!   frames cut short reported truncated, and every offset read from a
//!   slot checked against the slot ([`parse_slot`]); a slot that fails is
//!   counted by [`BadBlock`] reason and given back.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use rampart_dataplane::packet::PacketMeta;

use crate::afpacket::{
    KernelStats, PacketSocket, RX_BATCH_FRAMES, RxBatch, VNET_HDR_BYTES, open_error, setsockopt_int,
};
use crate::link::{Probe, recv_error_is_event};
use crate::ring::{
    BadBlock, FrameHdr, IoMode, Mapping, RingCounters, RingSlot, RingSocket, RingVersion,
    prepare_counted, read_u16, read_u32, ring_version, set_ring, socket_accessors,
};
use crate::tx::TxStats;

/// Bytes per receive slot: its `tpacket2_hdr`, the room the kernel leaves
/// up to the frame (with a vnet header 76 bytes in all), and a full-size
/// Ethernet frame. Larger frames take the copy path.
pub const SLOT_BYTES: u32 = 2048;
/// Bytes of the receive ring (32 MiB, as the other back ends): 16,384
/// slots.
pub const RING_BYTES: u32 = 32 << 20;
/// Bytes per ring block (the kernel's unit of allocation; slots never
/// straddle one).
const BLOCK_BYTES: u32 = 64 << 10;
/// Most slots taken in one batch (they go back to the kernel together).
pub const MAX_BATCH_SLOTS: usize = 256;
/// Most whole frames remembered as left on the socket's queue by failed
/// reads (read and thrown away before the next batch's): more than the
/// queue's budget holds of 64 KiB frames is never true.
pub const MAX_COPY_DEBT: usize = 1024;

/// `sizeof(struct tpacket2_hdr)`.
pub const SLOT_HDR_BYTES: usize = 32;
/// Offsets in `struct tpacket2_hdr`.
const S_STATUS: usize = 0;
const S_LEN: usize = 4;
const S_SNAPLEN: usize = 8;
const S_MAC: usize = 12;
const S_VLAN_TCI: usize = 24;
const S_VLAN_TPID: usize = 26;

/// `TP_STATUS_*` (`<linux/if_packet.h>`).
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// The whole frame waits on the socket's receive queue.
pub const TP_STATUS_COPY: u32 = 1 << 1;
/// `PACKET_COPY_THRESH`: frames larger than a slot are queued whole.
const PACKET_COPY_THRESH: libc::c_int = 7;

/// Read the `tpacket2_hdr` at the start of `slot` and check its offsets
/// against the slot: the frame (and its vnet header, when `vnet`) lies
/// after the header and inside the slot. The header's `at` is 0.
pub fn parse_slot(slot: &[u8], vnet: bool) -> Result<FrameHdr, BadBlock> {
    let h = slot.get(..SLOT_HDR_BYTES).ok_or(BadBlock::FrameHeader)?;
    let field = |o| read_u32(h, o).ok_or(BadBlock::FrameHeader);
    let half = |o| read_u16(h, o).ok_or(BadBlock::FrameHeader);
    let status = field(S_STATUS)?;
    let wire_len = field(S_LEN)? as usize;
    let snaplen = field(S_SNAPLEN)? as usize;
    let mac = usize::from(half(S_MAC)?);
    let vlan_tci = half(S_VLAN_TCI)?;
    let vlan_tpid = half(S_VLAN_TPID)?;
    let room = if vnet { VNET_HDR_BYTES } else { 0 };
    if mac < SLOT_HDR_BYTES + room || mac.checked_add(snaplen).is_none_or(|e| e > slot.len()) {
        return Err(BadBlock::FrameData);
    }
    Ok(FrameHdr {
        at: 0,
        mac,
        snaplen,
        wire_len,
        status,
        vlan_tci,
        vlan_tpid,
    })
}

/// One frame of a batch: in a ring slot, or copied whole from the
/// socket's queue.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// In the mapping, at the slot's offsets (made absolute).
    Slot(RingSlot),
    /// Frame `i` of the copy batch.
    Copy(usize),
}

/// An AF_PACKET socket with a per-frame `TPACKET_V2` receive ring.
#[derive(Debug)]
pub struct FrameRingSocket {
    sock: PacketSocket,
    map: Mapping,
    slot_bytes: usize,
    slots_per_block: usize,
    block_bytes: usize,
    slot_count: usize,
    /// The next slot to read.
    next: usize,
    /// The slots of the batch being processed start here ...
    held_from: usize,
    /// ... and this many are ours until released.
    held: usize,
    frames: Vec<Frame>,
    /// Frames larger than a slot, read from the socket's queue.
    copies: Box<RxBatch>,
    /// Whole frames still on the queue whose slots went back without
    /// them (a read failed): the queue's first ones, in ring order.
    copy_debt: usize,
    /// The errno of the last link event a read of the queue met, taken
    /// by the bridge (the failed read consumed the socket's error, so
    /// poll(2) will not report it).
    link_errno: Option<i32>,
    /// The transmit ring's socket (`None`: refused; `sendmmsg`).
    tx: Option<Box<RingSocket>>,
    /// What this socket counted.
    pub counters: RingCounters,
}

impl FrameRingSocket {
    /// Open `ifname` with a per-frame receive ring; `vnet` asks for
    /// `PACKET_VNET_HDR` (set before the ring, as the kernel requires). An
    /// error means the kernel refused the ring (or the interface): the
    /// caller may fall back to [`PacketSocket`].
    pub fn open(ifname: &str, vnet: bool) -> io::Result<Self> {
        Self::open_with_slots(ifname, vnet, SLOT_BYTES)
    }

    /// [`Self::open`] with slots of `slot_bytes` (a multiple of 16 that
    /// divides the block, or the kernel refuses the ring).
    pub fn open_with_slots(ifname: &str, vnet: bool, slot_bytes: u32) -> io::Result<Self> {
        let sock = ring_version(PacketSocket::open(ifname)?, ifname, vnet, RingVersion::V2)?;
        let fd = sock.fd();
        setsockopt_int(fd, libc::SOL_PACKET, PACKET_COPY_THRESH, 1)
            .map_err(|e| open_error(ifname, "PACKET_COPY_THRESH", e))?;
        let blocks = RING_BYTES / BLOCK_BYTES;
        let per_block = BLOCK_BYTES / slot_bytes.max(1);
        let req = libc::tpacket_req {
            tp_block_size: BLOCK_BYTES,
            tp_block_nr: blocks,
            tp_frame_size: slot_bytes,
            tp_frame_nr: blocks * per_block,
        };
        set_ring(fd, libc::PACKET_RX_RING, &req)
            .map_err(|e| open_error(ifname, "PACKET_RX_RING", e))?;
        // The receive ring is the socket's only ring.
        let map = Mapping::new(fd, (blocks * BLOCK_BYTES) as usize, ifname)?;
        let tx = RingSocket::open_tx_only(ifname, vnet).ok().map(Box::new);
        Ok(FrameRingSocket {
            tx,
            sock,
            map,
            slot_bytes: slot_bytes as usize,
            slots_per_block: per_block as usize,
            block_bytes: BLOCK_BYTES as usize,
            slot_count: (blocks * per_block) as usize,
            next: 0,
            held_from: 0,
            held: 0,
            frames: Vec::with_capacity(MAX_BATCH_SLOTS),
            copies: Box::default(),
            copy_debt: 0,
            link_errno: None,
            counters: RingCounters::default(),
        })
    }

    /// How this socket moves frames.
    pub fn mode(&self) -> IoMode {
        RingVersion::V2.mode(self.tx.is_some())
    }

    /// The counters of this socket's receive ring, and of its transmit
    /// ring added in.
    pub fn counters(&self) -> RingCounters {
        let mut c = self.counters;
        if let Some(t) = &self.tx {
            c.tx_spilled = c.tx_spilled.saturating_add(t.counters.tx_spilled);
        }
        c
    }

    /// What it could not send (transmit ring, or `sendmmsg`), by reason.
    pub fn tx_stats(&self) -> TxStats {
        let mut t = self.sock.tx_stats();
        if let Some(r) = &self.tx {
            t.add(&r.tx_stats());
        }
        t
    }

    /// The errno of the last link event a read or a send met, taken.
    pub fn take_link_errno(&mut self) -> Option<i32> {
        let tx = self.tx.as_mut().and_then(|t| t.take_link_errno());
        let sock = self.sock.take_link_errno();
        self.link_errno.take().or(tx).or(sock)
    }

    /// Look at the interface (and refresh the transmit ring's MTU).
    pub fn probe(&mut self) -> Probe {
        match &mut self.tx {
            Some(t) => t.probe(),
            None => self.sock.probe(),
        }
    }

    /// Tell the transmit ring whether the bridge sees the link down.
    pub fn set_link_down(&mut self, down: bool) {
        if let Some(t) = &mut self.tx {
            t.set_link_down(down);
        }
    }

    /// Read the socket's queue into `copies`, at most `max` frames; after
    /// an error (which clears the socket's error), once more. `None`: both
    /// failed (the errno is kept for the bridge).
    fn recv_copies(&mut self, max: usize) -> Option<usize> {
        for _ in 0..2 {
            match self.sock.recv_batch_max(&mut self.copies, max) {
                Ok(n) => return Some(n),
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(libc::EIO);
                    if recv_error_is_event(errno) {
                        self.link_errno = Some(errno);
                    }
                }
            }
        }
        None
    }

    /// Read the whole frames of this batch's `want` copy slots: first
    /// throw away those left on the queue by failed reads (they are its
    /// first, in ring order), then read `want`; returns how many were
    /// read. When a read fails, this batch's frames stay on the queue and
    /// are remembered to be thrown away next time.
    fn read_copies(&mut self, want: usize) -> usize {
        while self.copy_debt > 0 {
            match self.recv_copies(self.copy_debt.min(RX_BATCH_FRAMES)) {
                // The queue is empty: nothing stale is left on it.
                Some(0) => self.copy_debt = 0,
                Some(k) => {
                    self.copy_debt -= k.min(self.copy_debt);
                    self.counters.copy_stale = self.counters.copy_stale.saturating_add(k as u64);
                }
                None => {
                    self.copy_debt = (self.copy_debt + want).min(MAX_COPY_DEBT);
                    return 0;
                }
            }
        }
        match self.recv_copies(want) {
            Some(k) => k,
            None => {
                self.copy_debt = want.min(MAX_COPY_DEBT);
                0
            }
        }
    }

    socket_accessors!();

    /// Offset of slot `i` in the mapping.
    fn slot_at(&self, i: usize) -> usize {
        (i / self.slots_per_block) * self.block_bytes + (i % self.slots_per_block) * self.slot_bytes
    }

    /// The `tp_status` of slot `i` (first in its header).
    fn status_of(&self, i: usize) -> &AtomicU32 {
        let at = self.slot_at(i);
        debug_assert!(at + SLOT_HDR_BYTES <= self.map.len);
        self.map.status_at(at + S_STATUS)
    }

    /// Take the slots the kernel handed over (at most
    /// [`MAX_BATCH_SLOTS`]), read the whole frames of those marked
    /// `TP_STATUS_COPY`, and make the frames ready; returns how many (0
    /// when none is waiting). The previous batch is given back first.
    pub fn recv(&mut self) -> usize {
        self.release();
        self.frames.clear();
        // Pass 1: which slots are ours, and how many whole frames wait on
        // the queue for them (one recvmmsg reads at most RX_BATCH_FRAMES).
        let from = self.next;
        let mut held = 0;
        let mut copies = 0;
        while held < MAX_BATCH_SLOTS.min(self.slot_count) {
            let i = (from + held) % self.slot_count;
            let status = self.status_of(i).load(Ordering::Acquire);
            if status & TP_STATUS_USER == 0 {
                break;
            }
            if status & TP_STATUS_COPY != 0 {
                if copies == RX_BATCH_FRAMES {
                    break;
                }
                copies += 1;
            }
            held += 1;
        }
        if held == 0 {
            return 0;
        }
        self.held_from = from;
        self.held = held;
        self.next = (from + held) % self.slot_count;
        self.counters.slots = self.counters.slots.saturating_add(held as u64);
        let vnet = self.vnet_hdr();
        // The wire length of each copy slot, in ring order.
        let mut copy_lens = [0usize; RX_BATCH_FRAMES];
        let mut copy = 0;
        for k in 0..held {
            let at = self.slot_at((from + k) % self.slot_count);
            // SAFETY: the slot is user space's (TP_STATUS_USER was seen with
            // Acquire) until `release` writes TP_STATUS_KERNEL; `at +
            // slot_bytes` lies inside the mapping, and no other view of
            // this slot exists while this one lives.
            let slot = unsafe {
                std::slice::from_raw_parts_mut(self.map.ptr.as_ptr().add(at), self.slot_bytes)
            };
            let status = read_u32(slot, S_STATUS).unwrap_or(0);
            if status & TP_STATUS_COPY != 0 {
                // Pass 1 counted at most RX_BATCH_FRAMES copy slots.
                copy_lens[copy] = read_u32(slot, S_LEN).unwrap_or(0) as usize;
                self.frames.push(Frame::Copy(copy));
                copy += 1;
                continue;
            }
            match parse_slot(slot, vnet) {
                Ok(h) => {
                    if let Some(mut s) = prepare_counted(slot, &h, vnet, &mut self.counters) {
                        s.start += at;
                        s.end += at;
                        self.frames.push(Frame::Slot(s));
                    }
                }
                Err(reason) => self.counters.count_bad(reason, 1),
            }
        }
        if copy > 0 {
            self.pair_copies(&copy_lens[..copy]);
        }
        // Nothing to judge: give the slots back now, not after the next
        // sleep.
        if self.frames.is_empty() {
            self.release();
        }
        self.frames.len()
    }

    /// Read the whole frames of the batch's copy slots (`lens`: their
    /// wire lengths, in ring order) and put each in its slot's place
    /// ([`pair_copies`]); a slot without its frame leaves the batch.
    fn pair_copies(&mut self, lens: &[usize]) {
        // The kernel queued each whole frame before it marked its slot, in
        // ring order.
        let got = self.read_copies(lens.len());
        let mut read = [0usize; RX_BATCH_FRAMES];
        for (j, r) in read.iter_mut().enumerate().take(got) {
            *r = self.copies.wire_len(j);
        }
        let mut pairs = [None; RX_BATCH_FRAMES];
        let stale = pair_copies(lens, &read[..got], &mut pairs);
        let c = &mut self.counters;
        c.copy_stale = c.copy_stale.saturating_add(stale as u64);
        self.frames.retain_mut(|f| match f {
            Frame::Slot(_) => true,
            Frame::Copy(k) => match pairs[*k] {
                Some(j) => {
                    *k = j;
                    c.copied = c.copied.saturating_add(1);
                    true
                }
                None => {
                    c.copy_missing = c.copy_missing.saturating_add(1);
                    false
                }
            },
        });
    }

    /// Give the slots of the batch back to the kernel, in ring order.
    pub fn release(&mut self) {
        for k in 0..self.held {
            let i = (self.held_from + k) % self.slot_count;
            self.status_of(i).store(TP_STATUS_KERNEL, Ordering::Release);
        }
        self.held = 0;
    }

    /// Frame `i` of the batch (mutable: the engine rewrites in place), its
    /// metadata, and whether it was truncated.
    pub fn frame(&mut self, i: usize) -> (&mut [u8], PacketMeta, bool) {
        match self.frames[i] {
            Frame::Slot(s) => {
                // SAFETY: s.start..s.end lies in a held slot (recv made the
                // offsets absolute from checked ones): user space's until
                // release, and borrowed through `&mut self` only.
                let bytes = unsafe {
                    std::slice::from_raw_parts_mut(
                        self.map.ptr.as_ptr().add(s.start),
                        s.end - s.start,
                    )
                };
                (bytes, s.meta, s.truncated)
            }
            Frame::Copy(j) => self.copies.frame(j),
        }
    }

    /// The first `n` frames of the batch all at once (each as
    /// [`frame`](Self::frame) gives it), for a batch call into the engine.
    pub fn frames_mut(
        &mut self,
        n: usize,
    ) -> impl Iterator<Item = (&mut [u8], PacketMeta, bool)> + '_ {
        let base = self.map.ptr;
        let slot_bytes = self.slot_bytes;
        let copied = self.copies.len();
        // Copies appear in the batch in the order they were read, some
        // (stale ones) skipped.
        let mut copies = self.copies.frames_mut(copied).enumerate();
        self.frames.iter().take(n).map(move |f| match *f {
            Frame::Slot(s) => {
                debug_assert!(s.start <= s.end && s.end - s.start <= slot_bytes);
                // SAFETY: s.start..s.end lies inside one held slot (recv made
                // the offsets absolute from ones `parse_slot` and `prepare`
                // checked against that slot), and each frame of the batch is
                // in a different slot (one frame per slot), so these slices
                // are disjoint from each other and from the copy buffers
                // (heap memory, not the mapping). Held slots are user
                // space's until release, which needs `&mut self`, borrowed
                // by this iterator.
                let bytes = unsafe {
                    std::slice::from_raw_parts_mut(base.as_ptr().add(s.start), s.end - s.start)
                };
                (bytes, s.meta, s.truncated)
            }
            // recv pairs each copy slot with a distinct read frame, in
            // increasing order: a missing one cannot happen, but would
            // come back empty and truncated (dropped).
            Frame::Copy(j) => loop {
                match copies.next() {
                    Some((k, f)) if k == j => break f,
                    Some((k, _)) if k < j => continue,
                    _ => break (<&mut [u8]>::default(), PacketMeta::default(), true),
                }
            },
        })
    }

    /// Frame `i` of the batch, read-only, for sending (with a vnet header
    /// built for it: the one it came with is not kept).
    pub fn frame_out(&self, i: usize) -> &[u8] {
        match &self.frames[i] {
            Frame::Slot(s) => {
                // SAFETY: as in `frame`; a shared, read-only view.
                unsafe {
                    std::slice::from_raw_parts(self.map.ptr.as_ptr().add(s.start), s.end - s.start)
                }
            }
            Frame::Copy(j) => self.copies.frame_out(*j),
        }
    }

    /// Queue `count` frames (`frame(i)`: its vnet header and bytes) in
    /// the transmit ring, sent at the next [`Self::kick`] (or when the
    /// ring fills); without a ring they go at once through `sendmmsg`.
    /// Returns how many the kernel took.
    pub fn queue_all<'a>(
        &mut self,
        count: usize,
        frame: impl Fn(usize) -> (&'a [u8; VNET_HDR_BYTES], &'a [u8]),
    ) -> usize {
        match &mut self.tx {
            Some(t) => t.queue_all(count, frame),
            None => self.sock.send_all(count, frame),
        }
    }

    /// Send the frames queued in the transmit ring (one syscall).
    pub fn kick(&mut self) {
        if let Some(t) = &mut self.tx {
            t.kick();
        }
    }
}

/// Pair the copy slots of a batch (`slot_lens`: their `tp_len`, in ring
/// order) with the whole frames read from the socket's queue
/// (`frame_lens`: their lengths, in queue order). The queue holds the
/// slots' frames in ring order, so each slot takes the next read frame of
/// its length; frames passed over on the way (left by a slot given back
/// without its frame) are stale. A slot with no such frame gets `None`
/// and takes nothing. `pairs[k]` is slot `k`'s frame; returns how many
/// read frames no slot took (thrown away).
pub(crate) fn pair_copies(
    slot_lens: &[usize],
    frame_lens: &[usize],
    pairs: &mut [Option<usize>],
) -> usize {
    let mut next = 0;
    let mut taken = 0;
    for (k, len) in slot_lens.iter().enumerate() {
        pairs[k] = frame_lens[next..]
            .iter()
            .position(|l| l == len)
            .map(|at| next + at);
        if let Some(j) = pairs[k] {
            next = j + 1;
            taken += 1;
        }
    }
    frame_lens.len() - taken
}

impl Drop for FrameRingSocket {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::prepare;
    use crate::ring::test_support::{assert_tag_put_back, eth, put32};
    use rampart_dataplane::packet::ChecksumState;

    const SLOT: usize = SLOT_BYTES as usize;

    fn put16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }

    /// A slot as the kernel fills it: the header, then the frame at `mac`.
    fn slot_with(frame: &[u8], mac: u16, status: u32, tci: u16) -> Vec<u8> {
        let mut b = vec![0u8; SLOT];
        put32(&mut b, S_STATUS, TP_STATUS_USER | status);
        put32(&mut b, S_LEN, frame.len() as u32);
        put32(&mut b, S_SNAPLEN, frame.len() as u32);
        put16(&mut b, S_MAC, mac);
        put16(&mut b, S_VLAN_TCI, tci);
        let m = usize::from(mac);
        b[m..m + frame.len()].copy_from_slice(frame);
        b
    }

    #[test]
    fn a_slot_gives_its_frame_and_checksum_state() {
        let f = eth(1, 1514);
        let mut s = slot_with(&f, 66, libc::TP_STATUS_CSUMNOTREADY, 0);
        let h = parse_slot(&s, false).unwrap();
        let r = prepare(&mut s, &h, false).unwrap();
        assert_eq!(&s[r.start..r.end], &f[..]);
        assert_eq!(r.meta.checksum, ChecksumState::Partial);
        assert!(!r.truncated);
        let mut s = slot_with(&f, 66, libc::TP_STATUS_CSUM_VALID, 0);
        let h = parse_slot(&s, false).unwrap();
        let r = prepare(&mut s, &h, false).unwrap();
        assert_eq!(r.meta.checksum, ChecksumState::Verified);
    }

    #[test]
    fn a_vlan_tag_is_put_back_in_front_of_the_ethertype() {
        let f = eth(2, 60);
        let mut s = slot_with(&f, 66, libc::TP_STATUS_VLAN_VALID, 42);
        let h = parse_slot(&s, false).unwrap();
        let r = prepare(&mut s, &h, false).unwrap();
        assert_tag_put_back(&s[r.start..r.end], &f, 42);
    }

    #[test]
    fn a_vnet_header_before_the_frame_gives_the_offload_state() {
        let f = eth(3, 100);
        let mut s = slot_with(&f, 76, 0, 0);
        // NEEDS_CSUM, GSO TCPv4, gso_size 1448.
        s[66..76].copy_from_slice(&[1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]);
        let h = parse_slot(&s, true).unwrap();
        let r = prepare(&mut s, &h, true).unwrap();
        assert_eq!(r.meta.checksum, ChecksumState::Partial);
        assert_eq!(r.meta.gso_size, 1448);
        assert_eq!(&s[r.start..r.end], &f[..]);
    }

    #[test]
    fn a_frame_cut_short_is_reported_truncated() {
        let f = eth(4, 60);
        let mut s = slot_with(&f, 66, 0, 0);
        put32(&mut s, S_LEN, 65_000);
        let h = parse_slot(&s, false).unwrap();
        assert!(prepare(&mut s, &h, false).unwrap().truncated);
    }

    #[test]
    fn corrupt_slot_headers_are_refused_with_a_reason() {
        let f = eth(5, 60);
        let good = slot_with(&f, 66, 0, 0);
        assert!(parse_slot(&good, false).is_ok());
        // A slot shorter than its header.
        assert_eq!(parse_slot(&good[..20], false), Err(BadBlock::FrameHeader));
        // Frame data past the slot.
        let mut s = good.clone();
        put32(&mut s, S_SNAPLEN, u32::MAX);
        assert_eq!(parse_slot(&s, false), Err(BadBlock::FrameData));
        let mut s = good.clone();
        put16(&mut s, S_MAC, u16::MAX);
        assert_eq!(parse_slot(&s, false), Err(BadBlock::FrameData));
        let mut s = good.clone();
        put32(&mut s, S_SNAPLEN, (SLOT - 66 + 1) as u32);
        assert_eq!(parse_slot(&s, false), Err(BadBlock::FrameData));
        // Frame data over the slot's header, or no room for a vnet header.
        let mut s = good.clone();
        put16(&mut s, S_MAC, 8);
        assert_eq!(parse_slot(&s, false), Err(BadBlock::FrameData));
        let mut s = good.clone();
        put16(&mut s, S_MAC, 36);
        assert!(parse_slot(&s, false).is_ok());
        assert_eq!(parse_slot(&s, true), Err(BadBlock::FrameData));
        // A VLAN frame whose tag would overwrite the header is refused,
        // not written.
        let mut s = slot_with(&f, 36, libc::TP_STATUS_VLAN_VALID, 7);
        let h = parse_slot(&s, false).unwrap();
        let before = s.clone();
        assert!(prepare(&mut s, &h, false).is_none());
        assert_eq!(s, before);
    }

    /// `pair_copies` as a list: each slot's frame, and the stale count.
    fn paired(slots: &[usize], frames: &[usize]) -> (Vec<Option<usize>>, usize) {
        let mut pairs = [None; RX_BATCH_FRAMES];
        let stale = pair_copies(slots, frames, &mut pairs);
        (pairs[..slots.len()].to_vec(), stale)
    }

    #[test]
    fn copied_frames_go_to_their_slots_in_order() {
        assert_eq!(
            paired(&[9000, 65_000], &[9000, 65_000]),
            (vec![Some(0), Some(1)], 0)
        );
    }

    #[test]
    fn a_frame_left_on_the_queue_by_a_failed_read_is_not_given_to_the_next_slot() {
        // The last batch's read failed: its 30,000-byte frame is still
        // first on the queue. Paired in order, every copy slot would get
        // the frame of the slot before it from then on.
        assert_eq!(
            paired(&[9000, 65_000], &[30_000, 9000, 65_000]),
            (vec![Some(1), Some(2)], 1)
        );
        // A slot whose frame is not there takes no other one.
        assert_eq!(
            paired(&[9000, 4000, 65_000], &[9000, 65_000]),
            (vec![Some(0), None, Some(1)], 0)
        );
        assert_eq!(paired(&[9000], &[]), (vec![None], 0));
    }

    proptest::proptest! {
        #[test]
        fn pairing_keeps_order_and_accounts_for_every_frame(
            slots in proptest::collection::vec(1usize..4, 0..RX_BATCH_FRAMES),
            frames in proptest::collection::vec(1usize..4, 0..RX_BATCH_FRAMES),
        ) {
            let (pairs, stale) = paired(&slots, &frames);
            let taken: Vec<usize> = pairs.iter().flatten().copied().collect();
            proptest::prop_assert!(taken.windows(2).all(|w| w[0] < w[1]));
            proptest::prop_assert_eq!(taken.len() + stale, frames.len());
            for (k, p) in pairs.iter().enumerate() {
                if let Some(j) = p {
                    proptest::prop_assert_eq!(frames[*j], slots[k]);
                }
            }
        }

        #[test]
        fn any_slot_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2100), vnet: bool) {
            let mut b = bytes;
            if let Ok(h) = parse_slot(&b, vnet) {
                proptest::prop_assert!(h.mac + h.snaplen <= b.len());
                if let Some(s) = prepare(&mut b, &h, vnet) {
                    proptest::prop_assert!(s.start <= s.end && s.end <= b.len());
                }
            }
        }
    }
}
