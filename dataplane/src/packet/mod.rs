//! Packet views: what the engine needs to know of a frame, parsed once.
//!
//! [`parse`] checks every length and checksum up front, once (parse, don't
//! validate: nothing after it re-checks a length or reads past one);
//! everything after it works on [`Parsed`].

pub mod offload;
mod parse;
pub mod rewrite;

pub use offload::{Offload, OffloadRequest};
pub(crate) use parse::furthest_after;
pub(crate) use parse::no_host_sends_from;
pub use parse::{
    FragmentInfo, assemble, complete_checksum, fragment_info, ip_addrs, parse, set_ipv4_checksum,
};

use crate::flow::Tuple;
use crate::seq::SeqNumber;

/// What the I/O layer knows of a frame's checksums (from `tp_status` or
/// `PACKET_AUXDATA`). veth and loopback hand frames over with the transport
/// checksum not yet computed: a partial checksum is not a bad one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumState {
    /// Nothing is known: verify the IPv4 header and TCP/UDP checksums.
    #[default]
    Unverified,
    /// The transport checksum is partial (`TP_STATUS_CSUMNOTREADY`,
    /// CHECKSUM_PARTIAL): verify the IPv4 header, skip TCP/UDP.
    Partial,
    /// The kernel or NIC verified all checksums (`TP_STATUS_CSUM_VALID`).
    Verified,
}

/// Metadata the I/O layer hands over with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketMeta {
    /// Checksum knowledge for this frame.
    pub checksum: ChecksumState,
    /// For a GSO super-packet (several TCP segments the kernel carries as
    /// one frame until a device needs them apart), the payload bytes of
    /// each segment on the wire; 0 for an ordinary frame.
    pub gso_size: u16,
    /// What the sender's `virtio_net_hdr` asked of checksum and
    /// segmentation offload (nothing without one): untrusted, checked
    /// against the frame's headers by [`parse`], which drops the frame when
    /// they disagree (docs/io.md §1).
    pub asked: OffloadRequest,
}

/// TCP header flags (the low byte of the flags field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgement field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// Whether every bit of `mask` is set.
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// The TCP options the tracker uses (RFC 9293, RFC 7323, RFC 2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2), on SYNs.
    pub mss: Option<u16>,
    /// Window scale shift (kind 3) as sent; the tracker caps it at 14 (RFC 7323 §2.3).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4), on SYNs.
    pub sack_permitted: bool,
    /// The highest right edge among the SACK blocks (kind 5), if any.
    pub sack_right_edge: Option<SeqNumber>,
    /// An option of a kind the ASA normalizer clears by default (any but
    /// NOP, end of list, MSS, window scale, SACK permitted, SACK and
    /// timestamps, docs/asa-behaviour.md §6.1) is present: only then does
    /// the normalizer walk the options again.
    pub clearable: bool,
}

/// A parsed TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgement number (meaningful only with ACK).
    pub ack: SeqNumber,
    /// Flags byte.
    pub flags: TcpFlags,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// Options the tracker reads.
    pub options: TcpOptions,
    /// Bytes of payload after the TCP header.
    pub payload_len: u32,
    /// TCP header length in bytes, options included (20–60).
    pub header_len: u8,
}

