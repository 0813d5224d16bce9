//! AF_PACKET with memory-mapped rings (Linux): a `TPACKET_V3` receive
//! ring and a transmit ring on one socket, mapped once ("packet_mmap",
//! Linux kernel documentation; packet(7)).
//!
//! - Receive: the kernel fills blocks of [`RX_BLOCK_BYTES`] (with vnet
//!   headers [`RX_BLOCK_BYTES_VNET`]) with frames,
//!   each behind a `tpacket3_hdr`, and hands a block to user space when it
//!   is full or [`RETIRE_BLOCK_TIMEOUT_MS`] after its first frame. The
//!   block stays ours until we write `TP_STATUS_KERNEL` back, so the engine
//!   rewrites frames in place, with no copy and no syscall per frame.
//! - Transmit: forwarded frames are copied into the slots of the other
//!   interface's transmit ring (the one copy of the path), marked
//!   `TP_STATUS_SEND_REQUEST`, and one `send(fd, NULL, 0, MSG_DONTWAIT)`
//!   per batch asks the kernel to send them. The kernel accepts a
//!   `TPACKET_V3` transmit ring with fixed-size slots (`tp_next_offset`
//!   must be 0); if it refuses one, the socket keeps its receive ring and
//!   sends with `sendmmsg` ([`IoMode::BlockRingRx`]). A frame larger than a slot
//!   (a GSO super-packet) leaves through a send-only companion socket,
//!   after the ring's pending frames, so order is kept.
//! - Same semantics as [`PacketSocket`]: checksum state from `tp_status`
//!   (`TP_STATUS_CSUMNOTREADY` is [`ChecksumState::Partial`],
//!   `TP_STATUS_CSUM_VALID` is `Verified`), the 802.1Q tag of
//!   `tp_vlan_tci` put back into the frame, `PACKET_IGNORE_OUTGOING`,
//!   `PACKET_QDISC_BYPASS`, fanout, and frames cut short (`tp_snaplen <
//!   tp_len`) reported truncated for the caller to count and drop.
//! - With `PACKET_VNET_HDR` the kernel writes a `virtio_net_hdr` just in
//!   front of each received frame and reads one in front of each sent one:
//!   the received one is read into what its sender asked for, for the
//!   engine to check, and the one sent is built from the engine's parse
//!   ([`crate::vnet`], docs/io.md §1).
//! - Every offset read from the ring is checked against the block; a block
//!   whose offsets point outside it is counted by [`BadBlock`] reason and
//!   given back, never trusted.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use rampart_dataplane::counters::TxDrop;
use rampart_dataplane::packet::{ChecksumState, PacketMeta};

use crate::afpacket::{KernelStats, PacketSocket, VNET_HDR_BYTES, open_error, setsockopt_int};
use crate::link::{ErrnoClass, Probe, classify};
use crate::tx::{TxStats, refused_for_size};
use crate::vnet;

/// Bytes of a receive ring (32 MiB, as the `recvmmsg` socket's buffer).
pub const RX_RING_BYTES: u32 = 32 << 20;
/// Bytes per receive block with vnet headers: one 64 KiB GSO super-packet
/// and its headers must fit (the kernel cuts a frame to the block), and a
/// power of two so the kernel's page allocation wastes nothing.
pub const RX_BLOCK_BYTES_VNET: u32 = 128 << 10;
/// Bytes per receive block without: some 200 full-size frames. Small
/// blocks make many of them: the kernel hands a partly filled block over
/// every [`RETIRE_BLOCK_TIMEOUT_MS`], so under a steady small-packet load
/// the ring buffers blocks × that timeout, not its byte size.
pub const RX_BLOCK_BYTES: u32 = 32 << 10;
/// How long the kernel keeps a partly filled block before handing it
/// over, in milliseconds (the smallest value it takes). The receive
/// latency of a quiet link is up to this.
pub const RETIRE_BLOCK_TIMEOUT_MS: u32 = 1;
/// The nominal frame size of the receive ring (V3 frames are of variable
/// size; the kernel only checks that blocks hold whole frames of it).
const RX_FRAME_HINT: u32 = 2048;
/// Bytes per transmit slot: a full-size Ethernet frame with a VLAN tag
/// and a vnet header behind the slot's header.
pub const TX_FRAME_BYTES: u32 = 2048;
/// Bytes per transmit block.
const TX_BLOCK_BYTES: u32 = 64 << 10;
/// Transmit blocks per ring: 8192 slots (16 MiB). A slot is free again
/// only when the kernel frees the frame, which on a veth can be when the
/// receiving socket has read it: the ring must cover a TCP window.
pub const TX_BLOCKS: u32 = 256;
/// Kicks in a row after which the oldest queued transmit slot was still
/// not taken before the ring counts as stalled. A stalled ring whose link
/// is down (a kick failed with `ENETDOWN`/`ENXIO`, or the bridge found the
/// interface down) counts new frames as `link_down` rather than queuing
/// them behind the refused one, so that what leaves when the device takes
/// frames again is at most what was queued before it stopped. A stall
/// with the link up (the receiver is slow) queues on until the ring is
/// full, as before.
pub const TX_STALL_KICKS: u32 = 8;

/// `sizeof(struct tpacket_block_desc)`.
const BLOCK_DESC_BYTES: usize = 48;
/// `sizeof(struct tpacket3_hdr)` (also `TPACKET_ALIGN` of it).
const FRAME_HDR_BYTES: usize = 48;
/// Where a transmit slot's frame starts: `TPACKET3_HDRLEN -
/// sizeof(struct sockaddr_ll)` (packet_mmap, Linux kernel documentation).
const TX_DATA_OFFSET: usize = FRAME_HDR_BYTES;
/// Largest frame a transmit slot holds (with its vnet header, if any).
const TX_SLOT_ROOM: usize = TX_FRAME_BYTES as usize - TX_DATA_OFFSET;

/// Offsets in `struct tpacket_block_desc` (`hdr.bh1`).
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST: usize = 16;
const BD_LEN: usize = 20;
/// Offsets in `struct tpacket3_hdr`.
const H_NEXT: usize = 0;
const H_SNAPLEN: usize = 12;
const H_LEN: usize = 16;
const H_STATUS: usize = 20;
const H_MAC: usize = 24;
const H_VLAN_TCI: usize = 32;
const H_VLAN_TPID: usize = 36;

