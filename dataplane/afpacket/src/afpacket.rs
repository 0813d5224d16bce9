//! AF_PACKET sockets (Linux): batched receive and send of whole Ethernet
//! frames on one interface, with the kernel's checksum knowledge and VLAN
//! tag handed back from `PACKET_AUXDATA`.
//!
//! - `recvmmsg`/`sendmmsg`: one syscall per batch, not per packet.
//! - The kernel strips the 802.1Q tag into the auxiliary data on receive;
//!   it is put back into the frame, so the engine and the far side see the
//!   frame as it was on the wire.
//! - `TP_STATUS_CSUMNOTREADY` (veth, loopback: CHECKSUM_PARTIAL) becomes
//!   [`ChecksumState::Partial`]; `TP_STATUS_CSUM_VALID` becomes `Verified`.
//! - `PACKET_IGNORE_OUTGOING`: frames this process sends are not read back.
//! - Frames larger than a buffer are reported truncated and must be
//!   dropped by the caller; buffers hold a 64 KiB IP packet and its headers.
//! - With [`PacketSocket::with_vnet_hdr`] (`PACKET_VNET_HDR`) every frame
//!   comes and goes with a `virtio_net_hdr`: TCP that a host sent as one
//!   64 KiB GSO super-packet (veth with TSO, or after GRO) crosses whole,
//!   segmented by the kernel on the far side only if a device needs it, and
//!   a partial checksum (`NEEDS_CSUM`) travels as such for the kernel to
//!   finish. The header sent is built from the engine's parse, never the
//!   one received ([`crate::vnet`], docs/io.md §1). Without it, super-packets are larger than the MTU and cannot
//!   be sent: segmentation offloads must then be off on the links.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

use rampart_dataplane::packet::{ChecksumState, PacketMeta};

use crate::link::Probe;
use crate::tx::{TxStats, send_each};

/// Frames received per `recvmmsg` call.
pub const RX_BATCH_FRAMES: usize = 32;
/// Largest frame a buffer holds: a 64 KiB IP packet (GSO/GRO on veth)
/// plus its Ethernet header, with room to spare.
pub const MAX_FRAME_BYTES: usize = 65_536 + 256;
pub use crate::vnet::VNET_HDR_BYTES;
/// Receive and send buffer of each socket. The kernel's default (about
/// 208 KiB) holds three 64 KiB super-packets, or some ninety 1500-byte
/// frames counted at their true size: a burst longer than one batch turn
/// overflows it, the kernel drops, and TCP backs off. Set with the
/// `*BUFFORCE` options (root), so `net.core.rmem_max` does not cap it.
pub const SOCKET_BUFFER_BYTES: libc::c_int = 32 << 20;
/// Room in front of each buffer for a re-inserted VLAN tag.
const VLAN_HEADROOM: usize = 4;
/// `PACKET_AUXDATA` from `<linux/if_packet.h>`.
const PACKET_AUXDATA: libc::c_int = 8;
/// Control-message space per frame: one `tpacket_auxdata` and its header.
const CMSG_WORDS: usize = 8;
/// How long a send waits, once per batch, for room in a full socket or
/// device queue before the rest of the batch is counted as `no_buffers`.
pub const SEND_ROOM_WAIT_MS: libc::c_int = 1;

/// An AF_PACKET socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    sock: Socket,
    name: String,
    /// The index of the interface it is bound to.
    ifindex: u32,
    /// Frames carry a `virtio_net_hdr` both ways.
    vnet: bool,
    /// What it could not send.
    tx: TxStats,
}

/// Why a socket could not be opened (a local fault, named plainly).
pub(crate) fn open_error(ifname: &str, what: &str, e: io::Error) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => " (AF_PACKET needs root or CAP_NET_RAW)",
        Some(libc::ENODEV) => " (no such interface)",
        _ => "",
    };
    io::Error::new(e.kind(), format!("{ifname}: {what}: {e}{hint}"))
}

