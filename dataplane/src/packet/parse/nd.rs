//! IPv6 neighbour solicitation and advertisement (RFC 4861 §4.3, §4.4):
//! the ND the bridge passes untracked, under any policy, as it passes ARP
//! (docs/asa-behaviour.md §2.5). A message passes only if a host on the
//! other side would accept it (the validity checks of RFC 4861 §7.1.1 and
//! §7.1.2) and only up to [`ND_MAX_PAYLOAD_LEN`]: without the checks, a
//! "solicitation" with a payload of anyone's choosing, sent from anywhere,
//! was a data channel through a deny-all policy.
//!
//! Router solicitation and advertisement and redirect (§4.1, §4.2, §4.5)
//! are not here: the access rules judge them as any other ICMPv6.

use etherparse::icmpv6;

use super::{Network, checksum_ok};
use crate::verdict::DropReason;

/// The fixed part of a solicitation or advertisement: the 8-byte ICMPv6
/// header (type, code, checksum, flags or reserved word) and the 16-byte
/// target address (RFC 4861 §4.3, §4.4). "ICMP length (derived from the IP
/// length) is 24 or more octets" (§7.1.1, §7.1.2).
const ND_FIXED_LEN: usize = 24;

/// Options are counted in units of 8 octets (RFC 4861 §4.6).
const ND_OPTION_UNIT: usize = 8;

/// The most IPv6 payload (extension headers included) a solicitation or
/// advertisement may carry: the 24 fixed bytes and eight 8-octet option
/// units.
///
/// RFC 4861 gives each message one option of its own, the source
/// (solicitation) or target (advertisement) link-layer address, one unit
/// on Ethernet (RFC 2464 §6). Later RFCs add the nonce of enhanced
/// duplicate address detection (RFC 7527 §4.1, the option of RFC 3971
/// §5.3.2: one unit for the 6-byte nonce stacks send) and 6LoWPAN's
/// address registration (RFC 8505 §4.1: two units). Linux, Windows and
/// the BSDs send 32 to 40 bytes; eight units hold every option above
/// twice over. Anything longer is not a neighbour asking for an address
/// but bytes riding on a message every policy passes. Secure neighbour
/// discovery (SEND, RFC 3971) is the casualty: its CGA and RSA signature
/// options take hundreds of bytes, and such messages are dropped.
pub(super) const ND_MAX_PAYLOAD_LEN: usize = ND_FIXED_LEN + 8 * ND_OPTION_UNIT;

/// The option kind of a source link-layer address (RFC 4861 §4.6.1).
const OPTION_SOURCE_LINK_LAYER: u8 = 1;

/// The solicited flag of an advertisement (RFC 4861 §4.4), in the byte
/// after the checksum.
const NA_SOLICITED: u8 = 0x40;

/// The solicited-node multicast prefix `ff02::1:ff00:0/104` (RFC 4291
/// §2.7.1): the first 13 bytes of such an address.
const SOLICITED_NODE_PREFIX: [u8; 13] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff];

/// Whether an address is multicast (`ff00::/8`, RFC 4291 §2.7).
fn multicast(addr: &[u8; 16]) -> bool {
    addr[0] == 0xff
}

/// Check a neighbour solicitation or advertisement as RFC 4861 §7.1.1 and
/// §7.1.2 have a host check it before it acts on one, and bound its size
/// ([`ND_MAX_PAYLOAD_LEN`]). `verify`: the ICMPv6 checksum is to be checked
/// (the frame's checksums are not known good). Anything else is
/// [`DropReason::NdInvalid`].
pub(super) fn nd_valid(net: &Network<'_>, verify: bool) -> Result<(), DropReason> {
    let bad = Err(DropReason::NdInvalid);
    let message = net.segment;
    // The IPv6 payload: what the extension headers and the message take.
    let payload_len = (net.ip_len as usize).saturating_sub(super::ipv6::IPV6_HEADER_LEN);
    let (Some((fixed, options)), true) = (
        message.split_at_checked(ND_FIXED_LEN),
        payload_len <= ND_MAX_PAYLOAD_LEN,
    ) else {
        return bad;
    };
    let [icmp_type, code, _, _, flags, ..] = *fixed else {
        return bad;
    };
    let target: &[u8; 16] = fixed[8..].try_into().map_err(|_| DropReason::NdInvalid)?;
    // "The IP Hop Limit field has a value of 255, i.e., the packet could
    // not possibly have been forwarded by a router"; "ICMP Code is 0";
    // "Target Address is not a multicast address"; "ICMP Checksum is
    // valid" (§7.1.1, §7.1.2).
    if net.ttl != 255
        || code != 0
        || multicast(target)
        || (verify && !checksum_ok(&net.pseudo, net.protocol, message))
    {
        return bad;
    }
    let source_link_layer = walk_options(options).ok_or(DropReason::NdInvalid)?;
    let (src, dst) = (&net.src.0, &net.dst.0);
    let ok = match icmp_type {
        // "If the IP source address is the unspecified address, the IP
        // destination address is a solicited-node multicast address" and
        // "there is no source link-layer address option" (§7.1.1).
        icmpv6::TYPE_NEIGHBOR_SOLICITATION => {
            *src != [0; 16] || (dst.starts_with(&SOLICITED_NODE_PREFIX) && !source_link_layer)
        }
        // "If the IP Destination Address is a multicast address the
        // Solicited flag is zero" (§7.1.2).
        _ => !multicast(dst) || flags & NA_SOLICITED == 0,
    };
    if ok { Ok(()) } else { bad }
}