/// `TP_STATUS_*` (`<linux/if_packet.h>`).
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
/// `TPACKET_V2` and `TPACKET_V3` (`enum tpacket_versions`).
const TPACKET_V2: libc::c_int = 1;
const TPACKET_V3: libc::c_int = 2;
/// `PACKET_LOSS`: a malformed transmit frame is skipped rather than
/// stopping the ring with `TP_STATUS_WRONG_FORMAT` at its head.
const PACKET_LOSS: libc::c_int = 14;

/// How a worker's socket moves frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// `recvmmsg`/`sendmmsg` ([`PacketSocket`]).
    Mmsg,
    /// A per-frame `TPACKET_V2` receive ring and a transmit ring
    /// ([`crate::frame_ring::FrameRingSocket`]).
    Ring,
    /// A per-frame `TPACKET_V2` receive ring; `sendmmsg` (the transmit
    /// ring was refused).
    RingRx,
    /// A `TPACKET_V3` receive ring and a transmit ring.
    BlockRing,
    /// A `TPACKET_V3` receive ring; `sendmmsg` (the transmit ring was
    /// refused).
    BlockRingRx,
}

impl IoMode {
    /// The label in logs, the exit summary and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            IoMode::Mmsg => "mmsg",
            IoMode::Ring => "ring",
            IoMode::RingRx => "ring-rx",
            IoMode::BlockRing => "block-ring",
            IoMode::BlockRingRx => "block-ring-rx",
        }
    }
}

/// Why a receive block was not trusted (its frames are dropped, the block
/// given back to the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBlock {
    /// The block's fill length or first-frame offset lies outside it.
    Extent,
    /// A frame header lies (partly) outside the block.
    FrameHeader,
    /// A frame's data lies outside the block, or over its own header.
    FrameData,
    /// A next-frame offset that does not move forward within the block.
    NextOffset,
}

impl BadBlock {
    /// All, in counter order.
    pub const ALL: [BadBlock; 4] = [
        BadBlock::Extent,
        BadBlock::FrameHeader,
        BadBlock::FrameData,
        BadBlock::NextOffset,
    ];
    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();
    /// Label.
    pub const fn label(self) -> &'static str {
        match self {
            BadBlock::Extent => "block-extent",
            BadBlock::FrameHeader => "frame-header",
            BadBlock::FrameData => "frame-data",
            BadBlock::NextOffset => "next-offset",
        }
    }
}

/// A frame's header as read from a block, its offsets checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHdr {
    /// Where the frame's `tpacket3_hdr` starts in the block.
    pub at: usize,
    /// Where its Ethernet header starts in the block.
    pub mac: usize,
    /// Bytes captured.
    pub snaplen: usize,
    /// Bytes on the wire.
    pub wire_len: usize,
    /// `tp_status`.
    pub status: u32,
    /// `tp_vlan_tci`.
    pub vlan_tci: u16,
    /// `tp_vlan_tpid`.
    pub vlan_tpid: u16,
}

pub(crate) fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

pub(crate) fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

/// A walk over the frames of a block handed to user space, reading one
/// frame header at a time with every offset checked against the block;
/// it ends at the first bad offset, with its reason. It holds offsets
/// only, so the caller may rewrite a frame before reading the next.
#[derive(Debug, Clone)]
pub struct BlockFrames {
    /// Offset of the next frame header.
    at: usize,
    left: u32,
    /// Room a vnet header takes in front of each frame.
    vnet: usize,
}

impl BlockFrames {
    /// Read `block`'s descriptor; `vnet` says whether a `virtio_net_hdr`
    /// sits in front of every frame.
    pub fn new(block: &[u8], vnet: bool) -> Result<Self, BadBlock> {
        let num = read_u32(block, BD_NUM_PKTS).ok_or(BadBlock::Extent)?;
        let first = read_u32(block, BD_FIRST).ok_or(BadBlock::Extent)? as usize;
        let len = read_u32(block, BD_LEN).ok_or(BadBlock::Extent)? as usize;
        if len > block.len() || (num > 0 && (first < BLOCK_DESC_BYTES || first >= block.len())) {
            return Err(BadBlock::Extent);
        }
        Ok(BlockFrames {
            at: first,
            left: num,
            vnet: if vnet { VNET_HDR_BYTES } else { 0 },
        })
    }

    /// Frames the descriptor says are left.
    pub fn remaining(&self) -> u32 {
        self.left
    }

    /// The next frame's header in `block` (the block `new` read), or the
    /// reason the walk ends early; `None` after the last frame.
    pub fn next_in(&mut self, block: &[u8]) -> Option<Result<FrameHdr, BadBlock>> {
        if self.left == 0 {
            return None;
        }
        let (hdr, next) = match self.read(block) {
            Ok(x) => x,
            Err(e) => {
                self.left = 0;
                return Some(Err(e));
            }
        };
        self.left -= 1;
        if self.left > 0 {
            // The next frame starts past this one's header and inside.
            if next < FRAME_HDR_BYTES || self.at.saturating_add(next) >= block.len() {
                self.left = 0;
                return Some(Err(BadBlock::NextOffset));
            }
            self.at += next;
        }
        Some(Ok(hdr))
    }

    fn read(&self, b: &[u8]) -> Result<(FrameHdr, usize), BadBlock> {
        let at = self.at;
        let end = at
            .checked_add(FRAME_HDR_BYTES)
            .filter(|&e| e <= b.len())
            .ok_or(BadBlock::FrameHeader)?;
        let h = &b[at..end];
        let field = |o| read_u32(h, o).ok_or(BadBlock::FrameHeader);
        let next = field(H_NEXT)? as usize;
        let snaplen = field(H_SNAPLEN)? as usize;
        let wire_len = field(H_LEN)? as usize;
        let status = field(H_STATUS)?;
        let mac_off = usize::from(read_u16(h, H_MAC).ok_or(BadBlock::FrameHeader)?);
        let vlan_tci = field(H_VLAN_TCI)? as u16;
        let vlan_tpid = read_u16(h, H_VLAN_TPID).ok_or(BadBlock::FrameHeader)?;
        // The frame (and its vnet header) lie after its own header and
        // inside the block.
        if mac_off < FRAME_HDR_BYTES + self.vnet {
            return Err(BadBlock::FrameData);
        }
        let mac = at + mac_off;
        if mac.checked_add(snaplen).is_none_or(|e| e > b.len()) {
            return Err(BadBlock::FrameData);
        }
        Ok((
            FrameHdr {
                at,
                mac,
                snaplen,
                wire_len,
                status,
                vlan_tci,
                vlan_tpid,
            },
            next,
        ))
    }
}