pub(crate) fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live c_int for the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl PacketSocket {
    /// Open a non-blocking AF_PACKET socket on `ifname` for all protocols.
    pub fn open(ifname: &str) -> io::Result<Self> {
        // The protocol is in network byte order (packet(7)).
        Self::open_for(ifname, (libc::ETH_P_ALL as u16).to_be())
    }

    /// Open a socket on `ifname` that only sends: protocol 0 receives
    /// nothing (packet(7)). The ring back end sends frames larger than a
    /// transmit slot through one.
    pub fn open_send_only(ifname: &str) -> io::Result<Self> {
        Self::open_for(ifname, 0)
    }

    fn open_for(ifname: &str, all: u16) -> io::Result<Self> {
        let cname = std::ffi::CString::new(ifname).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{ifname:?}: not an interface name"),
            )
        })?;
        // SAFETY: cname is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{ifname}: no such interface"),
            ));
        }
        let sock = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(all))),
        )
        .map_err(|e| open_error(ifname, "socket", e))?;
        // SAFETY: an all-zero sockaddr_ll is valid; the fields set below
        // bind it to one interface.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = all;
        sll.sll_ifindex = ifindex as i32;
        let fd = sock.as_raw_fd();
        // SAFETY: sll is a valid sockaddr_ll and the length matches it.
        let r = unsafe {
            libc::bind(
                fd,
                (&raw const sll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(open_error(ifname, "bind", io::Error::last_os_error()));
        }
        setsockopt_int(fd, libc::SOL_PACKET, PACKET_AUXDATA, 1)
            .map_err(|e| open_error(ifname, "PACKET_AUXDATA", e))?;
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| open_error(ifname, "PACKET_IGNORE_OUTGOING", e))?;
        for (opt, what) in [
            (libc::SO_RCVBUFFORCE, "SO_RCVBUFFORCE"),
            (libc::SO_SNDBUFFORCE, "SO_SNDBUFFORCE"),
        ] {
            setsockopt_int(fd, libc::SOL_SOCKET, opt, SOCKET_BUFFER_BYTES)
                .map_err(|e| open_error(ifname, what, e))?;
        }
        // Frames leave straight to the driver: the node is a bump in the
        // wire and queues nothing of its own (packet(7) PACKET_QDISC_BYPASS).
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)
            .map_err(|e| open_error(ifname, "PACKET_QDISC_BYPASS", e))?;
        sock.set_nonblocking(true)
            .map_err(|e| open_error(ifname, "non-blocking", e))?;
        Ok(PacketSocket {
            sock,
            name: ifname.to_string(),
            ifindex,
            vnet: false,
            tx: TxStats::default(),
        })
    }

    /// Exchange frames with their `virtio_net_hdr` (`PACKET_VNET_HDR`):
    /// GSO super-packets and partial checksums cross whole.
    pub fn with_vnet_hdr(mut self) -> io::Result<Self> {
        setsockopt_int(self.fd(), libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)
            .map_err(|e| open_error(&self.name, "PACKET_VNET_HDR", e))?;
        self.vnet = true;
        Ok(self)
    }

    /// Whether frames carry a `virtio_net_hdr`.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet
    }

    /// Join fanout group `group` (one per interface and process) with the
    /// symmetric flow program of [`crate::fanout`]: the kernel then hands
    /// each frame to one member socket, both directions of a flow to the
    /// same member index (the order in which the workers joined).
    pub fn join_fanout(&self, group: u16) -> io::Result<()> {
        let fd = self.fd();
        let arg = i32::from(group) | ((libc::PACKET_FANOUT_CBPF as i32) << 16);
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, arg)
            .map_err(|e| open_error(&self.name, "PACKET_FANOUT", e))?;
        let prog: Vec<libc::sock_filter> = crate::fanout::fanout_program()
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr().cast_mut(),
        };
        // SAFETY: fprog points at `prog`, alive for the call; the kernel
        // copies the program.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT_DATA,
                (&raw const fprog).cast(),
                size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(open_error(
                &self.name,
                "PACKET_FANOUT_DATA",
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw descriptor (for poll/epoll).
    pub fn fd(&self) -> libc::c_int {
        self.sock.as_raw_fd()
    }

    /// The index of the interface the socket was bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// What the socket could not send, by reason.
    pub fn tx_stats(&self) -> TxStats {
        self.tx
    }

    /// The errno of the last link event a send met, taken.
    pub fn take_link_errno(&mut self) -> Option<i32> {
        self.tx.link_errno.take()
    }

    /// Read and clear the socket's pending error (`SO_ERROR`; the kernel
    /// sets `ENETDOWN` there when the interface goes down or is deleted,
    /// and poll(2) reports `POLLERR` until it is read); `None` when none.
    pub fn take_socket_error(&self) -> Option<i32> {
        match self.sock.take_error() {
            Ok(Some(e)) => e.raw_os_error(),
            Ok(None) => None,
            // The read itself failed: nothing to clear, no event to tell.
            Err(_) => None,
        }
    }

    /// Look at the interface by name: the index the name has now and
    /// whether it is up with carrier. Two `ioctl`s on this socket. An
    /// interface renamed (`ip link set dev X name Y`) is still the one the
    /// socket is bound to and still forwards: when the name no longer
    /// names the bound index but that index still exists, the look is of
    /// the index, under its new name (only a deleted interface is gone; a
    /// review found a rename counted as a deletion for good).
    pub fn probe(&self) -> Probe {
        let want = libc::IFF_UP | libc::IFF_RUNNING;
        let running = |flags: Option<i32>| {
            // The flags are a short at the union's start.
            (flags.unwrap_or(0) & 0xffff) & want == want
        };
        let index = self
            .ifreq(&self.name, libc::SIOCGIFINDEX)
            .and_then(|v| u32::try_from(v).ok());
        if index != Some(self.ifindex)
            && self.ifindex != 0
            && let Some(renamed) = index_name(self.ifindex)
        {
            return Probe {
                index: Some(self.ifindex),
                running: running(self.ifreq(&renamed, libc::SIOCGIFFLAGS)),
            };
        }
        Probe {
            index,
            running: running(self.ifreq(&self.name, libc::SIOCGIFFLAGS)),
        }
    }

    /// The interface's MTU by name (`SIOCGIFMTU`), if it has one.
    pub fn mtu(&self) -> Option<u32> {
        self.ifreq(&self.name, libc::SIOCGIFMTU)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// `ioctl(request)` with an `ifreq` naming interface `name`; the int
    /// at the start of its union.
    fn ifreq(&self, name: &str, request: libc::c_ulong) -> Option<i32> {
        /// `struct ifreq`: the name, then a union of 24 bytes on 64-bit
        /// (16 on 32-bit: 24 covers both).
        #[repr(C)]
        struct IfReq {
            name: [libc::c_char; libc::IFNAMSIZ],
            value: [u8; 24],
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            value: [0; 24],
        };
        // open() found the name with if_nametoindex, and the kernel gave
        // a new one, so it is shorter than IFNAMSIZ; the last byte stays
        // NUL whatever it is.
        for (d, b) in req
            .name
            .iter_mut()
            .zip(name.bytes().take(libc::IFNAMSIZ - 1))
        {
            *d = b as libc::c_char;
        }
        // SAFETY: req is a valid, NUL-terminated ifreq that the kernel
        // reads and writes within its size for these three requests.
        let r = unsafe { libc::ioctl(self.fd(), request as libc::Ioctl, &raw mut req) };
        if r != 0 {
            return None;
        }
        Some(i32::from_ne_bytes([
            req.value[0],
            req.value[1],
            req.value[2],
            req.value[3],
        ]))
    }

    /// Receive up to [`RX_BATCH_FRAMES`] frames without blocking; returns
    /// how many (0 when none is waiting).
    pub fn recv_batch(&self, rx: &mut RxBatch) -> io::Result<usize> {
        self.recv_batch_max(rx, RX_BATCH_FRAMES)
    }

    /// [`Self::recv_batch`], reading at most `max` frames (at most
    /// [`RX_BATCH_FRAMES`]).
    pub fn recv_batch_max(&self, rx: &mut RxBatch, max: usize) -> io::Result<usize> {
        let max = max.min(RX_BATCH_FRAMES);
        if max == 0 {
            return Ok(0);
        }
        // SAFETY: zeroed iovec/mmsghdr are valid; every pointer set below
        // points into `rx`, which outlives the call, with matching lengths.
        let mut iov: [[libc::iovec; 2]; RX_BATCH_FRAMES] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; RX_BATCH_FRAMES] = unsafe { zeroed() };
        for i in 0..RX_BATCH_FRAMES {
            // With a vnet header the kernel writes it first, then the frame.
            let parts = &mut iov[i];
            parts[0].iov_base = rx.vnet[i].as_mut_ptr().cast();
            parts[0].iov_len = VNET_HDR_BYTES;
            parts[1].iov_base = rx.bufs[i][VLAN_HEADROOM..].as_mut_ptr().cast();
            parts[1].iov_len = MAX_FRAME_BYTES;
            let h = &mut msgs[i].msg_hdr;
            h.msg_iov = if self.vnet {
                parts.as_mut_ptr()
            } else {
                &raw mut parts[1]
            };
            h.msg_iovlen = if self.vnet { 2 } else { 1 };
            h.msg_control = rx.cmsg[i].as_mut_ptr().cast();
            h.msg_controllen = size_of::<[u64; CMSG_WORDS]>() as _;
        }
        // SAFETY: msgs holds RX_BATCH_FRAMES >= max initialised headers.
        let n = unsafe {
            libc::recvmmsg(
                self.fd(),
                msgs.as_mut_ptr(),
                max as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        let n = n as usize;
        for (i, msg) in msgs.iter().enumerate().take(n) {
            let hdr = if self.vnet { VNET_HDR_BYTES } else { 0 };
            let len = (msg.msg_len as usize).saturating_sub(hdr);
            let truncated = msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let aux = auxdata(&msg.msg_hdr);
            let mut start = VLAN_HEADROOM;
            let mut end = VLAN_HEADROOM + len.min(MAX_FRAME_BYTES);
            if !self.vnet {
                rx.vnet[i] = [0; VNET_HDR_BYTES];
            }
            // What the header asked for, for the engine to check; the
            // header itself is never sent on (docs/io.md §1).
            let mut meta = crate::vnet::read(&rx.vnet[i]);
            if let Some(a) = aux {
                if !self.vnet {
                    if a.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0 {
                        meta.checksum = ChecksumState::Partial;
                    } else if a.tp_status & libc::TP_STATUS_CSUM_VALID != 0 {
                        meta.checksum = ChecksumState::Verified;
                    }
                }
                // Put the stripped 802.1Q tag back after the MAC addresses.
                if a.tp_status & libc::TP_STATUS_VLAN_VALID != 0 && end - start >= 12 {
                    let buf = &mut rx.bufs[i];
                    buf.copy_within(start..start + 12, 0);
                    let tpid = if a.tp_vlan_tpid == 0 {
                        0x8100
                    } else {
                        a.tp_vlan_tpid
                    };
                    buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                    buf[14..16].copy_from_slice(&a.tp_vlan_tci.to_be_bytes());
                    start = 0;
                    end = end.max(16);
                    // The offsets asked for count from the frame's start.
                    meta = crate::vnet::shifted(meta, VLAN_HEADROOM as u16);
                }
            }
            rx.slots[i] = Slot {
                start,
                end,
                wire: len,
                meta,
                truncated,
            };
        }
        rx.count = n;
        Ok(n)
    }

    /// Send frames in one `sendmmsg` call; returns how many the kernel took.
    /// On a vnet socket each goes with an empty header (no offload).
    pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        const NONE: [u8; VNET_HDR_BYTES] = [0; VNET_HDR_BYTES];
        self.send_with(frames.len(), |i| (&NONE, frames[i]))
    }

    /// Send frames `which` of a received batch, each with the offload
    /// header given beside it (on a vnet socket: built from the engine's
    /// parse, [`crate::vnet::write`]), in one `sendmmsg` call.
    pub fn forward_batch(
        &self,
        rx: &RxBatch,
        which: &[(usize, [u8; VNET_HDR_BYTES])],
    ) -> io::Result<usize> {
        self.send_with(which.len(), |i| (&which[i].1, rx.frame_ref(which[i].0)))
    }

    /// Read and reset the kernel's receive counters (`PACKET_STATISTICS`):
    /// frames received and frames the kernel dropped because the socket's
    /// buffer or ring was full.
    pub fn take_kernel_stats(&self) -> io::Result<KernelStats> {
        // tpacket_stats_v3 (packets, drops, freeze_q_cnt); a socket without
        // a V3 ring fills the first two (packet(7)).
        let mut st = [0u32; 3];
        let mut len = size_of::<[u32; 3]>() as libc::socklen_t;
        // SAFETY: st and len describe a live 12-byte buffer for the call;
        // the kernel writes at most len bytes and updates len.
        let r = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                st.as_mut_ptr().cast(),
                &raw mut len,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(KernelStats {
            packets: u64::from(st[0]),
            drops: u64::from(st[1]),
            freeze_q: if len >= 12 { u64::from(st[2]) } else { 0 },
        })
    }

    /// Send `count` frames, frame `i` being `frame(i)` (its offload
    /// header and bytes), in `sendmmsg` calls of at most
    /// [`RX_BATCH_FRAMES`]; returns how many the kernel took. A frame the
    /// kernel refuses is counted by reason and the ones after it are still
    /// sent ([`send_each`]).
    pub(crate) fn send_all<'a>(
        &mut self,
        count: usize,
        frame: impl Fn(usize) -> (&'a [u8; VNET_HDR_BYTES], &'a [u8]),
    ) -> usize {
        let mut stats = std::mem::take(&mut self.tx);
        let sent = send_each(
            count,
            RX_BATCH_FRAMES,
            |first, n| {
                self.send_with(n, |i| frame(first + i))
                    .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
            },
            || self.wait_for_room(),
            |i| frame(i).1,
            &mut stats,
        );
        self.tx = stats;
        sent
    }

    /// Wait up to [`SEND_ROOM_WAIT_MS`] for the socket to be writable.
    fn wait_for_room(&self) {
        let mut p = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call.
        unsafe { libc::poll(&raw mut p, 1, SEND_ROOM_WAIT_MS) };
    }

    fn send_with<'a>(
        &self,
        count: usize,
        frame: impl Fn(usize) -> (&'a [u8; VNET_HDR_BYTES], &'a [u8]),
    ) -> io::Result<usize> {
        if count == 0 {
            return Ok(0);
        }
        let n = count.min(RX_BATCH_FRAMES);
        // SAFETY: zeroed headers are valid; each iovec points at a frame
        // (or its header) that outlives the call (the kernel only reads it).
        let mut iov: [[libc::iovec; 2]; RX_BATCH_FRAMES] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; RX_BATCH_FRAMES] = unsafe { zeroed() };
        for i in 0..n {
            let (hdr, bytes) = frame(i);
            let parts = &mut iov[i];
            parts[0].iov_base = hdr.as_ptr() as *mut libc::c_void;
            parts[0].iov_len = VNET_HDR_BYTES;
            parts[1].iov_base = bytes.as_ptr() as *mut libc::c_void;
            parts[1].iov_len = bytes.len();
            let h = &mut msgs[i].msg_hdr;
            h.msg_iov = if self.vnet {
                parts.as_mut_ptr()
            } else {
                &raw mut parts[1]
            };
            h.msg_iovlen = if self.vnet { 2 } else { 1 };
        }
        // SAFETY: msgs holds n initialised headers.
        let r = unsafe { libc::sendmmsg(self.fd(), msgs.as_mut_ptr(), n as libc::c_uint, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(r as usize)
    }
}

#[cfg(test)]
impl PacketSocket {
    /// A socket for tests of the code around the syscalls: a UDP socket,
    /// unbound and unconnected, so that nothing it is asked to send
    /// leaves (a send fails with `EDESTADDRREQ`).
    pub(crate) fn for_tests(name: &str) -> Self {
        PacketSocket {
            sock: Socket::new(Domain::IPV4, Type::DGRAM, None).expect("a UDP socket"),
            name: name.to_string(),
            ifindex: 0,
            vnet: false,
            tx: TxStats::default(),
        }
    }

    /// A socket whose sends can be read back: one end of a Unix datagram
    /// pair (each message one datagram, its iovecs joined: the vnet
    /// header, then the frame), non-blocking, its send buffer small enough
    /// that a 200 KB frame is refused with `EMSGSIZE`; the other end.
    pub(crate) fn for_tests_pair(vnet: bool) -> (Self, std::os::unix::net::UnixDatagram) {
        let (a, b) = std::os::unix::net::UnixDatagram::pair().expect("a socket pair");
        let sock = Socket::from(std::os::fd::OwnedFd::from(a));
        sock.set_nonblocking(true).expect("non-blocking");
        // The kernel doubles it; a datagram longer than it is refused.
        sock.set_send_buffer_size(64 << 10).expect("a send buffer");
        b.set_nonblocking(true).expect("non-blocking");
        let s = PacketSocket {
            sock,
            name: "pair0".to_string(),
            ifindex: 0,
            vnet,
            tx: TxStats::default(),
        };
        (s, b)
    }
}

/// The name interface `index` has now (`if_indextoname`), or `None` when
/// no interface has that index (it was deleted).
fn index_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: buf has IFNAMSIZ bytes, as if_indextoname requires; it
    // writes a NUL-terminated name there or returns NULL.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success buf holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    name.to_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use rampart_dataplane::counters::TxDrop;

    use super::*;
    use crate::io::PacketIo;

    /// A frame too large for the pair's send buffer: refused.
    const REFUSED_BYTES: usize = 200_000;

    /// What the pair's other end received, datagram by datagram.
    fn received(peer: &std::os::unix::net::UnixDatagram) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = peer.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    }

    /// Three frames, each with its own header; the middle one refused.
    fn frames() -> Vec<(Vec<u8>, [u8; VNET_HDR_BYTES])> {
        (0u8..4)
            .map(|i| {
                let len = if i == 1 {
                    REFUSED_BYTES
                } else {
                    60 + usize::from(i)
                };
                let mut hdr = [0u8; VNET_HDR_BYTES];
                hdr[0] = 1;
                hdr[6] = 30 + i;
                (vec![0xa0 + i; len], hdr)
            })
            .collect()
    }

    /// A header then its frame, as a vnet socket sends them.
    fn on_wire(f: &(Vec<u8>, [u8; VNET_HDR_BYTES])) -> Vec<u8> {
        [f.1.as_slice(), f.0.as_slice()].concat()
    }

    #[test]
    fn a_frame_after_a_refused_one_leaves_with_its_own_header() {
        // The forward path: frame i and header i of one batch.
        let (mut s, peer) = PacketSocket::for_tests_pair(true);
        let f = frames();
        let sent = s.send_all(f.len(), |i| (&f[i].1, f[i].0.as_slice()));
        assert_eq!(sent, 3);
        assert_eq!(
            received(&peer),
            vec![on_wire(&f[0]), on_wire(&f[2]), on_wire(&f[3])]
        );
        let st = s.tx_stats();
        assert_eq!(st.drops[TxDrop::TooBig as usize], 1);
        assert_eq!(st.dropped(), 1, "the refused frame, counted once");
    }

    #[test]
    fn released_frames_are_sent_and_counted_as_forwarded_ones() {
        // The held frames a peer's event releases: PacketIo::send_frames_with.
        let (s, peer) = PacketSocket::for_tests_pair(true);
        let mut io = PacketIo::Mmsg(s, Box::default());
        let f = frames();
        assert_eq!(io.send_frames_with(&f), 3);
        assert_eq!(
            received(&peer),
            vec![on_wire(&f[0]), on_wire(&f[2]), on_wire(&f[3])]
        );
        assert_eq!(io.tx_stats().drops[TxDrop::TooBig as usize], 1);
        assert_eq!(io.tx_stats().dropped(), 1);
        // Without a vnet header only the frames leave.
        let (s, peer) = PacketSocket::for_tests_pair(false);
        let mut io = PacketIo::Mmsg(s, Box::default());
        assert_eq!(io.send_frames_with(&f), 3);
        assert_eq!(
            received(&peer),
            vec![f[0].0.clone(), f[2].0.clone(), f[3].0.clone()]
        );
    }
}

