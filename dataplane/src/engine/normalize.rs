//! TCP normalizer rewrites and sequence randomization on frame bytes
//! (docs/asa-behaviour.md §6). Every change keeps the TCP (and IPv4 header) checksum
//! valid by incremental update, except where the checksum is partial and
//! will be computed later over the new bytes.

use crate::packet::rewrite::{
    adjust16, adjust32, get16, get32, rewrite16, rewrite32, rewrite32_at, set16, set32,
};
use crate::policy::mss::MssClamp;
use crate::policy::tcp_map::{Action, TcpNormalizer};

/// Where a TCP segment's headers sit in its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpView {
    /// Offset of the IP header.
    pub l3: usize,
    /// Offset of the TCP header.
    pub l4: usize,
    /// TCP header length in bytes (20–60).
    pub header_len: usize,
    /// IPv6 (no header checksum, hop limit at offset 7) or IPv4.
    pub v6: bool,
    /// Whether to update checksums (false when the transport checksum is partial).
    pub fix_checksum: bool,
    /// Payload bytes per segment on the wire for a GSO super-packet (the
    /// size the sender's stack cut it to), 0 for an ordinary segment.
    pub gso_size: u16,
}

impl TcpView {
    fn csum(&self) -> usize {
        self.l4 + 16
    }

    /// The options (other than NOP and end-of-list) as `(offset, kind,
    /// length)`, stopping at end-of-list or a malformed entry (the parser
    /// already refused malformed lists). On the stack: 40 option bytes hold
    /// at most 20 options.
    fn options(&self, frame: &[u8]) -> Options {
        options_in(frame, self.l4, self.header_len)
    }
}

/// The options of the TCP header at `l4`, `header_len` long, as far as
/// `frame` holds them: each one's offset, kind and length.
fn options_in(frame: &[u8], l4: usize, header_len: usize) -> Options {
    let mut out = Options {
        items: [(0, 0, 0); MAX_OPTIONS],
        len: 0,
    };
    let end = (l4 + header_len).min(frame.len());
    let mut at = l4 + 20;
    while at < end && out.len < MAX_OPTIONS {
        match frame[at] {
            0 => break,
            1 => at += 1,
            kind => {
                let Some(&len) = frame.get(at + 1) else { break };
                let len = usize::from(len);
                if len < 2 || at + len > end {
                    break;
                }
                out.items[out.len] = (at, kind, len);
                out.len += 1;
                at += len;
            }
        }
    }
    out
}

/// Most options a 60-byte TCP header can hold (40 bytes, 2 bytes each).
const MAX_OPTIONS: usize = 20;

/// A TCP header's options, found without allocating.
struct Options {
    items: [(usize, u8, usize); MAX_OPTIONS],
    len: usize,
}

impl Options {
    fn iter(&self) -> impl Iterator<Item = (usize, u8, usize)> + '_ {
        self.items[..self.len].iter().copied()
    }
}

/// Add `delta` to the sequence number (orig side of a randomized flow).
pub fn shift_seq(frame: &mut [u8], v: &TcpView, delta: u32) -> bool {
    let Some(seq) = get32(frame, v.l4 + 4) else {
        return false;
    };
    rewrite32(
        frame,
        v.l4 + 4,
        v.csum(),
        seq.wrapping_add(delta),
        v.fix_checksum,
    )
}

/// Subtract `delta` from the acknowledgement number and from both edges of
/// every SACK block (reply side of a randomized flow), so the initiator sees
/// its own sequence space. docs/asa-behaviour.md §6.2 resolves the ASA's
/// SACK conflict this way.
pub fn unshift_ack(frame: &mut [u8], v: &TcpView, delta: u32) -> bool {
    let Some(ack) = get32(frame, v.l4 + 8) else {
        return false;
    };
    if !rewrite32(
        frame,
        v.l4 + 8,
        v.csum(),
        ack.wrapping_sub(delta),
        v.fix_checksum,
    ) {
        return false;
    }
    if v.header_len <= 20 {
        return true;
    }
    for (at, kind, len) in v.options(frame).iter() {
        if kind != 5 {
            continue;
        }
        let mut edge = at + 2;
        while edge + 4 <= at + len {
            // An option may start at any offset (after a single NOP, the
            // edges sit at odd offsets).
            if let Some(x) = get32(frame, edge) {
                rewrite32_at(
                    frame,
                    v.l4,
                    edge,
                    v.csum(),
                    x.wrapping_sub(delta),
                    v.fix_checksum,
                );
            }
            edge += 4;
        }
    }
    true
}