/// One received frame, ready for the engine: where it lies in its block
/// (after the VLAN tag was put back) and its metadata, with what its vnet
/// header asked for (never sent on: docs/io.md §1).
#[derive(Debug, Clone, Copy, Default)]
pub struct RingSlot {
    /// First byte of the frame in the block.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Checksum state and GSO size.
    pub meta: PacketMeta,
    /// Captured shorter than it was on the wire.
    pub truncated: bool,
}

/// Make frame `h` of `block` ready for the engine: read its vnet header
/// ([`vnet::read`]: the checksum state and what its sender asked for) or
/// checksum state, and put its stripped 802.1Q tag back in front of
/// the EtherType, moving the MAC addresses 4 bytes into the room the
/// kernel leaves before every frame. `None` when there is no such room
/// (the frame header is in the way): the caller drops the frame.
pub fn prepare(block: &mut [u8], h: &FrameHdr, vnet: bool) -> Option<RingSlot> {
    let mut slot = RingSlot {
        start: h.mac,
        end: h.mac + h.snaplen,
        meta: PacketMeta::default(),
        truncated: h.snaplen < h.wire_len,
    };
    if vnet {
        // BlockFrames and parse_slot checked that the header lies after the
        // frame header.
        let mut v = [0; VNET_HDR_BYTES];
        v.copy_from_slice(&block[h.mac - VNET_HDR_BYTES..h.mac]);
        slot.meta = vnet::read(&v);
    } else if h.status & libc::TP_STATUS_CSUMNOTREADY != 0 {
        slot.meta.checksum = ChecksumState::Partial;
    } else if h.status & libc::TP_STATUS_CSUM_VALID != 0 {
        slot.meta.checksum = ChecksumState::Verified;
    }
    if h.status & libc::TP_STATUS_VLAN_VALID != 0 && h.snaplen >= 12 {
        // The tag goes where the 4 bytes before the frame are: past the
        // frame header (the vnet header was copied out above).
        if h.mac < h.at + FRAME_HDR_BYTES + 4 {
            return None;
        }
        let start = h.mac - 4;
        block.copy_within(h.mac..h.mac + 12, start);
        let tpid = if h.status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && h.vlan_tpid != 0 {
            h.vlan_tpid
        } else {
            0x8100
        };
        block[start + 12..start + 14].copy_from_slice(&tpid.to_be_bytes());
        block[start + 14..start + 16].copy_from_slice(&h.vlan_tci.to_be_bytes());
        slot.start = start;
        // The offsets asked for count from the frame's start.
        slot.meta = vnet::shifted(slot.meta, 4);
    }
    Some(slot)
}

/// What a ring socket counted beside the bridge's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingCounters {
    /// Receive blocks handled.
    pub blocks: u64,
    /// Blocks (per-frame ring: slots) not trusted, by [`BadBlock`] reason.
    pub bad_blocks: [u64; BadBlock::COUNT],
    /// Frames lost with a bad block (the descriptor's count left).
    pub bad_block_frames: u64,
    /// Frames dropped: no room before them for their VLAN tag.
    pub no_vlan_room: u64,
    /// Frames larger than a transmit slot, sent through the companion
    /// socket (one it could not send is counted by reason in the
    /// socket's [`TxStats`], not here).
    pub tx_spilled: u64,
    /// Per-frame ring: receive slots handled.
    pub slots: u64,
    /// Per-frame ring: frames larger than a slot, read whole from the
    /// socket's queue (`TP_STATUS_COPY`).
    pub copied: u64,
    /// Per-frame ring: slots marked `TP_STATUS_COPY` whose whole frame
    /// was not in the socket's queue (dropped).
    pub copy_missing: u64,
    /// Per-frame ring: whole frames read from the queue and thrown away
    /// (their slots went back without them after a failed read, or their
    /// length was not their slot's).
    pub copy_stale: u64,
}

impl RingCounters {
    /// Blocks not trusted, all reasons.
    pub fn bad_blocks_total(&self) -> u64 {
        self.bad_blocks.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// Count a block (per-frame ring: slot) not trusted for `reason`, and
    /// the `lost` frames it held.
    pub(crate) fn count_bad(&mut self, reason: BadBlock, lost: u64) {
        self.bad_blocks[reason as usize] = self.bad_blocks[reason as usize].saturating_add(1);
        self.bad_block_frames = self.bad_block_frames.saturating_add(lost);
    }
}

/// [`prepare`] as both ring sockets use it: a frame with no room for its
/// VLAN tag is counted in `counters` (and dropped: `None`).
pub(crate) fn prepare_counted(
    buf: &mut [u8],
    h: &FrameHdr,
    vnet: bool,
    counters: &mut RingCounters,
) -> Option<RingSlot> {
    let slot = prepare(buf, h, vnet);
    if slot.is_none() {
        counters.no_vlan_room = counters.no_vlan_room.saturating_add(1);
    }
    slot
}

/// A ring version (`enum tpacket_versions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingVersion {
    /// `TPACKET_V2`: a status word per frame slot.
    V2,
    /// `TPACKET_V3`: a status word per block of frames.
    V3,
}

impl RingVersion {
    /// How a socket with a receive ring of this version moves frames,
    /// with its transmit ring (`tx`) or without (`sendmmsg`).
    pub(crate) const fn mode(self, tx: bool) -> IoMode {
        match (self, tx) {
            (RingVersion::V2, true) => IoMode::Ring,
            (RingVersion::V2, false) => IoMode::RingRx,
            (RingVersion::V3, true) => IoMode::BlockRing,
            (RingVersion::V3, false) => IoMode::BlockRingRx,
        }
    }
}

/// `ifname`'s socket `sock` made ready for a ring of `version`:
/// `PACKET_VNET_HDR` first when `vnet`, as the kernel takes it only
/// before a ring exists.
pub(crate) fn ring_version(
    mut sock: PacketSocket,
    ifname: &str,
    vnet: bool,
    version: RingVersion,
) -> io::Result<PacketSocket> {
    if vnet {
        sock = sock.with_vnet_hdr()?;
    }
    let (value, what) = match version {
        RingVersion::V2 => (TPACKET_V2, "PACKET_VERSION TPACKET_V2"),
        RingVersion::V3 => (TPACKET_V3, "PACKET_VERSION TPACKET_V3"),
    };
    setsockopt_int(sock.fd(), libc::SOL_PACKET, libc::PACKET_VERSION, value)
        .map_err(|e| open_error(ifname, what, e))?;
    Ok(sock)
}