/// The kernel's receive counters of one socket since the last read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames the socket received.
    pub packets: u64,
    /// Frames dropped: the socket buffer or receive ring was full.
    pub drops: u64,
    /// Times the V3 receive ring was frozen (every block in user space).
    pub freeze_q: u64,
}

/// The `PACKET_AUXDATA` control message of a received frame, if present.
fn auxdata(h: &libc::msghdr) -> Option<libc::tpacket_auxdata> {
    // SAFETY: h is a msghdr filled by recvmmsg; the CMSG macros walk its
    // control buffer within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                let data = libc::CMSG_DATA(c).cast::<libc::tpacket_auxdata>();
                return Some(std::ptr::read_unaligned(data));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    start: usize,
    end: usize,
    /// Its length as the kernel gave it (the skb's: without the stripped
    /// VLAN tag or the vnet header).
    wire: usize,
    meta: PacketMeta,
    truncated: bool,
}

/// Buffers for one batch of received frames.
#[derive(Debug)]
pub struct RxBatch {
    bufs: Vec<Box<[u8]>>,
    vnet: [[u8; VNET_HDR_BYTES]; RX_BATCH_FRAMES],
    cmsg: Vec<[u64; CMSG_WORDS]>,
    slots: [Slot; RX_BATCH_FRAMES],
    count: usize,
}