/// An ICMP error about the responder's segment of a randomized flow, on
/// its way back to the responder, quotes that segment as it left the
/// firewall: its acknowledgement and SACK edges moved into the
/// initiator's own space ([`unshift_ack`]). Left so, the responder would
/// read the offset off them, and randomization would hide nothing
/// (docs/asa-behaviour.md §6.2). Add `delta` back to each that the quote
/// holds (`tcp_at`: the quoted TCP header), fixing the quoted TCP
/// checksum when quoted, then the error's checksum at `icmp_csum_at` over
/// every byte changed.
pub fn reshift_quoted_ack(frame: &mut [u8], tcp_at: usize, icmp_csum_at: usize, delta: u32) {
    let (Some(&offset_byte), Some(&flags)) = (frame.get(tcp_at + 12), frame.get(tcp_at + 13))
    else {
        return;
    };
    // The firewall moved the acknowledgement and SACK edges only of a
    // segment with ACK set (a bare RST or SYN carries no acknowledgement,
    // and an offset added to its zero would show the offset itself); and a
    // header shorter than 20 bytes is no header it passed.
    let header_len = usize::from(offset_byte >> 4) * 4;
    if flags & 0x10 == 0 || header_len < 20 {
        return;
    }
    // The header as far as the quote holds it (at most 60 bytes).
    let end = (tcp_at + header_len).min(frame.len());
    let mut before = [0u8; 60];
    let Some(header) = frame.get(tcp_at..end) else {
        return;
    };
    before[..header.len()].copy_from_slice(header);
    let inner = tcp_at + 16;
    let fix_inner = end >= inner + 2;
    let put = |frame: &mut [u8], at: usize, v: u32| {
        if fix_inner {
            rewrite32_at(frame, tcp_at, at, inner, v, true);
        } else {
            set32(frame, at, v);
        }
    };
    if let Some(ack) = get32(frame, tcp_at + 8) {
        put(frame, tcp_at + 8, ack.wrapping_add(delta));
    }
    for (at, kind, len) in options_in(frame, tcp_at, header_len).iter() {
        if kind != 5 {
            continue;
        }
        let mut edge = at + 2;
        while edge + 4 <= at + len {
            if let Some(x) = get32(frame, edge) {
                put(frame, edge, x.wrapping_add(delta));
            }
            edge += 4;
        }
    }
    // The quoted header starts an even number of bytes into the ICMP
    // message (8, then whole 32-bit words of IP and extension headers), so
    // its 16-bit words are the error checksum's words (RFC 1071 §1).
    let Some(mut sum) = get16(frame, icmp_csum_at) else {
        return;
    };
    let after = &frame[tcp_at..end];
    for (old, new) in before[..after.len()].chunks(2).zip(after.chunks(2)) {
        let word = |c: &[u8]| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]);
        sum = adjust16(sum, word(old), word(new));
    }
    set16(frame, icmp_csum_at, sum);
}

/// Give the initiator its own sequence number back in an error quoting
/// its segment (the quoted TCP header at `tcp_at`, shifted by `delta`),
/// with the quoted TCP checksum to match where the quote holds it, and
/// fix the error's checksum at `icmp_csum_at` for both: the quote is then
/// the header the initiator sent, and no field shows the offset.
pub fn unshift_quoted_seq(frame: &mut [u8], tcp_at: usize, icmp_csum_at: usize, delta: u32) {
    let (seq_at, inner) = (tcp_at + 4, tcp_at + 16);
    let Some(seq) = get32(frame, seq_at) else {
        return;
    };
    let new = seq.wrapping_sub(delta);
    let inner_before = get16(frame, inner);
    if inner_before.is_some() {
        rewrite32(frame, seq_at, inner, new, true);
    } else {
        set32(frame, seq_at, new);
    }
    // The quoted header's words are the error checksum's words (see
    // `reshift_quoted_ack`).
    let Some(mut sum) = get16(frame, icmp_csum_at) else {
        return;
    };
    sum = adjust32(sum, seq, new);
    if let (Some(old), Some(fresh)) = (inner_before, get16(frame, inner)) {
        sum = adjust16(sum, old, fresh);
    }
    set16(frame, icmp_csum_at, sum);
}

/// ASA normalizer default `urgent-flag clear`: clear URG and the urgent
/// pointer (urgent data is a classic IDS-evasion vector). Returns whether
/// anything changed.
pub fn clear_urgent(frame: &mut [u8], v: &TcpView) -> bool {
    let (Some(word), Some(ptr)) = (get16(frame, v.l4 + 12), get16(frame, v.l4 + 18)) else {
        return false;
    };
    if word & 0x0020 == 0 && ptr == 0 {
        return false;
    }
    rewrite16(frame, v.l4 + 12, v.csum(), word & !0x0020, v.fix_checksum);
    rewrite16(frame, v.l4 + 18, v.csum(), 0, v.fix_checksum);
    true
}

