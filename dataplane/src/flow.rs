//! Flow identity: a packet's directed 5-tuple, and the direction-normalised key
//! under which both directions of one connection find the same entry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 address stored in 16 bytes (IPv4 as `::ffff:a.b.c.d`), so a
/// key has one fixed layout for both families.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    /// The address of an IPv4 host.
    pub fn v4(octets: [u8; 4]) -> Self {
        Addr(Ipv4Addr::from(octets).to_ipv6_mapped().octets())
    }
    /// The address of an IPv6 host.
    pub fn v6(octets: [u8; 16]) -> Self {
        Addr(octets)
    }
    /// Back to a std address (IPv4-mapped addresses become IPv4).
    pub fn ip(self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    /// Whether this is an IPv6 address, i.e. not IPv4-mapped: the same
    /// answer as `self.ip().is_ipv6()`, without building the `IpAddr`.
    #[inline]
    pub fn is_v6(self) -> bool {
        self.0[..12] != [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Addr::v4(v4.octets()),
            IpAddr::V6(v6) => Addr::v6(v6.octets()),
        }
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ip())
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ip())
    }
}

/// IP protocol numbers the engine tracks.
pub mod proto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// Generic routing encapsulation (RFC 2784).
    pub const GRE: u8 = 47;
    /// IPsec encapsulating security payload (RFC 4303).
    pub const ESP: u8 = 50;
    /// IPsec authentication header (RFC 4302).
    pub const AH: u8 = 51;
    /// SCTP (RFC 9260).
    pub const SCTP: u8 = 132;

    /// Whether packets of `proto` carry ports the access rules can name:
    /// the ASA's policy language takes ports for tcp, udp and sctp alone
    /// (`permit sctp any any eq 2905`). Every other protocol's tuple has
    /// ports 0, except ICMP echo's identifier, which no rule can name.
    pub const fn has_ports(proto: u8) -> bool {
        matches!(proto, TCP | UDP | SCTP)
    }

    /// Whether `proto` is the ICMP of the packet's family (ICMP in IPv4,
    /// ICMPv6 in IPv6). The other one in a packet (ICMP in IPv6, say) is as
    /// foreign to it as any protocol the engine tracks by addresses alone.
    pub const fn is_icmp_of(proto: u8, v6: bool) -> bool {
        matches!((proto, v6), (ICMP, false) | (ICMPV6, true))
    }
}

/// One side of a flow: address and port. For ICMP echo the "port" of the
/// requester is the echo identifier and the responder's is 0 (see [`Tuple`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Host address.
    pub addr: Addr,
    /// TCP, UDP or SCTP port, or the ICMP echo identifier on the
    /// requester's side; 0 for any other protocol.
    pub port: u16,
}

/// A host as per-host budgets count it: an address within its VLAN. On a
/// trunk each VLAN is an address space of its own (the same address may be
/// two hosts), so per-client connection limits and the hold buffer's
/// per-source share count each VLAN's host apart (docs/asa-behaviour.md
/// §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Host {
    /// Its address.
    pub addr: Addr,
    /// The VLAN it was seen on (0: untagged).
    pub vlan: u16,
}

/// A packet's directed tuple: who sent it to whom over which protocol, on
/// which VLAN.
///
/// ICMP echo requests carry `(src.port, dst.port) = (id, 0)` and replies
/// `(0, id)`, so a request and its reply normalise to the same [`FlowKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// IP protocol number.
    pub proto: u8,
    /// 802.1Q VLAN id of the frame's outer tag; 0 when untagged (or
    /// priority-tagged, which IEEE 802.1Q treats as untagged).
    pub vlan: u16,
}

impl Tuple {
    /// The tuple of a packet travelling the other way.
    #[inline]
    pub fn reversed(self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            vlan: self.vlan,
        }
    }

    /// The sending host.
    #[inline]
    pub fn src_host(&self) -> Host {
        Host {
            addr: self.src.addr,
            vlan: self.vlan,
        }
    }
}

/// Which way a packet travels relative to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the side that opened the connection.
    Orig,
    /// From the side that answered.
    Reply,
}

impl Direction {
    /// 0 for orig, 1 for reply: an index into per-direction arrays.
    pub const fn index(self) -> usize {
        match self {
            Direction::Orig => 0,
            Direction::Reply => 1,
        }
    }
    /// The other direction.
    pub const fn other(self) -> Direction {
        match self {
            Direction::Orig => Direction::Reply,
            Direction::Reply => Direction::Orig,
        }
    }
}