/// A parsed ICMP or ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
    /// Echo request; the tuple's ports are `(id, 0)`.
    EchoRequest {
        /// Its sequence number.
        seq: u16,
        /// Its ICMP code (0 from any stack, RFC 792; an access-list entry
        /// may name another, docs/asa-behaviour.md §2.1).
        code: u8,
    },
    /// Echo reply; the tuple's ports are `(0, id)`.
    EchoReply {
        /// The sequence number of the request it answers.
        seq: u16,
        /// Its ICMP code.
        code: u8,
    },
    /// An error (destination unreachable, time exceeded, parameter problem,
    /// packet too big) quoting the head of a packet it is about.
    Error {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// The quoted packet's tuple, as the quoted packet travelled
        /// (so the error itself travels the other way).
        quoted: Tuple,
        /// Where the quoted transport header starts, in bytes from the
        /// start of the ICMP message: past the quoted IP header and any
        /// authentication or IPv6 extension headers the parser skipped.
        quoted_l4: u16,
        /// For a quoted TCP segment, its sequence number as quoted (in the
        /// sequence space of the side of the firewall the error comes from).
        quoted_seq: Option<SeqNumber>,
    },
    /// Neighbour solicitation or advertisement (ICMPv6 135, 136), IPv6's
    /// ARP: link-local plumbing a transparent firewall passes untracked.
    /// Router discovery and redirects are [`Icmp::Other`].
    NeighborDiscovery,
    /// Any other type (timestamp, redirect, MLD, …).
    Other {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
}

impl Icmp {
    /// The message's ICMP type and code as the access rules match them
    /// (docs/asa-behaviour.md §2.1), for a packet of family `v6`; `None`
    /// for neighbour discovery, which no rule judges (§2.5).
    pub fn type_code(&self, v6: bool) -> Option<(u8, u8)> {
        match *self {
            Icmp::EchoRequest { code, .. } => Some((if v6 { 128 } else { 8 }, code)),
            Icmp::EchoReply { code, .. } => Some((if v6 { 129 } else { 0 }, code)),
            Icmp::Error {
                icmp_type, code, ..
            }
            | Icmp::Other { icmp_type, code } => Some((icmp_type, code)),
            Icmp::NeighborDiscovery => None,
        }
    }
}

impl Transport {
    /// The ICMP type and code of an ICMP message of the packet's family
    /// ([`Icmp::type_code`]), else `None`.
    pub fn icmp_type_code(&self, v6: bool) -> Option<(u8, u8)> {
        match self {
            Transport::Icmp(i) => i.type_code(v6),
            _ => None,
        }
    }
}

/// The transport layer of a parsed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP segment.
    Tcp(TcpSegment),
    /// UDP datagram with its payload length.
    Udp {
        /// Bytes of payload after the UDP header.
        payload_len: u32,
    },
    /// ICMP or ICMPv6.
    Icmp(Icmp),
    /// Any other IP protocol (GRE, ESP, SCTP, …; ICMP of the other
    /// family): tracked by its addresses alone, with SCTP's ports, which
    /// the tuple carries (docs/asa-behaviour.md §2.1).
    Other,
}

/// A frame the engine can act on, with all lengths and checksums checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// An IP packet: its directed tuple and transport details.
    Ip {
        /// Sender, receiver and protocol (ports per [`Tuple`]'s rules).
        tuple: Tuple,
        /// Transport layer.
        transport: Transport,
        /// Length of the IP packet (header + payload) in bytes, for byte counters.
        ip_len: u32,
        /// Offset of the IP header in the frame.
        l3: u16,
        /// Offset of the transport header in the frame.
        l4: u16,
        /// IPv4 TTL or IPv6 hop limit.
        ttl: u8,
        /// The packet carries an authentication header (RFC 4302) before
        /// its transport: the access rules see it as protocol 51, as the
        /// ASA's do, while the connection is the transport's it carries.
        ah: bool,
        /// The offload the frame leaves with if it passes, built from this
        /// parse (docs/io.md §1).
        offload: Offload,
    },
    /// ARP: passed untracked in transparent mode, as the ASA does.
    Arp,
}

/// Insert an IEEE 802.1Q tag (priority `pcp`, VLAN id `vlan`) after an
/// Ethernet frame's MAC addresses: a frame the engine builds for a
/// connection goes out on that connection's VLAN (docs/asa-behaviour.md §2.6).
pub fn push_vlan_tag(frame: &mut Vec<u8>, pcp: u8, vlan: u16) {
    let tci = ((u16::from(pcp) << 13) | (vlan & 0xfff)).to_be_bytes();
    frame.splice(12..12, [0x81, 0x00, tci[0], tci[1]]);
}