/// Walk the options after the fixed part: every one has a non-zero length
/// ("All included options have a length that is greater than zero",
/// §7.1.1, §7.1.2), and they fill the message exactly, as the 8-octet
/// units of §4.6 do in any message a host sends (a host parses them to
/// the end, and one cut short there is no option). `None` if they do not;
/// otherwise whether a source link-layer address option is among them.
fn walk_options(mut options: &[u8]) -> Option<bool> {
    let mut source_link_layer = false;
    while let [kind, units, ..] = *options {
        let len = usize::from(units) * ND_OPTION_UNIT;
        if len == 0 {
            return None;
        }
        source_link_layer |= kind == OPTION_SOURCE_LINK_LAYER;
        options = options.get(len..)?;
    }
    // One byte left over is an option cut short.
    options.is_empty().then_some(source_link_layer)
}

#[cfg(test)]
mod tests {
    use etherparse::{IpHeaders, IpNumber, Ipv6Extensions, Ipv6Header};

    use super::ND_MAX_PAYLOAD_LEN;
    use crate::packet::Icmp;
    use crate::packet::parse::parse;
    use crate::packet::parse::test_frames::*;
    use crate::verdict::DropReason;

    /// A neighbour solicitation or advertisement (`icmp_type` 135 or 136)
    /// from `src` to `dst`, hop limit `hops`, with `flags` in the byte
    /// after the checksum, the `target`, and `options` after it.
    fn nd(
        icmp_type: u8,
        (src, dst, hops): ([u8; 16], [u8; 16], u8),
        flags: u8,
        target: [u8; 16],
        options: &[u8],
    ) -> Vec<u8> {
        let mut f = Vec::new();
        eth()
            .ipv6(src, dst, hops)
            .icmpv6_raw(icmp_type, 0, [flags, 0, 0, 0])
            .write(&mut f, &[&target[..], options].concat())
            .unwrap();
        f
    }

    /// Link-local addresses on the link, as hosts solicit each other.
    fn on_link() -> ([u8; 16], [u8; 16], u8) {
        (v6("fe80::a"), v6("fe80::b"), 255)
    }

    /// A source link-layer address option (kind 1, one unit).
    const SLLA: [u8; 8] = [1, 1, 2, 0, 0, 0, 0, 0x0a];
    /// A target link-layer address option (kind 2, one unit).
    const TLLA: [u8; 8] = [2, 1, 2, 0, 0, 0, 0, 0x0b];
    /// A nonce option (kind 14, one unit; RFC 7527).
    const NONCE: [u8; 8] = [14, 1, 1, 2, 3, 4, 5, 6];

    fn passes(frame: &[u8]) -> bool {
        match parse(frame, UNVERIFIED) {
            Ok(_) => {
                assert_eq!(icmp_of(frame).1, Icmp::NeighborDiscovery);
                true
            }
            Err(reason) => {
                assert_eq!(reason, DropReason::NdInvalid);
                false
            }
        }
    }

    // === What hosts send ===

    #[test]
    fn what_stacks_send_passes() {
        let target = v6("fe80::b");
        let cases = [
            // Address resolution: multicast solicitation, unicast answer.
            nd(
                135,
                (v6("fe80::a"), v6("ff02::1:ff00:b"), 255),
                0,
                target,
                &SLLA,
            ),
            nd(136, on_link(), 0x60, target, &TLLA),
            // Unreachability detection: unicast, no option needed.
            nd(135, on_link(), 0, target, &[]),
            // Duplicate address detection, with enhanced DAD's nonce.
            nd(135, ([0; 16], v6("ff02::1:ff00:b"), 255), 0, target, &NONCE),
            // An unsolicited advertisement to all nodes (override only),
            // with an unknown option a host ignores (§4.6).
            nd(
                136,
                (v6("fe80::a"), v6("ff02::1"), 255),
                0x20,
                target,
                &[&TLLA[..], &[200, 1, 0, 0, 0, 0, 0, 0]].concat(),
            ),
        ];
        for (i, f) in cases.iter().enumerate() {
            assert!(passes(f), "case {i}");
        }
    }