/// Direction-normalised flow key: the lower endpoint first, so both
/// directions of a connection map to one key.
///
/// The VLAN is part of the key, as a conntrack zone is in Linux: a bridge
/// on a trunk carries address spaces that may overlap, and a connection of
/// one VLAN must never pass a packet of another (docs/asa-behaviour.md §2).
///
/// Packed (39 bytes, alignment 1) so the key with its VLAN takes no more
/// room in a conntrack entry than the key without it did: the two bytes
/// come out of the padding (`entry.rs` asserts the layout). A field of a
/// packed struct is read by copy; the compiler refuses a reference to one
/// whose type needs alignment, so none can be taken by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed)]
pub struct FlowKey {
    /// The lower of the two endpoints (by address, then port).
    pub lo: Endpoint,
    /// The higher endpoint.
    pub hi: Endpoint,
    /// IP protocol number.
    pub proto: u8,
    /// 802.1Q VLAN id (0: untagged), as [`Tuple::vlan`].
    pub vlan: u16,
}

/// Hashed as three words (both addresses, then ports, protocol and VLAN),
/// not field by field: every packet hashes its key, and the derived form
/// fed the hasher nine pieces, two of them slice lengths.
impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (lo, hi) = (self.lo, self.hi);
        state.write_u128(u128::from_le_bytes(lo.addr.0));
        state.write_u128(u128::from_le_bytes(hi.addr.0));
        state.write_u64(
            (u64::from(self.vlan) << 40)
                | (u64::from(lo.port) << 24)
                | (u64::from(hi.port) << 8)
                | u64::from(self.proto),
        );
    }
}

impl FlowKey {
    /// The key of a packet's tuple, and whether the packet's sender is the `lo` side.
    #[inline]
    pub fn of(t: &Tuple) -> (FlowKey, bool) {
        if t.src <= t.dst {
            (
                FlowKey {
                    lo: t.src,
                    hi: t.dst,
                    proto: t.proto,
                    vlan: t.vlan,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    lo: t.dst,
                    hi: t.src,
                    proto: t.proto,
                    vlan: t.vlan,
                },
                false,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint {
            addr: Addr::v4(a),
            port,
        }
    }

    #[test]
    fn is_v6_agrees_with_the_std_address() {
        let cases: [IpAddr; 5] = [
            Ipv4Addr::new(198, 18, 0, 9).into(),
            Ipv4Addr::UNSPECIFIED.into(),
            Ipv6Addr::LOCALHOST.into(),
            Ipv6Addr::UNSPECIFIED.into(),
            "2001:db8::ffff:1:2".parse().expect("address"),
        ];
        for ip in cases {
            let a = Addr::from(ip);
            assert_eq!(a.is_v6(), a.ip().is_ipv6(), "{ip}");
        }
        // ::ffff:a.b.c.d in any form is IPv4.
        assert!(!Addr::v6(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped().octets()).is_v6());
    }

    #[test]
    fn both_directions_share_one_key() {
        let t = Tuple {
            src: ep([198, 18, 0, 9], 40000),
            dst: ep([198, 18, 1, 1], 80),
            proto: proto::TCP,
            vlan: 0,
        };
        let (k1, src_lo1) = FlowKey::of(&t);
        let (k2, src_lo2) = FlowKey::of(&t.reversed());
        assert_eq!(k1, k2);
        assert_ne!(src_lo1, src_lo2);
    }

    #[test]
    fn same_host_pair_different_ports_are_different_flows() {
        let a = Tuple {
            src: ep([198, 18, 0, 9], 1),
            dst: ep([198, 18, 0, 9], 2),
            proto: proto::UDP,
            vlan: 0,
        };
        let b = Tuple {
            src: ep([198, 18, 0, 9], 2),
            dst: ep([198, 18, 0, 9], 3),
            proto: proto::UDP,
            vlan: 0,
        };
        assert_ne!(FlowKey::of(&a).0, FlowKey::of(&b).0);
    }

    #[test]
    fn addresses_round_trip() {
        let v4: IpAddr = "198.18.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(Addr::from(v4).ip(), v4);
        assert_eq!(Addr::from(v6).ip(), v6);
    }
}