/// Whether an option kind is one the ASA normalizer keeps by default: MSS
/// (2), window scale (3), SACK permitted (4), SACK (5), timestamps (8).
/// docs/asa-behaviour.md §6.1: `tcp-options range 6 7` and `9 255` default
/// to clear.
fn kept_option(kind: u8) -> bool {
    matches!(kind, 2 | 3 | 4 | 5 | 8)
}

/// Overwrite options of other kinds with NOPs. Returns how many were cleared.
pub fn clear_unknown_options(frame: &mut [u8], v: &TcpView) -> u32 {
    // Most segments carry no options: skip the scan (it sits on the
    // per-packet path).
    if v.header_len <= 20 {
        return 0;
    }
    let mut cleared = 0;
    for (at, kind, len) in v.options(frame).iter() {
        if kept_option(kind) {
            continue;
        }
        nop_option(frame, v, at, len);
        cleared += 1;
    }
    cleared
}

/// Overwrite the option at `at`, `len` bytes, with NOPs.
fn nop_option(frame: &mut [u8], v: &TcpView, at: usize, len: usize) {
    // Rewrite 16-bit-aligned words relative to the TCP header so the
    // incremental checksum update sees whole words.
    for byte in at..at + len {
        let word_at = v.l4 + ((byte - v.l4) & !1);
        let Some(old) = get16(frame, word_at) else {
            continue;
        };
        let mut bytes = old.to_be_bytes();
        bytes[byte - word_at] = 1; // NOP
        rewrite16(
            frame,
            word_at,
            v.csum(),
            u16::from_be_bytes(bytes),
            v.fix_checksum,
        );
    }
}

/// A class's `tcp-options` (docs/asa-behaviour.md §6.1): whether the
/// segment carries an option whose kind the map drops.
pub fn has_dropped_option(frame: &[u8], v: &TcpView, map: &TcpNormalizer) -> bool {
    v.header_len > 20
        && v.options(frame)
            .iter()
            .any(|(_, kind, _)| map.option(kind) == Action::Drop)
}

/// A class's `tcp-options`: overwrite with NOPs every option whose kind
/// the map clears. Returns how many were cleared.
pub fn clear_options(frame: &mut [u8], v: &TcpView, map: &TcpNormalizer) -> u32 {
    if v.header_len <= 20 {
        return 0;
    }
    let mut cleared = 0;
    for (at, kind, len) in v.options(frame).iter() {
        if map.option(kind) == Action::Clear {
            nop_option(frame, v, at, len);
            cleared += 1;
        }
    }
    cleared
}

/// `reserved-bits clear`: zero the four reserved bits of the TCP header
/// (RFC 9293 §3.1, byte 12's low nibble). Returns whether any was set.
pub fn clear_reserved_bits(frame: &mut [u8], v: &TcpView) -> bool {
    let Some(word) = get16(frame, v.l4 + 12) else {
        return false;
    };
    if word & 0x0f00 == 0 {
        return false;
    }
    rewrite16(frame, v.l4 + 12, v.csum(), word & !0x0f00, v.fix_checksum)
}

/// `sysopt connection tcpmss` (docs/asa-behaviour.md §6.3): bring the
/// value of the segment's MSS option (kind 2, length 4, RFC 9293 §3.2)
/// within `clamp`, in place. A segment with two MSS options has each
/// brought within it, whichever one its receiver reads. An option may
/// start at an odd offset from the TCP header (after a single NOP): the
/// whole option is rewritten as one 32-bit field, so the checksum is
/// adjusted by whole words whatever its alignment. A segment without the
/// option is left alone: the ASA "does not modify the packet" then (Cisco
/// ASA Series General Operations CLI Configuration Guide, "About the TCP
/// MSS"). Returns whether anything changed.
pub fn clamp_mss(frame: &mut [u8], v: &TcpView, clamp: MssClamp) -> bool {
    if v.header_len <= 20 {
        return false;
    }
    let mut changed = false;
    for (at, kind, len) in v.options(frame).iter() {
        let Some(old) = get16(frame, at + 2).filter(|_| kind == 2 && len == 4) else {
            continue;
        };
        let new = clamp.apply(old);
        if new != old {
            let [hi, lo] = new.to_be_bytes();
            let option = u32::from_be_bytes([2, 4, hi, lo]);
            changed |= rewrite32_at(frame, v.l4, at, v.csum(), option, v.fix_checksum);
        }
    }
    changed
}

/// The IP TTL (IPv4) or hop limit (IPv6).
pub fn ttl(frame: &[u8], v: &TcpView) -> Option<u8> {
    frame.get(v.l3 + if v.v6 { 7 } else { 8 }).copied()
}