/// The accessors a ring socket passes through to its [`PacketSocket`]
/// (field `sock`), the same on both ring sockets.
macro_rules! socket_accessors {
    () => {
        /// Join fanout group `group` ([`PacketSocket::join_fanout`]).
        pub fn join_fanout(&self, group: u16) -> io::Result<()> {
            self.sock.join_fanout(group)
        }

        /// The interface name.
        pub fn name(&self) -> &str {
            self.sock.name()
        }

        /// The raw descriptor (readable when received frames wait in the
        /// ring).
        pub fn fd(&self) -> libc::c_int {
            self.sock.fd()
        }

        /// Whether frames carry a `virtio_net_hdr`.
        pub fn vnet_hdr(&self) -> bool {
            self.sock.vnet_hdr()
        }

        /// The receiving socket.
        pub fn socket(&self) -> &PacketSocket {
            &self.sock
        }

        /// Read and reset the kernel's receive counters.
        pub fn take_kernel_stats(&self) -> io::Result<KernelStats> {
            self.sock.take_kernel_stats()
        }
    };
}
pub(crate) use socket_accessors;

/// The shared mapping of a socket's rings; unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    pub(crate) ptr: NonNull<u8>,
    pub(crate) len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; nothing borrows
        // the mapping past its owner (the ring socket holds every view).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// SAFETY: the mapping is plain memory shared with the kernel; the
// ring socket that owns it is used by one thread at a time.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Map the `len` bytes of the rings of `ifname`'s socket `fd`, at
    /// offset 0: the receive ring first, then the transmit ring, as the
    /// kernel lays them out (packet_mmap, Linux kernel documentation).
    pub(crate) fn new(fd: libc::c_int, len: usize, ifname: &str) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of the socket's rings, which no
        // Rust reference aliases; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(open_error(ifname, "mmap", io::Error::last_os_error()));
        }
        Ok(Mapping {
            ptr: NonNull::new(ptr.cast()).expect("mmap does not return NULL on success"),
            len,
        })
    }

    /// Anonymous memory of `len` bytes in place of a socket's rings, for
    /// tests of the code that reads and writes them.
    #[cfg(test)]
    pub(crate) fn anonymous(len: usize) -> Mapping {
        // SAFETY: a fresh private anonymous mapping; checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap");
        Mapping {
            ptr: NonNull::new(ptr.cast()).expect("mmap does not return NULL on success"),
            len,
        }
    }

    /// The `tp_status` word at offset `at`: a block or slot header.
    pub(crate) fn status_at(&self, at: usize) -> &AtomicU32 {
        debug_assert!(at + 4 <= self.len && at.is_multiple_of(4));
        // SAFETY: `at` is a 4-aligned offset inside the mapping (a block
        // or slot header, both page- or 16-aligned: the callers compute it
        // from the ring's geometry); the kernel writes the word
        // concurrently, so it is only read and written atomically.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(at).cast()) }
    }
}

#[derive(Debug)]
struct TxRing {
    /// Offset of the ring in the mapping.
    base: usize,
    slots: usize,
    head: usize,
    /// Frames marked for sending that the kernel has not taken yet (the
    /// slots before `head`, their status still `TP_STATUS_SEND_REQUEST`).
    pending: usize,
    /// Kicks in a row after which the oldest of them was not taken.
    stalled: u32,
}

impl TxRing {
    /// The transmit ring's request: fixed-size slots, and no retire timer
    /// or private area.
    const REQ: libc::tpacket_req3 = libc::tpacket_req3 {
        tp_block_size: TX_BLOCK_BYTES,
        tp_block_nr: TX_BLOCKS,
        tp_frame_size: TX_FRAME_BYTES,
        tp_frame_nr: TX_BLOCKS * (TX_BLOCK_BYTES / TX_FRAME_BYTES),
        tp_retire_blk_tov: 0,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    /// Bytes of the transmit ring in the mapping.
    const BYTES: usize = (TX_BLOCK_BYTES * TX_BLOCKS) as usize;

    /// An empty transmit ring at offset `base` of the mapping.
    fn at(base: usize) -> Self {
        TxRing {
            base,
            slots: (TX_BLOCKS * (TX_BLOCK_BYTES / TX_FRAME_BYTES)) as usize,
            head: 0,
            pending: 0,
            stalled: 0,
        }
    }

    /// After a kick, with `status(i)` the status word of slot `i`: the
    /// kernel takes queued slots in order, so the ones it took are those
    /// from the oldest pending one up to the first still
    /// `TP_STATUS_SEND_REQUEST` (a slot the device refused is re-armed as
    /// such and the kernel's head stays on it). They are no longer
    /// pending; returns how many.
    fn settle(&mut self, status: impl Fn(usize) -> u32) -> usize {
        let first = (self.head + self.slots - self.pending) % self.slots;
        let mut taken = 0;
        while taken < self.pending && status((first + taken) % self.slots) != TP_STATUS_SEND_REQUEST
        {
            taken += 1;
        }
        self.pending -= taken;
        self.stalled = if self.pending == 0 || taken > 0 {
            0
        } else {
            self.stalled.saturating_add(1)
        };
        taken
    }

    /// Whether the ring stopped moving ([`TX_STALL_KICKS`]).
    fn is_stalled(&self) -> bool {
        self.stalled >= TX_STALL_KICKS
    }
}

/// The send-only companion socket for frames too large for a transmit
/// slot, with a vnet header when the ring socket has one.
fn open_spill(ifname: &str, vnet: bool) -> io::Result<PacketSocket> {
    let s = PacketSocket::open_send_only(ifname)?;
    if vnet { s.with_vnet_hdr() } else { Ok(s) }
}

/// An AF_PACKET socket with a `TPACKET_V3` receive ring and (when the
/// kernel takes it) a transmit ring.
#[derive(Debug)]
pub struct RingSocket {
    sock: PacketSocket,
    /// Sends frames too large for a transmit slot (with a transmit ring,
    /// every `send` on `sock` goes through the ring).
    spill: Option<PacketSocket>,
    map: Mapping,
    rx_blocks: usize,
    rx_block_bytes: usize,
    /// The next block to read.
    rx_next: usize,
    /// The block being processed (ours until released).
    held: Option<usize>,
    tx: Option<TxRing>,
    /// The egress MTU, for the kernel's size rule on transmit-ring frames
    /// (read at open and at every look, [`Self::probe`]).
    mtu: Option<u32>,
    slots: Vec<RingSlot>,
    /// What this socket counted.
    pub counters: RingCounters,
    /// What its transmit ring could not send.
    tx_stats: TxStats,
    /// The link is down: a kick said so, or the bridge did
    /// ([`Self::set_link_down`]); cleared when a kick moves frames.
    link_down: bool,
}

impl RingSocket {
    /// Open `ifname` with rings; `vnet` asks for `PACKET_VNET_HDR` (set
    /// before the rings, as the kernel requires). An error means the
    /// kernel refused a ring (or the interface): the caller may fall back
    /// to [`PacketSocket`].
    pub fn open(ifname: &str, vnet: bool) -> io::Result<Self> {
        let block_bytes = if vnet {
            RX_BLOCK_BYTES_VNET
        } else {
            RX_BLOCK_BYTES
        };
        Self::open_with_blocks(ifname, vnet, block_bytes)
    }

