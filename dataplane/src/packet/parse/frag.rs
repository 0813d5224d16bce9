//! IP fragments (RFC 791 §3.2, RFC 8200 §4.5): what identifies the
//! datagram a fragment belongs to, where its data lies, and the datagram
//! its fragments make once they are all in (the engine's virtual
//! reassembly, docs/asa-behaviour.md §2.8).

use std::ops::Range;

use etherparse::{EtherType, Ipv4HeaderSlice, ip_number};

use super::ipv6::IPV6_HEADER_LEN;
use super::link::link;
use crate::flow::Addr;
use crate::verdict::DropReason;

/// The most bytes a datagram's fragmentable part may make: an IPv4 total
/// length, an IPv6 payload length, is 16 bits (RFC 791 §3.1, RFC 8200 §3).
const MAX_DATAGRAM: u32 = 65_535;

/// Most IPv6 extension headers walked before the fragment header: RFC
/// 8200 §4.1 names at most one of each of the few that may precede it.
const MAX_V6_EXTENSIONS: usize = 8;

/// One fragment, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// The protocol the datagram carries (IPv6: the fragment header's
    /// next header).
    pub proto: u8,
    /// The datagram's identification (IPv4's is 16 bits).
    pub id: u32,
    /// The VLAN id of its tag, 0 when untagged.
    pub vlan: u16,
    /// Where its data goes in the datagram's fragmentable part, in bytes.
    pub offset: u32,
    /// More fragments follow (M).
    pub more: bool,
    /// Its data, as offsets into the frame.
    pub data: Range<usize>,
    /// Where the fragmentable part of the datagram starts in a frame
    /// rebuilt from this fragment, when it is the first one (IPv4: after
    /// the header; IPv6: where the fragment header was).
    pub head_len: usize,
    /// The offset of the network header in the frame.
    pub l3: usize,
    /// IPv6: the offset of the next-header field that names the fragment
    /// header (in the fixed header or the extension before it).
    pub next_header_at: usize,
}

impl FragmentInfo {
    /// The data's length.
    pub fn len(&self) -> u32 {
        (self.data.end - self.data.start) as u32
    }

    /// Whether it carries no data.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The end of its data in the fragmentable part.
    pub fn end(&self) -> u32 {
        self.offset + self.len()
    }
}

/// Read a frame that [`parse`](super::parse) found to be a fragment (its
/// IPv4 header, options and checksum already checked there).
///
/// Refused as `frag-malformed`: a fragment with no data, a fragment other
/// than the last whose data is not a multiple of 8 bytes (RFC 791 §3.2,
/// RFC 8200 §4.5), and one that would end past the longest datagram.
pub fn fragment_info(frame: &[u8]) -> Result<FragmentInfo, DropReason> {
    let link = link(frame)?;
    let l3 = usize::from(link.l3);
    let vlan = link.vlan.unwrap_or(0);
    let info = match link.ether_type {
        EtherType::IPV4 => v4(link.payload, l3, vlan)?,
        EtherType::IPV6 => v6(link.payload, l3, vlan)?,
        _ => return Err(DropReason::UnsupportedEthertype),
    };
    if info.is_empty() || (info.more && !info.len().is_multiple_of(8)) || info.end() > MAX_DATAGRAM
    {
        return Err(DropReason::FragmentMalformed);
    }
    Ok(info)
}

fn v4(ip: &[u8], l3: usize, vlan: u16) -> Result<FragmentInfo, DropReason> {
    let malformed = DropReason::Ipv4Malformed;
    let header = Ipv4HeaderSlice::from_slice(ip).map_err(|_| malformed)?;
    let header_len = header.slice().len();
    let total = usize::from(header.total_len());
    if total < header_len || total > ip.len() {
        return Err(malformed);
    }
    let offset = u32::from(header.fragments_offset().value()) * 8;
    Ok(FragmentInfo {
        v6: false,
        src: Addr::v4(header.source()),
        dst: Addr::v4(header.destination()),
        proto: header.protocol().0,
        id: u32::from(header.identification()),
        vlan,
        offset,
        more: header.more_fragments(),
        data: l3 + header_len..l3 + total,
        head_len: l3 + header_len,
        l3,
        next_header_at: 0,
    })
}