impl Default for RxBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RxBatch {
    /// Allocate the batch's buffers (about 2 MiB).
    pub fn new() -> Self {
        RxBatch {
            bufs: (0..RX_BATCH_FRAMES)
                .map(|_| vec![0u8; VLAN_HEADROOM + MAX_FRAME_BYTES].into_boxed_slice())
                .collect(),
            vnet: [[0; VNET_HDR_BYTES]; RX_BATCH_FRAMES],
            cmsg: vec![[0u64; CMSG_WORDS]; RX_BATCH_FRAMES],
            slots: [Slot::default(); RX_BATCH_FRAMES],
            count: 0,
        }
    }

    /// Frames in the last batch.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last batch was empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The length the kernel gave frame `i` of the last batch (without a
    /// VLAN tag put back): a ring slot's `tp_len` for the same frame.
    pub fn wire_len(&self, i: usize) -> usize {
        self.slots[i].wire
    }

    /// Frame `i` of the last batch, read-only.
    pub fn frame_ref(&self, i: usize) -> &[u8] {
        let s = self.slots[i];
        &self.bufs[i][s.start..s.end]
    }

    /// Frame `i` of the last batch, for sending (with a vnet header built
    /// for it: the one it came with is not sent on).
    pub fn frame_out(&self, i: usize) -> &[u8] {
        self.frame_ref(i)
    }

    /// Frame `i` of the last batch (mutable: the engine rewrites in place),
    /// its metadata, and whether it was truncated (larger than a buffer:
    /// drop it, the bytes are incomplete).
    pub fn frame(&mut self, i: usize) -> (&mut [u8], PacketMeta, bool) {
        let s = self.slots[i];
        (&mut self.bufs[i][s.start..s.end], s.meta, s.truncated)
    }

    /// The first `n` frames of the batch all at once (each as
    /// [`frame`](Self::frame) gives it), for a batch call into the engine.
    pub fn frames_mut(
        &mut self,
        n: usize,
    ) -> impl Iterator<Item = (&mut [u8], PacketMeta, bool)> + '_ {
        self.bufs
            .iter_mut()
            .zip(self.slots.iter())
            .take(n)
            .map(|(b, s)| (&mut b[s.start..s.end], s.meta, s.truncated))
    }
}
