//! The bridge's packet I/O: a [`PacketSocket`] (`recvmmsg`/`sendmmsg`), a
//! [`FrameRingSocket`] (per-frame `TPACKET_V2` receive ring) or a
//! [`RingSocket`] (`TPACKET_V3` block rings) behind one type, so the bridge
//! loop is the same for all. [`PacketIo::open`] tries the ring asked for
//! and falls back to `recvmmsg`/`sendmmsg` when the kernel refuses it.

use std::io;

use rampart_dataplane::packet::PacketMeta;

use crate::afpacket::{KernelStats, PacketSocket, RxBatch, VNET_HDR_BYTES};
use crate::frame_ring::FrameRingSocket;
use crate::link::Probe;
use crate::ring::{IoMode, RingCounters, RingSocket};
use crate::tx::TxStats;

/// Which back end to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoChoice {
    /// The per-frame `TPACKET_V2` receive ring, or `recvmmsg`/`sendmmsg`
    /// when the kernel refuses it.
    #[default]
    Ring,
    /// The `TPACKET_V3` block rings (up to a millisecond per crossing on
    /// a quiet link), or `recvmmsg`/`sendmmsg` when refused.
    BlockRing,
    /// `recvmmsg`/`sendmmsg` only.
    Mmsg,
}

/// One interface's socket, either back end.
#[derive(Debug)]
pub enum PacketIo {
    /// `recvmmsg`/`sendmmsg`, with its receive buffers.
    Mmsg(PacketSocket, Box<RxBatch>),
    /// A per-frame receive ring.
    Ring(Box<FrameRingSocket>),
    /// Memory-mapped block rings.
    BlockRing(Box<RingSocket>),
}

impl From<PacketSocket> for PacketIo {
    fn from(s: PacketSocket) -> Self {
        PacketIo::Mmsg(s, Box::default())
    }
}

impl From<RingSocket> for PacketIo {
    fn from(s: RingSocket) -> Self {
        PacketIo::BlockRing(Box::new(s))
    }
}

impl From<FrameRingSocket> for PacketIo {
    fn from(s: FrameRingSocket) -> Self {
        PacketIo::Ring(Box::new(s))
    }
}

impl PacketIo {
    /// Open `ifname` with the back end `choice` asks for (`vnet`: with
    /// `PACKET_VNET_HDR`). With [`IoChoice::Ring`], a refused ring falls
    /// back to `recvmmsg`/`sendmmsg`, and the refusal is returned beside
    /// the socket for the caller to log.
    pub fn open(
        ifname: &str,
        vnet: bool,
        choice: IoChoice,
    ) -> io::Result<(PacketIo, Option<io::Error>)> {
        match choice {
            IoChoice::BlockRing => Self::open_or_fall_back(ifname, vnet, choice, RingSocket::open),
            _ => Self::open_or_fall_back(ifname, vnet, choice, FrameRingSocket::open),
        }
    }

    /// [`Self::open`] with `ring` opening the ring socket (unless `choice`
    /// is [`IoChoice::Mmsg`]).
    pub fn open_or_fall_back<R: Into<PacketIo>>(
        ifname: &str,
        vnet: bool,
        choice: IoChoice,
        ring: impl FnOnce(&str, bool) -> io::Result<R>,
    ) -> io::Result<(PacketIo, Option<io::Error>)> {
        let refused = match choice {
            IoChoice::Ring | IoChoice::BlockRing => match ring(ifname, vnet) {
                Ok(r) => return Ok((r.into(), None)),
                Err(e) => Some(e),
            },
            IoChoice::Mmsg => None,
        };
        let s = PacketSocket::open(ifname)?;
        let s = if vnet { s.with_vnet_hdr()? } else { s };
        Ok((s.into(), refused))
    }

    /// How this socket moves frames.
    pub fn mode(&self) -> IoMode {
        match self {
            PacketIo::Mmsg(..) => IoMode::Mmsg,
            PacketIo::Ring(r) => r.mode(),
            PacketIo::BlockRing(r) => r.mode(),
        }
    }

    /// Join fanout group `group` ([`PacketSocket::join_fanout`]).
    pub fn join_fanout(&self, group: u16) -> io::Result<()> {
        match self {
            PacketIo::Mmsg(s, _) => s.join_fanout(group),
            PacketIo::Ring(r) => r.join_fanout(group),
            PacketIo::BlockRing(r) => r.join_fanout(group),
        }
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        match self {
            PacketIo::Mmsg(s, _) => s.name(),
            PacketIo::Ring(r) => r.name(),
            PacketIo::BlockRing(r) => r.name(),
        }
    }