    /// [`Self::open`] with receive blocks of `block_bytes` (a multiple of
    /// the page size, or the kernel refuses the ring: the fallback test
    /// relies on that).
    pub fn open_with_blocks(ifname: &str, vnet: bool, block_bytes: u32) -> io::Result<Self> {
        let sock = ring_version(PacketSocket::open(ifname)?, ifname, vnet, RingVersion::V3)?;
        let fd = sock.fd();
        // Like the vnet header, PACKET_LOSS is refused once a ring exists.
        let loss_ok = setsockopt_int(fd, libc::SOL_PACKET, PACKET_LOSS, 1).is_ok();
        let blocks = RX_RING_BYTES / block_bytes.max(1);
        let rx_req = libc::tpacket_req3 {
            tp_block_size: block_bytes,
            tp_block_nr: blocks,
            tp_frame_size: RX_FRAME_HINT,
            tp_frame_nr: blocks * (block_bytes / RX_FRAME_HINT),
            tp_retire_blk_tov: RETIRE_BLOCK_TIMEOUT_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_ring(fd, libc::PACKET_RX_RING, &rx_req)
            .map_err(|e| open_error(ifname, "PACKET_RX_RING", e))?;
        let rx_len = (blocks * block_bytes) as usize;
        let tx_ok = loss_ok && set_ring(fd, libc::PACKET_TX_RING, &TxRing::REQ).is_ok();
        let tx_len = if tx_ok { TxRing::BYTES } else { 0 };
        let map = Mapping::new(fd, rx_len + tx_len, ifname)?;
        let spill = if tx_ok {
            Some(open_spill(ifname, vnet)?)
        } else {
            None
        };
        let tx = tx_ok.then(|| TxRing::at(rx_len));
        Ok(RingSocket {
            mtu: sock.mtu(),
            sock,
            spill,
            map,
            rx_blocks: blocks as usize,
            rx_block_bytes: block_bytes as usize,
            rx_next: 0,
            held: None,
            tx,
            slots: Vec::with_capacity(1024),
            counters: RingCounters::default(),
            tx_stats: TxStats::default(),
            link_down: false,
        })
    }

    /// A socket on `ifname` with a transmit ring only: it receives
    /// nothing (protocol 0, packet(7)) and has no receive ring, so
    /// [`Self::recv_block`] always finds nothing. The per-frame ring
    /// ([`crate::frame_ring`]) sends through one.
    pub fn open_tx_only(ifname: &str, vnet: bool) -> io::Result<Self> {
        let sock = ring_version(
            PacketSocket::open_send_only(ifname)?,
            ifname,
            vnet,
            RingVersion::V3,
        )?;
        let fd = sock.fd();
        setsockopt_int(fd, libc::SOL_PACKET, PACKET_LOSS, 1)
            .map_err(|e| open_error(ifname, "PACKET_LOSS", e))?;
        set_ring(fd, libc::PACKET_TX_RING, &TxRing::REQ)
            .map_err(|e| open_error(ifname, "PACKET_TX_RING", e))?;
        // The transmit ring is the only ring, so at offset 0.
        let map = Mapping::new(fd, TxRing::BYTES, ifname)?;
        let spill = open_spill(ifname, vnet)?;
        Ok(Self::tx_only(sock.mtu(), sock, Some(spill), map))
    }

    /// A socket whose `map` holds a transmit ring only, at offset 0.
    fn tx_only(
        mtu: Option<u32>,
        sock: PacketSocket,
        spill: Option<PacketSocket>,
        map: Mapping,
    ) -> Self {
        RingSocket {
            mtu,
            sock,
            spill,
            map,
            rx_blocks: 0,
            rx_block_bytes: 0,
            rx_next: 0,
            held: None,
            tx: Some(TxRing::at(0)),
            slots: Vec::new(),
            counters: RingCounters::default(),
            tx_stats: TxStats::default(),
            link_down: false,
        }
    }

    /// How this socket sends.
    pub fn mode(&self) -> IoMode {
        RingVersion::V3.mode(self.tx.is_some())
    }

    socket_accessors!();

    fn status_of(&self, at: usize) -> &AtomicU32 {
        self.map.status_at(at)
    }

    /// What this socket could not send (through its transmit ring, its
    /// spill socket, or `sendmmsg` without a ring), by reason.
    pub fn tx_stats(&self) -> TxStats {
        let mut t = self.tx_stats;
        t.add(&self.sock.tx_stats());
        if let Some(s) = &self.spill {
            t.add(&s.tx_stats());
        }
        t
    }

    /// The errno of the last link event a send or kick met, taken.
    pub fn take_link_errno(&mut self) -> Option<i32> {
        let spill = self.spill.as_mut().and_then(PacketSocket::take_link_errno);
        let sock = self.sock.take_link_errno();
        self.tx_stats.link_errno.take().or(spill).or(sock)
    }

    /// Tell the transmit ring whether the bridge sees the link down.
    pub fn set_link_down(&mut self, down: bool) {
        self.link_down = down;
    }

    /// Look at the interface ([`PacketSocket::probe`]), and read its MTU
    /// again for the transmit ring's size rule.
    pub fn probe(&mut self) -> Probe {
        self.mtu = self.sock.mtu();
        self.sock.probe()
    }

    /// Take the next block the kernel handed over, if any, and make its
    /// frames ready; returns how many (0 when no block is waiting). The
    /// previous block is given back first.
    pub fn recv_block(&mut self) -> usize {
        self.release();
        if self.rx_blocks == 0 {
            return 0;
        }
        let b = self.rx_next;
        let at = b * self.rx_block_bytes;
        if self.status_of(at + BD_STATUS).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            return 0;
        }
        self.held = Some(b);
        self.rx_next = (b + 1) % self.rx_blocks;
        self.counters.blocks = self.counters.blocks.saturating_add(1);
        let vnet = self.vnet_hdr();
        // SAFETY: the block is user space's until `release` writes
        // TP_STATUS_KERNEL: the kernel neither reads nor writes it meanwhile.
        let block = unsafe {
            std::slice::from_raw_parts_mut(self.map.ptr.as_ptr().add(at), self.rx_block_bytes)
        };
        self.slots.clear();
        let declared = read_u32(block, BD_NUM_PKTS).unwrap_or(0);
        let mut frames = match BlockFrames::new(block, vnet) {
            Ok(f) => f,
            Err(reason) => {
                self.count_bad(reason, declared);
                self.release();
                return 0;
            }
        };
        while let Some(h) = frames.next_in(block) {
            match h {
                Ok(h) => {
                    if let Some(slot) = prepare_counted(block, &h, vnet, &mut self.counters) {
                        self.slots.push(slot);
                    }
                }
                Err(reason) => self.count_bad(reason, declared),
            }
        }
        // Nothing to judge (an empty or untrusted block): give it back now,
        // not after the next sleep.
        if self.slots.is_empty() {
            self.release();
        }
        self.slots.len()
    }