fn v6(ip: &[u8], l3: usize, vlan: u16) -> Result<FragmentInfo, DropReason> {
    let malformed = DropReason::Ipv6ExtensionMalformed;
    let fixed = ip.get(..IPV6_HEADER_LEN).ok_or(DropReason::Ipv6Malformed)?;
    let payload_len = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
    let end = IPV6_HEADER_LEN + payload_len;
    if end > ip.len() {
        return Err(DropReason::Ipv6Malformed);
    }
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&fixed[at..at + 16]);
        Addr(a)
    };
    // Walk the headers that may precede the fragment header (RFC 8200
    // §4.1: hop-by-hop, destination options, routing; an authentication
    // header, RFC 4302, may too).
    let mut next = fixed[6];
    let mut next_at = 6;
    let mut at = IPV6_HEADER_LEN;
    for _ in 0..MAX_V6_EXTENSIONS {
        let ext = ip.get(at..end).ok_or(malformed)?;
        match next {
            n if n == ip_number::IPV6_FRAG.0 => {
                let f = ext.get(..8).ok_or(malformed)?;
                let word = u16::from_be_bytes([f[2], f[3]]);
                return Ok(FragmentInfo {
                    v6: true,
                    src: addr(8),
                    dst: addr(24),
                    proto: f[0],
                    id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
                    vlan,
                    offset: u32::from(word & !7),
                    more: word & 1 == 1,
                    data: l3 + at + 8..l3 + end,
                    head_len: l3 + at,
                    l3,
                    next_header_at: l3 + next_at,
                });
            }
            n if n == ip_number::IPV6_HOP_BY_HOP.0
                || n == ip_number::IPV6_DEST_OPTIONS.0
                || n == ip_number::IPV6_ROUTE.0 =>
            {
                let [nh, len, ..] = *ext else {
                    return Err(malformed);
                };
                next = nh;
                next_at = at;
                at += (usize::from(len) + 1) * 8;
            }
            n if n == ip_number::AUTH.0 => {
                let [nh, len, ..] = *ext else {
                    return Err(malformed);
                };
                next = nh;
                next_at = at;
                at += (usize::from(len) + 2) * 4;
            }
            _ => return Err(malformed),
        }
    }
    Err(malformed)
}

/// The datagram the fragments of `first`'s datagram make: `first`'s
/// headers up to its fragmentable part, then `data` (the whole
/// fragmentable part, in order), its lengths set and its fragmentation
/// undone (IPv4: offset and M cleared, header checksum computed again;
/// IPv6: the fragment header taken out). `first_frame` is the frame of
/// the fragment at offset 0.
pub fn assemble(first_frame: &[u8], first: &FragmentInfo, data: &[u8]) -> Vec<u8> {
    let keep = if first.v6 {
        first.head_len
    } else {
        first.data.start
    };
    let mut frame = Vec::with_capacity(keep + data.len());
    frame.extend_from_slice(&first_frame[..keep]);
    frame.extend_from_slice(data);
    let l3 = first.l3;
    if first.v6 {
        frame[first.next_header_at] = first.proto;
        // The payload: the extension headers kept, then the data (at most
        // 65,535 bytes by [`fragment_info`]'s bound, plus headers that
        // fit in one frame: a longer one is cut at 16 bits and fails the
        // parse of the rebuilt frame as malformed).
        let payload = (frame.len() - l3 - IPV6_HEADER_LEN) as u16;
        frame[l3 + 4..l3 + 6].copy_from_slice(&payload.to_be_bytes());
    } else {
        let total = u16::try_from(frame.len() - l3).unwrap_or(u16::MAX);
        frame[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
        // Keep DF (and the reserved bit, which the parse judges); clear M
        // and the offset.
        frame[l3 + 6] &= 0xc0;
        frame[l3 + 7] = 0;
        set_ipv4_checksum(&mut frame[l3..keep]);
    }
    frame
}

/// Compute an IPv4 header's checksum into it (RFC 791 §3.1).
pub fn set_ipv4_checksum(header: &mut [u8]) {
    header[10] = 0;
    header[11] = 0;
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(header)
        .ones_complement();
    // Sum16BitWords adds words in native byte order: its result's native
    // bytes are the field's bytes.
    header[10..12].copy_from_slice(&sum.to_ne_bytes());
}