    /// The raw descriptor (for poll).
    pub fn fd(&self) -> libc::c_int {
        match self {
            PacketIo::Mmsg(s, _) => s.fd(),
            PacketIo::Ring(r) => r.fd(),
            PacketIo::BlockRing(r) => r.fd(),
        }
    }

    /// The index of the interface the socket was bound to.
    pub fn ifindex(&self) -> u32 {
        self.socket().ifindex()
    }

    /// The receiving socket (its descriptor is the one polled).
    fn socket(&self) -> &PacketSocket {
        match self {
            PacketIo::Mmsg(s, _) => s,
            PacketIo::Ring(r) => r.socket(),
            PacketIo::BlockRing(r) => r.socket(),
        }
    }

    /// What it could not send, by reason (all its sockets).
    pub fn tx_stats(&self) -> TxStats {
        match self {
            PacketIo::Mmsg(s, _) => s.tx_stats(),
            PacketIo::Ring(r) => r.tx_stats(),
            PacketIo::BlockRing(r) => r.tx_stats(),
        }
    }

    /// The errno of the last link event a send, a kick or a read of the
    /// copy path met, taken.
    pub fn take_link_errno(&mut self) -> Option<i32> {
        match self {
            PacketIo::Mmsg(s, _) => s.take_link_errno(),
            PacketIo::Ring(r) => r.take_link_errno(),
            PacketIo::BlockRing(r) => r.take_link_errno(),
        }
    }

    /// Read and clear the polled socket's pending error (`SO_ERROR`).
    pub fn take_socket_error(&self) -> Option<i32> {
        self.socket().take_socket_error()
    }

    /// Look at the interface: its name's index now and whether it runs
    /// (a ring's transmit side reads its MTU again).
    pub fn probe(&mut self) -> Probe {
        match self {
            PacketIo::Mmsg(s, _) => s.probe(),
            PacketIo::Ring(r) => r.probe(),
            PacketIo::BlockRing(r) => r.probe(),
        }
    }

    /// Tell a transmit ring whether the bridge sees the link down.
    pub fn set_link_down(&mut self, down: bool) {
        match self {
            PacketIo::Mmsg(..) => {}
            PacketIo::Ring(r) => r.set_link_down(down),
            PacketIo::BlockRing(r) => r.set_link_down(down),
        }
    }

    /// Whether frames carry a `virtio_net_hdr`.
    pub fn vnet_hdr(&self) -> bool {
        match self {
            PacketIo::Mmsg(s, _) => s.vnet_hdr(),
            PacketIo::Ring(r) => r.vnet_hdr(),
            PacketIo::BlockRing(r) => r.vnet_hdr(),
        }
    }

    /// The ring's own counters (none for `recvmmsg`/`sendmmsg`).
    pub fn ring_counters(&self) -> Option<RingCounters> {
        match self {
            PacketIo::Mmsg(..) => None,
            PacketIo::Ring(r) => Some(r.counters()),
            PacketIo::BlockRing(r) => Some(r.counters),
        }
    }

    /// Read and reset the kernel's receive counters.
    pub fn take_kernel_stats(&self) -> io::Result<KernelStats> {
        match self {
            PacketIo::Mmsg(s, _) => s.take_kernel_stats(),
            PacketIo::Ring(r) => r.take_kernel_stats(),
            PacketIo::BlockRing(r) => r.take_kernel_stats(),
        }
    }

    /// Receive the next batch without blocking (a `recvmmsg` batch, the
    /// ready slots of a per-frame ring, or a ring block; the previous one
    /// given back); returns how many frames.
    pub fn recv(&mut self) -> io::Result<usize> {
        match self {
            PacketIo::Mmsg(s, rx) => s.recv_batch(rx),
            PacketIo::Ring(r) => Ok(r.recv()),
            PacketIo::BlockRing(r) => Ok(r.recv_block()),
        }
    }

    /// Frame `i` of the last batch (mutable: the engine rewrites in
    /// place), its metadata, and whether it was truncated.
    pub fn frame(&mut self, i: usize) -> (&mut [u8], PacketMeta, bool) {
        match self {
            PacketIo::Mmsg(_, rx) => rx.frame(i),
            PacketIo::Ring(r) => r.frame(i),
            PacketIo::BlockRing(r) => r.frame(i),
        }
    }