    fn count_bad(&mut self, reason: BadBlock, declared: u32) {
        let lost = u64::from(declared).saturating_sub(self.slots.len() as u64);
        self.counters.count_bad(reason, lost);
    }

    /// Give the block being processed back to the kernel.
    pub fn release(&mut self) {
        if let Some(b) = self.held.take() {
            self.status_of(b * self.rx_block_bytes + BD_STATUS)
                .store(TP_STATUS_KERNEL, Ordering::Release);
        }
    }

    fn block_mut(&mut self) -> &mut [u8] {
        let b = self
            .held
            .expect("a block is held while its frames are read");
        // SAFETY: as in recv_block: the held block is user space's.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.map.ptr.as_ptr().add(b * self.rx_block_bytes),
                self.rx_block_bytes,
            )
        }
    }

    /// Frame `i` of the held block (mutable: the engine rewrites in
    /// place), its metadata, and whether it was truncated.
    pub fn frame(&mut self, i: usize) -> (&mut [u8], PacketMeta, bool) {
        let s = self.slots[i];
        (&mut self.block_mut()[s.start..s.end], s.meta, s.truncated)
    }

    /// The first `n` frames of the held block all at once (each as
    /// [`frame`](Self::frame) gives it), for a batch call into the engine.
    /// The block is split between them: a frame that starts before the end
    /// of the one before it (which a well-formed block never has) comes
    /// back empty and marked truncated, so it is dropped.
    pub fn frames_mut(
        &mut self,
        n: usize,
    ) -> impl Iterator<Item = (&mut [u8], PacketMeta, bool)> + '_ {
        let b = self
            .held
            .expect("a block is held while its frames are read");
        // SAFETY: as in recv_block: the held block is user space's until
        // released, and this is the only view of it while the iterator
        // lives (it borrows self mutably).
        let mut rest: &mut [u8] = unsafe {
            std::slice::from_raw_parts_mut(
                self.map.ptr.as_ptr().add(b * self.rx_block_bytes),
                self.rx_block_bytes,
            )
        };
        let mut at = 0;
        self.slots.iter().take(n).map(move |s| {
            if s.start < at || s.end < s.start || s.end - at > rest.len() {
                return (<&mut [u8]>::default(), s.meta, true);
            }
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(s.start - at);
            let (frame, after) = tail.split_at_mut(s.end - s.start);
            rest = after;
            at = s.end;
            (frame, s.meta, s.truncated)
        })
    }

    /// Frame `i` of the held block, read-only, for sending (with a vnet
    /// header built for it: the one it came with is not kept).
    pub fn frame_out(&self, i: usize) -> &[u8] {
        let s = &self.slots[i];
        let b = self
            .held
            .expect("a block is held while its frames are read");
        // SAFETY: as in recv_block; shared, read-only view.
        let block = unsafe {
            std::slice::from_raw_parts(
                self.map.ptr.as_ptr().add(b * self.rx_block_bytes),
                self.rx_block_bytes,
            )
        };
        &block[s.start..s.end]
    }

    /// Queue frames for sending (`frame(i)` for `i` in `0..count`: its
    /// vnet header and bytes) and kick the kernel once; returns how many
    /// were taken.
    pub fn send_all<'a>(
        &mut self,
        count: usize,
        frame: impl Fn(usize) -> (&'a [u8; VNET_HDR_BYTES], &'a [u8]),
    ) -> usize {
        let sent = self.queue_all(count, frame);
        self.kick();
        sent
    }

    /// Queue frames in the transmit ring without kicking the kernel: they
    /// leave at the next [`Self::kick`] (or when the ring fills). Without
    /// a transmit ring they are sent at once. Returns how many were taken.
    pub fn queue_all<'a>(
        &mut self,
        count: usize,
        frame: impl Fn(usize) -> (&'a [u8; VNET_HDR_BYTES], &'a [u8]),
    ) -> usize {
        if self.tx.is_none() {
            return self.sock.send_all(count, frame);
        }
        let mut sent = 0;
        for i in 0..count {
            let (hdr, bytes) = frame(i);
            if self.push(hdr, bytes) {
                sent += 1;
            }
        }
        sent
    }

    /// Put one frame in the next transmit slot (or, too large for one,
    /// send it through the companion socket after the frames queued
    /// before it).
    fn push(&mut self, hdr: &[u8; VNET_HDR_BYTES], bytes: &[u8]) -> bool {
        let vnet = if self.vnet_hdr() { VNET_HDR_BYTES } else { 0 };
        let total = vnet + bytes.len();
        if total > TX_SLOT_ROOM {
            self.kick();
            // The spill socket counts a frame it could not send.
            let sent = match &mut self.spill {
                Some(s) => s.send_all(1, |_| (hdr, bytes)) == 1,
                None => {
                    self.tx_stats.drop_frames(TxDrop::Refused, 1);
                    false
                }
            };
            if sent {
                self.counters.tx_spilled = self.counters.tx_spilled.saturating_add(1);
            }
            return sent;
        }
        // The kernel skips a frame it finds too long in silence under
        // PACKET_LOSS: count it here instead. With a vnet header it does
        // not apply the rule (tpacket_snd).
        if vnet == 0
            && let Some(reason) = self.mtu.and_then(|m| refused_for_size(bytes, m))
        {
            self.tx_stats.drop_frames(reason, 1);
            return false;
        }
        let Some(tx) = &self.tx else {
            self.tx_stats.drop_frames(TxDrop::Refused, 1);
            return false;
        };
        if tx.is_stalled() && self.link_down {
            self.tx_stats.drop_frames(TxDrop::LinkDown, 1);
            return false;
        }
        let at = tx.base + tx.head * TX_FRAME_BYTES as usize;
        let mut free = self.status_of(at + H_STATUS).load(Ordering::Acquire) == TP_STATUS_AVAILABLE;
        if !free {
            // Send what is queued; slots come back as the kernel frees
            // the frames.
            self.kick();
            free = self.status_of(at + H_STATUS).load(Ordering::Acquire) == TP_STATUS_AVAILABLE;
        }
        if !free {
            self.tx_stats.drop_frames(TxDrop::RingFull, 1);
            return false;
        }
        // SAFETY: the slot is AVAILABLE, so user space's until it is marked
        // SEND_REQUEST below; `at + TX_FRAME_BYTES` is inside the mapping.
        let slot = unsafe {
            std::slice::from_raw_parts_mut(self.map.ptr.as_ptr().add(at), TX_FRAME_BYTES as usize)
        };
        let len = (total as u32).to_ne_bytes();
        slot[H_NEXT..H_NEXT + 4].copy_from_slice(&0u32.to_ne_bytes());
        slot[H_SNAPLEN..H_SNAPLEN + 4].copy_from_slice(&len);
        slot[H_LEN..H_LEN + 4].copy_from_slice(&len);
        let data = &mut slot[TX_DATA_OFFSET..TX_DATA_OFFSET + total];
        data[..vnet].copy_from_slice(&hdr[..vnet]);
        data[vnet..].copy_from_slice(bytes);
        self.status_of(at + H_STATUS)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        let tx = self.tx.as_mut().expect("checked above");
        tx.head = (tx.head + 1) % tx.slots;
        tx.pending += 1;
        true
    }

    /// Ask the kernel to send the queued transmit slots (one syscall for
    /// all of them; it does not wait for them to leave). Slots the kernel
    /// did not take (the device refused one: it stays queued at the head)
    /// stay pending and go at a later kick; the bridge kicks every turn.
    pub fn kick(&mut self) {
        let fd = self.sock.fd();
        self.kick_with(|| {
            // SAFETY: a zero-length send with no buffer only triggers the
            // transmit ring (packet_mmap, Linux kernel documentation).
            let r = unsafe { libc::send(fd, std::ptr::null(), 0, libc::MSG_DONTWAIT) };
            if r < 0 {
                Err(io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO))
            } else {
                Ok(())
            }
        });
    }

    /// [`Self::kick`] with `send` the syscall (the seam of the tests).
    fn kick_with(&mut self, send: impl FnOnce() -> Result<(), i32>) {
        let Some(tx) = &self.tx else { return };
        if tx.pending == 0 {
            return;
        }
        if let Err(errno) = send() {
            self.tx_stats.kick_errors = self.tx_stats.kick_errors.saturating_add(1);
            self.tx_stats.note_errno(errno);
            if matches!(classify(errno), ErrnoClass::Down | ErrnoClass::Gone) {
                self.link_down = true;
            }
        }
        let map = &self.map;
        let tx = self.tx.as_mut().expect("checked above");
        let base = tx.base;
        let taken = tx.settle(|i| {
            map.status_at(base + i * TX_FRAME_BYTES as usize + H_STATUS)
                .load(Ordering::Acquire)
        });
        if taken > 0 {
            self.link_down = false;
        } else if tx.pending > 0 {
            self.tx_stats.stalled_kicks = self.tx_stats.stalled_kicks.saturating_add(1);
        }
    }
}