    /// The bound: the fixed part and eight option units pass, one more
    /// unit does not, nor does a hop-by-hop header that takes the room.
    #[test]
    fn the_size_is_bounded() {
        let target = v6("fe80::b");
        let options = |units: usize| {
            (0..units)
                .flat_map(|_| [200, 1, 0, 0, 0, 0, 0, 0])
                .collect::<Vec<u8>>()
        };
        let most = nd(136, on_link(), 0, target, &options(8));
        assert_eq!(most.len() - L3 - 40, ND_MAX_PAYLOAD_LEN);
        assert!(passes(&most));
        assert!(!passes(&nd(136, on_link(), 0, target, &options(9))));
        // The 1,000-byte solicitation, options well formed.
        assert!(!passes(&nd(135, on_link(), 0, target, &options(125))));
        // Eight units of options behind an 8-byte hop-by-hop header.
        let header = Ipv6Header {
            hop_limit: 255,
            source: v6("fe80::a"),
            destination: v6("fe80::b"),
            ..Default::default()
        };
        let exts = Ipv6Extensions {
            hop_by_hop_options: Some(padn(IpNumber::IPV6_ICMP)),
            ..Default::default()
        };
        let mut behind = Vec::new();
        eth()
            .ip(IpHeaders::Ipv6(header, exts))
            .icmpv6_raw(136, 0, [0; 4])
            .write(&mut behind, &[&target[..], &options(8)].concat())
            .unwrap();
        assert!(!passes(&behind));
    }

    // === RFC 4861 §7.1.1 and §7.1.2, clause by clause ===

    #[test]
    fn what_a_host_discards_is_dropped() {
        let target = v6("fe80::b");
        let routed = (v6("2001:db8::a"), v6("2001:db8::b"), 64);
        let cases = [
            ("routed from afar", nd(135, routed, 0, target, &SLLA)),
            (
                "hop limit 254",
                nd(136, (v6("fe80::a"), v6("fe80::b"), 254), 0, target, &[]),
            ),
            (
                "multicast target",
                nd(135, on_link(), 0, v6("ff02::1"), &[]),
            ),
            (
                "zero-length option",
                nd(135, on_link(), 0, target, &[1, 0, 0, 0, 0, 0, 0, 0]),
            ),
            (
                "option past the end",
                nd(135, on_link(), 0, target, &[1, 2, 0, 0, 0, 0, 0, 0]),
            ),
            (
                "bytes after the options",
                nd(135, on_link(), 0, target, &[&SLLA[..], &[0]].concat()),
            ),
            (
                "a payload, not options",
                nd(135, on_link(), 0, target, &[0x55; 1000]),
            ),
            (
                "solicited advertisement to a group",
                nd(
                    136,
                    (v6("fe80::a"), v6("ff02::1"), 255),
                    0x40,
                    target,
                    &TLLA,
                ),
            ),
            (
                "DAD not to a solicited-node group",
                nd(135, ([0; 16], v6("ff02::1"), 255), 0, target, &[]),
            ),
            (
                "DAD with a source link-layer address",
                nd(135, ([0; 16], v6("ff02::1:ff00:b"), 255), 0, target, &SLLA),
            ),
        ];
        for (name, frame) in cases {
            assert!(!passes(&frame), "{name}");
        }
        // Shorter than 24: a target address cut short.
        let mut short = Vec::new();
        eth()
            .ipv6(v6("fe80::a"), v6("fe80::b"), 255)
            .icmpv6_raw(135, 0, [0; 4])
            .write(&mut short, &target[..15])
            .unwrap();
        assert!(!passes(&short));
        // A code other than 0 (its checksum left as it was: as received
        // with checksums verified), and a checksum that does not verify
        // (unless the receive path verified it).
        let mut coded = nd(135, on_link(), 0, target, &SLLA);
        coded[L3 + 41] = 1;
        assert_eq!(parse(&coded, VERIFIED), Err(DropReason::NdInvalid));
        let mut corrupt = nd(135, on_link(), 0, target, &SLLA);
        corrupt[L3 + 40 + 30] ^= 1;
        assert_eq!(parse(&corrupt, UNVERIFIED), Err(DropReason::NdInvalid));
        assert!(parse(&corrupt, VERIFIED).is_ok());
    }
}