    /// The first `n` frames of the last batch all at once, mutable, with
    /// their metadata and whether each was truncated: the input of a batch
    /// call into the engine.
    pub fn frames_mut(
        &mut self,
        n: usize,
    ) -> impl Iterator<Item = (&mut [u8], PacketMeta, bool)> + '_ {
        // One of three iterators, without a box: this runs once a batch.
        let (mut a, mut b, mut c) = (None, None, None);
        match self {
            PacketIo::Mmsg(_, rx) => a = Some(rx.frames_mut(n)),
            PacketIo::Ring(r) => b = Some(r.frames_mut(n)),
            PacketIo::BlockRing(r) => c = Some(r.frames_mut(n)),
        }
        std::iter::from_fn(move || {
            a.as_mut()
                .and_then(Iterator::next)
                .or_else(|| b.as_mut().and_then(Iterator::next))
                .or_else(|| c.as_mut().and_then(Iterator::next))
        })
    }

    /// Frame `i` of the last batch, for sending (the vnet header it came
    /// with is not kept: one is built for it, [`crate::vnet::write`]).
    pub fn frame_out(&self, i: usize) -> &[u8] {
        match self {
            PacketIo::Mmsg(_, rx) => rx.frame_out(i),
            PacketIo::Ring(r) => r.frame_out(i),
            PacketIo::BlockRing(r) => r.frame_out(i),
        }
    }

    /// The last batch is done with (ring slots or a ring block go back to
    /// the kernel).
    pub fn done(&mut self) {
        match self {
            PacketIo::Mmsg(..) => {}
            PacketIo::Ring(r) => r.release(),
            PacketIo::BlockRing(r) => r.release(),
        }
    }

    /// Send frames `which` of `from`'s last batch, each `(index, vnet
    /// header)`: the header built from the engine's parse of it
    /// ([`crate::vnet::write`]), never the one it arrived with (docs/io.md
    /// §1); returns how many the kernel took. A ring only queues them: they
    /// leave at the next [`Self::kick`].
    pub fn forward(&mut self, from: &PacketIo, which: &[(usize, [u8; VNET_HDR_BYTES])]) -> usize {
        let frame = |i: usize| (&which[i].1, from.frame_out(which[i].0));
        match self {
            PacketIo::Mmsg(s, _) => s.send_all(which.len(), frame),
            PacketIo::Ring(r) => r.queue_all(which.len(), frame),
            PacketIo::BlockRing(r) => r.queue_all(which.len(), frame),
        }
    }

    /// Send what [`Self::forward`] and [`Self::send_frames`] queued in a
    /// transmit ring (one syscall for all of it; nothing to do for
    /// `sendmmsg`, which sent at once).
    pub fn kick(&mut self) {
        match self {
            PacketIo::Mmsg(..) => {}
            PacketIo::Ring(r) => r.kick(),
            PacketIo::BlockRing(r) => r.kick(),
        }
    }

    /// Send `frames`, each with an empty offload header (no offload), in
    /// one batch (queued in a ring until [`Self::kick`], one `sendmmsg`
    /// otherwise); returns how many the kernel took.
    pub fn send_frames(&mut self, frames: &[Vec<u8>]) -> usize {
        let f = |i: usize| (&crate::vnet::NONE, frames[i].as_slice());
        match self {
            PacketIo::Mmsg(s, _) => s.send_all(frames.len(), f),
            PacketIo::Ring(r) => r.queue_all(frames.len(), f),
            PacketIo::BlockRing(r) => r.queue_all(frames.len(), f),
        }
    }

    /// Send `frames`, each `(frame, vnet header)` (the header built from
    /// the engine's offload, [`crate::vnet::write`]), as
    /// [`Self::send_frames`] does.
    pub fn send_frames_with(&mut self, frames: &[(Vec<u8>, [u8; VNET_HDR_BYTES])]) -> usize {
        let f = |i: usize| (&frames[i].1, frames[i].0.as_slice());
        match self {
            PacketIo::Mmsg(s, _) => s.send_all(frames.len(), f),
            PacketIo::Ring(r) => r.queue_all(frames.len(), f),
            PacketIo::BlockRing(r) => r.queue_all(frames.len(), f),
        }
    }
}