impl Drop for RingSocket {
    fn drop(&mut self) {
        self.release();
    }
}

/// Ask for ring `which` (`PACKET_RX_RING`, `PACKET_TX_RING`) of the
/// geometry `req`: a `tpacket_req` for a `TPACKET_V2` ring, a
/// `tpacket_req3` for `TPACKET_V3`.
pub(crate) fn set_ring<R>(fd: libc::c_int, which: libc::c_int, req: &R) -> io::Result<()> {
    // SAFETY: req points at a live R of the given length; the kernel only
    // reads (copies) it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            which,
            (req as *const R).cast(),
            size_of::<R>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What the unit tests of both ring sockets use.
#[cfg(test)]
pub(crate) mod test_support {
    /// Write `v` at `at`, as the kernel writes a header field.
    pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    /// An IPv4 Ethernet frame of `len` bytes, each `tag` but the
    /// EtherType.
    pub(crate) fn eth(tag: u8, len: usize) -> Vec<u8> {
        let mut f = vec![tag; len];
        f[12] = 0x08;
        f[13] = 0x00;
        f
    }

    /// Check that `got` is frame `f` with the 802.1Q tag of VLAN `vid`
    /// (TPID 0x8100) put back in front of its EtherType.
    pub(crate) fn assert_tag_put_back(got: &[u8], f: &[u8], vid: u8) {
        assert_eq!(got.len(), f.len() + 4);
        assert_eq!(&got[..12], &f[..12]);
        assert_eq!(&got[12..16], &[0x81, 0x00, 0x00, vid]);
        assert_eq!(&got[16..], &f[12..]);
    }
}

#[cfg(test)]
mod tx_tests;

#[cfg(test)]
mod tests {
    use super::test_support::{assert_tag_put_back, eth, put32};
    use super::*;

    const BLOCK: usize = 4096;

    /// A block as the kernel fills it: the descriptor, then each frame
    /// behind its header at `mac_off`, chained by `tp_next_offset`.
    fn block_with(frames: &[&[u8]], mac_off: u16, status: u32, tci: u16) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK];
        let mut at = BLOCK_DESC_BYTES;
        put32(&mut b, BD_STATUS, TP_STATUS_USER);
        put32(&mut b, BD_NUM_PKTS, frames.len() as u32);
        put32(&mut b, BD_FIRST, at as u32);
        for (i, f) in frames.iter().enumerate() {
            let total = (usize::from(mac_off) + f.len()).next_multiple_of(16);
            let next = if i + 1 < frames.len() { total } else { 0 };
            put32(&mut b, at + H_NEXT, next as u32);
            put32(&mut b, at + H_SNAPLEN, f.len() as u32);
            put32(&mut b, at + H_LEN, f.len() as u32);
            put32(&mut b, at + H_STATUS, status);
            b[at + H_MAC..at + H_MAC + 2].copy_from_slice(&mac_off.to_ne_bytes());
            put32(&mut b, at + H_VLAN_TCI, u32::from(tci));
            let mac = at + usize::from(mac_off);
            b[mac..mac + f.len()].copy_from_slice(f);
            at += total;
        }
        put32(&mut b, BD_LEN, at as u32);
        b
    }

    /// Every frame header of a block, or the reason the walk stopped.
    fn all(b: &[u8], vnet: bool) -> Result<Vec<FrameHdr>, BadBlock> {
        let mut f = BlockFrames::new(b, vnet)?;
        let mut out = Vec::new();
        while let Some(h) = f.next_in(b) {
            out.push(h?);
        }
        Ok(out)
    }

    #[test]
    fn frames_of_a_block_are_read_in_order_with_their_state() {
        let (a, c) = (eth(1, 60), eth(2, 1514));
        let mut b = block_with(&[&a, &c], 82, libc::TP_STATUS_CSUMNOTREADY, 0);
        let hdrs = all(&b, false).unwrap();
        assert_eq!(hdrs.len(), 2);
        let s0 = prepare(&mut b, &hdrs[0], false).unwrap();
        let s1 = prepare(&mut b, &hdrs[1], false).unwrap();
        assert_eq!(&b[s0.start..s0.end], &a[..]);
        assert_eq!(&b[s1.start..s1.end], &c[..]);
        assert_eq!(s0.meta.checksum, ChecksumState::Partial);
        assert!(!s0.truncated);
    }

    #[test]
    fn a_vlan_tag_goes_back_in_front_of_the_ethertype() {
        let f = eth(3, 60);
        let mut b = block_with(&[&f], 82, libc::TP_STATUS_VLAN_VALID, 42);
        let h = all(&b, false).unwrap()[0];
        let s = prepare(&mut b, &h, false).unwrap();
        assert_tag_put_back(&b[s.start..s.end], &f, 42);
    }

    #[test]
    fn a_vnet_header_in_front_of_the_frame_gives_the_offload_state() {
        let f = eth(4, 100);
        let mut b = block_with(&[&f], 92, 0, 0);
        let mac = BLOCK_DESC_BYTES + 92;
        // NEEDS_CSUM, GSO TCPv4, gso_size 1448.
        b[mac - 10..mac].copy_from_slice(&[1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]);
        let h = all(&b, true).unwrap()[0];
        let s = prepare(&mut b, &h, true).unwrap();
        assert_eq!(s.meta.checksum, ChecksumState::Partial);
        assert_eq!(s.meta.gso_size, 1448);
        assert_eq!(
            s.meta.asked,
            vnet::read(&[1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]).asked
        );
    }

    #[test]
    fn a_frame_cut_short_is_reported_truncated() {
        let f = eth(5, 60);
        let mut b = block_with(&[&f], 82, 0, 0);
        put32(&mut b, BLOCK_DESC_BYTES + H_LEN, 9000);
        let h = all(&b, false).unwrap()[0];
        assert!(prepare(&mut b, &h, false).unwrap().truncated);
    }

    #[test]
    fn corrupt_offsets_end_the_block_with_a_reason_and_never_panic() {
        let f = eth(6, 60);
        let good = block_with(&[&f, &f, &f], 82, 0, 0);
        let read = |b: &[u8], vnet| all(b, vnet).map(|h| h.len());
        assert_eq!(read(&good, false), Ok(3));
        // The first frame outside the block.
        let mut b = good.clone();
        put32(&mut b, BD_FIRST, (BLOCK + 8) as u32);
        assert_eq!(read(&b, false), Err(BadBlock::Extent));
        // A fill length past the block.
        let mut b = good.clone();
        put32(&mut b, BD_LEN, u32::MAX);
        assert_eq!(read(&b, false), Err(BadBlock::Extent));
        // A frame's data past the block.
        let mut b = good.clone();
        put32(&mut b, BLOCK_DESC_BYTES + H_SNAPLEN, u32::MAX);
        assert_eq!(read(&b, false), Err(BadBlock::FrameData));
        // Frame data over its own header, or no room for a vnet header.
        let mut b = good.clone();
        b[BLOCK_DESC_BYTES + H_MAC..BLOCK_DESC_BYTES + H_MAC + 2]
            .copy_from_slice(&10u16.to_ne_bytes());
        assert_eq!(read(&b, false), Err(BadBlock::FrameData));
        assert_eq!(read(&good, true), Ok(3));
        let mut b = good.clone();
        b[BLOCK_DESC_BYTES + H_MAC..BLOCK_DESC_BYTES + H_MAC + 2]
            .copy_from_slice(&50u16.to_ne_bytes());
        assert_eq!(read(&b, true), Err(BadBlock::FrameData));
        // A next offset that loops back, or leaves the block.
        let mut b = good.clone();
        put32(&mut b, BLOCK_DESC_BYTES + H_NEXT, 0);
        assert_eq!(read(&b, false), Err(BadBlock::NextOffset));
        let mut b = good.clone();
        put32(&mut b, BLOCK_DESC_BYTES + H_NEXT, BLOCK as u32);
        assert_eq!(read(&b, false), Err(BadBlock::NextOffset));
        // More frames declared than the block holds: the chain runs out.
        let mut b = good.clone();
        put32(&mut b, BD_NUM_PKTS, 1_000_000);
        assert!(read(&b, false).is_err());
        // A block shorter than its descriptor.
        assert_eq!(read(&good[..20], false), Err(BadBlock::Extent));
    }

    #[test]
    fn a_vlan_frame_without_room_for_its_tag_is_refused() {
        let f = eth(7, 60);
        let mut b = block_with(&[&f], 50, libc::TP_STATUS_VLAN_VALID, 7);
        let h = all(&b, false).unwrap()[0];
        assert!(prepare(&mut b, &h, false).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_block_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1024), vnet: bool) {
            let mut b = bytes;
            if let Ok(mut frames) = BlockFrames::new(&b, vnet) {
                // Frames are rewritten between reads, as the socket does.
                for _ in 0..10_000 {
                    match frames.next_in(&b) {
                        Some(Ok(h)) => {
                            let _ = prepare(&mut b, &h, vnet);
                        }
                        _ => break,
                    }
                }
            }
        }
    }
}