/// ASA `ttl-evasion-protection` (default on): a connection's TTL may fall
/// but not rise, so a packet crafted to expire between the firewall and
/// the host cannot be followed by one that reaches it with different
/// content. Lower this packet's TTL to `min` if it is higher.
pub fn clamp_ttl(frame: &mut [u8], v: &TcpView, min: u8) -> bool {
    let Some(t) = ttl(frame, v) else { return false };
    if t <= min {
        return false;
    }
    if v.v6 {
        frame[v.l3 + 7] = min;
        // IPv6 has no header checksum, and the hop limit is not in the
        // TCP pseudo-header.
        true
    } else {
        // TTL shares a 16-bit word with the protocol field.
        let Some(word) = get16(frame, v.l3 + 8) else {
            return false;
        };
        rewrite16(
            frame,
            v.l3 + 8,
            v.l3 + 10,
            (word & 0x00ff) | (u16::from(min) << 8),
            true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{ChecksumState, PacketMeta, Parsed, Transport, parse};
    use crate::trace::{Side, TcpModel, v4_pair};

    fn view(frame: &[u8]) -> TcpView {
        let header_len = usize::from(frame[14 + 20 + 12] >> 4) * 4;
        TcpView {
            l3: 14,
            l4: 34,
            header_len,
            v6: false,
            fix_checksum: true,
            gso_size: 0,
        }
    }

    fn reparse(frame: &[u8]) -> crate::packet::TcpSegment {
        match parse(
            frame,
            PacketMeta {
                checksum: ChecksumState::Unverified,
                ..PacketMeta::default()
            },
        ) {
            Ok(Parsed::Ip {
                transport: Transport::Tcp(t),
                ..
            }) => t,
            other => panic!("frame no longer parses: {other:?}"),
        }
    }

    #[test]
    fn seq_and_ack_shifts_keep_checksums_valid() {
        let (c, s) = v4_pair(1, 2);
        let mut m = TcpModel::new(c, s, [100, 200], [1000, 1000], [None, None]);
        m.handshake();
        let d = m.data(Side::Client, 10);
        let mut f = m.frame(&d);
        let v = view(&f);
        assert!(shift_seq(&mut f, &v, 0xffff_fff0));
        assert_eq!(reparse(&f).seq.0, d.seq.wrapping_add(0xffff_fff0));
        let mut ack = m.ack(Side::Server);
        ack.sack = vec![(50, 60), (70, 80)];
        let mut f = m.frame(&ack);
        let v = view(&f);
        assert!(unshift_ack(&mut f, &v, 5));
        let t = reparse(&f);
        assert_eq!(t.ack.0, ack.ack.wrapping_sub(5));
        assert_eq!(t.options.sack_right_edge.map(|e| e.0), Some(75));
    }

    /// A SACK option after a single NOP puts its edges at odd offsets in
    /// the TCP header: unshifting them keeps the checksum right (it was
    /// wrong there, and the initiator dropped the segment).
    #[test]
    fn sack_edges_at_odd_offsets_keep_the_checksum_valid() {
        let (c, s) = v4_pair(1, 2);
        let mut m = TcpModel::new(c, s, [100, 200], [1000, 1000], [None, None]);
        m.handshake();
        let mut ack = m.ack(Side::Server);
        ack.sack = vec![(50, 60)];
        let mut f = m.frame(&ack);
        let v = view(&f);
        // The builder writes the block first, then two bytes of padding:
        // write a NOP in front of it instead, word by word with the
        // checksum fixed.
        let opts = v.l4 + 20;
        assert_eq!(v.header_len, 32);
        assert_eq!(
            (f[opts], f[opts + 1], f[opts + 10], f[opts + 11]),
            (5, 10, 0, 0)
        );
        let mut moved = [0u8; 12];
        moved[0] = 1;
        moved[1..11].copy_from_slice(&f[opts..opts + 10]);
        for w in 0..6 {
            let at = opts + 2 * w;
            let word = u16::from_be_bytes([moved[2 * w], moved[2 * w + 1]]);
            rewrite16(&mut f, at, v.csum(), word, true);
        }
        let before = reparse(&f);
        assert_eq!(before.options.sack_right_edge.map(|e| e.0), Some(60));
        assert!(unshift_ack(&mut f, &v, 5));
        let t = reparse(&f);
        assert_eq!(t.ack.0, ack.ack.wrapping_sub(5));
        assert_eq!(t.options.sack_right_edge.map(|e| e.0), Some(55));
    }

    #[test]
    fn ttl_clamp_fixes_the_ip_checksum() {
        let (c, s) = v4_pair(1, 2);
        let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
        let syn = m.syn();
        let mut f = m.frame(&syn);
        let v = view(&f);
        assert_eq!(ttl(&f, &v), Some(64));
        assert!(clamp_ttl(&mut f, &v, 5));
        assert_eq!(ttl(&f, &v), Some(5));
        reparse(&f);
        assert!(!clamp_ttl(&mut f, &v, 9));
    }
}
