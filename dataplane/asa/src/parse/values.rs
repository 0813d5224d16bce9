//! Values shared by several commands: host addresses, network literals
//! (`A M`, `A/L`), the value of a network object or group member, service
//! values (`PROTO [source OP P] [destination OP P]`) and port conditions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ast::*;
use crate::ports::{self, PortNames};

use super::cursor::{Cur, R, Tok};
use super::icmp_types::icmp_match;

/// Whether a word looks like a dotted IPv4 address (so a bad one is
/// reported as an address, not as an unexpected word).
pub(super) fn dotted(w: &str) -> bool {
    w.contains('.') && w.chars().all(|ch| ch.is_ascii_digit() || ch == '.')
}

pub(super) fn host_ip(c: &mut Cur<'_>) -> R<IpAddr> {
    let t = c.word("host address")?;
    let family = if t.text.contains(':') { "IPv6" } else { "IPv4" };
    let ip: IpAddr = t
        .text
        .parse()
        .map_err(|_| c.err_at(t.col, format!("invalid {family} address '{}'", t.text)))?;
    if let IpAddr::V6(v6) = ip {
        refuse_mapped(c, t.col, v6, 128)?;
    }
    Ok(ip)
}

/// Refuse an IPv6 value inside the IPv4-mapped block `::ffff:0:0/96`: such
/// addresses never appear on the wire (RFC 4291 section 2.5.5.2), and an
/// operator who writes one means IPv4, which is written as IPv4.
fn refuse_mapped(c: &Cur<'_>, col: usize, a: Ipv6Addr, len: u8) -> R<()> {
    match a.to_ipv4_mapped() {
        Some(v4) if len >= 96 => Err(c.err_at(
            col,
            format!(
                "IPv4-mapped IPv6 address '{a}' is not allowed: write the IPv4 address {v4} instead"
            ),
        )),
        _ => Ok(()),
    }
}

/// A network literal.
#[derive(Debug, Clone, Copy)]
pub(super) enum Net {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, u8),
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// `A M` (IPv4, the mask from the next word) or `A/L` (IPv6) starting at
/// `t`; `None` when `t` is no address at all.
pub(super) fn network_literal(c: &mut Cur<'_>, t: Tok<'_>) -> R<Option<Net>> {
    let w = t.text;
    if let Some((a, l)) = w.split_once('/') {
        if a.parse::<Ipv4Addr>().is_ok() {
            return Err(c.err_at(
                t.col,
                format!("IPv4 networks are written as address and mask, not '{w}'"),
            ));
        }
        let (Ok(a), Some(l)) = (
            a.parse::<Ipv6Addr>(),
            l.parse::<u8>().ok().filter(|&l| l <= 128),
        ) else {
            return Err(c.err_at(t.col, format!("invalid IPv6 prefix '{w}'")));
        };
        if u128::from(a) & !mask128(l) != 0 {
            return Err(c.err_at(t.col, "address has host bits set beyond the prefix length"));
        }
        refuse_mapped(c, t.col, a, l)?;
        return Ok(Some(Net::V6(a, l)));
    }
    if let Ok(a) = w.parse::<Ipv4Addr>() {
        let mask = v4_mask(c, "mask or prefix")?;
        if u32::from(a) & !u32::from(mask) != 0 {
            return Err(c.err_at(t.col, "address has host bits set beyond the mask"));
        }
        return Ok(Some(Net::V4(a, mask)));
    }
    if w.parse::<Ipv6Addr>().is_ok() {
        return Err(c.err_at(t.col + w.chars().count(), "expected mask or prefix"));
    }
    if dotted(w) {
        return Err(c.err_at(t.col, format!("invalid IPv4 address '{w}'")));
    }
    Ok(None)
}

/// The IPv4 mask after an address: the next word, contiguous (`what`
/// names what else could have come, for the error when none does).
pub(super) fn v4_mask(c: &mut Cur<'_>, what: &str) -> R<Ipv4Addr> {
    let m = match c.peek() {
        Some(m) if m.parse::<Ipv4Addr>().is_ok() => c.next().expect("peeked"),
        Some(m) if dotted(m) => {
            return Err(c.err(format!("invalid IPv4 mask '{m}'")));
        }
        _ => return Err(c.expected(what)),
    };
    let mask: Ipv4Addr = m.text.parse().expect("checked above");
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(c.err_at(m.col, format!("mask '{}' is not contiguous", m.text)));
    }
    Ok(mask)
}

/// The value line of `object network`: `host A`, `subnet A M`,
/// `subnet A/L`, `range A B`.
pub(super) fn object_network_value(c: &mut Cur<'_>) -> R<NetworkValue> {
    let t = c.word("'host', 'subnet' or 'range'")?;
    match t.text {
        "host" => Ok(NetworkValue::Host(host_ip(c)?)),
        "subnet" => {
            let a = c.word("address")?;
            match network_literal(c, a)? {
                Some(net) => Ok(net.into()),
                None => {
                    c.back();
                    Err(c.expected("address"))
                }
            }
        }
        "range" => {
            let a = host_ip(c)?;
            let col = c.col();
            let b = host_ip(c)?;
            if a.is_ipv4() != b.is_ipv4() {
                return Err(c.err_at(col, "the ends of a range must be of one IP family"));
            }
            if a > b {
                return Err(c.err_at(col, "a range runs from the lower address to the higher"));
            }
            Ok(NetworkValue::Range(a, b))
        }
        "fqdn" => Err(c.err_at(t.col, "fqdn objects are not supported")),
        _ => {
            c.back();
            Err(c.expected("'host', 'subnet' or 'range'"))
        }
    }
}

impl From<Net> for NetworkValue {
    fn from(n: Net) -> Self {
        match n {
            Net::V4(a, m) => NetworkValue::V4Subnet(a, m),
            Net::V6(a, l) => NetworkValue::V6Subnet(a, l),
        }
    }
}

/// A service line's value; `tcp-udp` stands for a tcp and a udp value.
#[derive(Debug)]
pub(super) enum Service {
    One(ServiceValue),
    TcpUdp(Option<PortMatch>, Option<PortMatch>),
}

impl Service {
    pub(super) fn single(self) -> Option<ServiceValue> {
        match self {
            Service::One(v) => Some(v),
            Service::TcpUdp(..) => None,
        }
    }

    pub(super) fn values(self) -> Vec<ServiceValue> {
        match self {
            Service::One(v) => vec![v],
            Service::TcpUdp(source, destination) => [6, 17]
                .into_iter()
                .map(|n| ServiceValue {
                    protocol: Protocol::Number(n),
                    source,
                    destination,
                    icmp: None,
                })
                .collect(),
        }
    }
}

/// Why protocol number 0 is refused: no packet carries it in the position
/// the rules read (0 is IPv6's hop-by-hop options header, RFC 8200 §4.3,
/// which is parsed past to the transport), so an entry naming it would
/// match nothing, and `deny 0 any any` would fail open. The ASA's `ip` is
/// every protocol.
pub(super) const PROTOCOL_ZERO: &str = "protocol 0 matches no packet: use 'ip' for any protocol";

/// A protocol keyword or number (not 0, [`PROTOCOL_ZERO`]) at `t`.
pub(super) fn protocol_at(c: &Cur<'_>, t: Tok<'_>) -> R<Protocol> {
    match ports::protocol(t.text) {
        Some(Protocol::Number(0)) => Err(c.err_at(t.col, PROTOCOL_ZERO)),
        Some(p) => Ok(p),
        None => Err(c.err_at(t.col, format!("invalid protocol '{}'", t.text))),
    }
}

/// `PROTO [source OP P] [destination OP P]`.
pub(super) fn service_value(c: &mut Cur<'_>) -> R<Service> {
    let t = c.word("protocol")?;
    let (protocol, names) = if t.text == "tcp-udp" {
        (None, Some(PortNames::TcpUdp))
    } else {
        let p = protocol_at(c, t)?;
        (Some(p), ports::port_names(p))
    };
    // `service icmp|icmp6 [TYPE [CODE]]` (the ASA's service objects and
    // `service-object`s): a type of the service's family.
    let icmp = match (protocol, c.peek()) {
        (Some(Protocol::Number(n @ (1 | 58))), Some(_)) => Some(icmp_match(c, n == 58)?),
        _ => None,
    };
    let mut source = None;
    let mut destination = None;
    for (kw, slot) in [("source", &mut source), ("destination", &mut destination)] {
        if c.peek() == Some(kw) {
            let Some(names) = names else {
                return Err(c.err("ports apply only to tcp, udp and sctp"));
            };
            c.next();
            *slot = Some(port_match(c, names, Ops::All)?);
        }
    }
    if c.peek().is_some() && names.is_some() && source.is_none() && destination.is_none() {
        return Err(c.expected("'source' or 'destination'"));
    }
    Ok(match protocol {
        Some(protocol) => Service::One(ServiceValue {
            protocol,
            source,
            destination,
            icmp,
        }),
        None => Service::TcpUdp(source, destination),
    })
}

/// Which port operators a position takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ops {
    /// `eq neq lt gt range` (ACEs, service objects).
    All,
    /// `eq range` (`port-object`, `match port`).
    EqRange,
}

/// `eq|neq|lt|gt P` or `range A B`.
pub(super) fn port_match(c: &mut Cur<'_>, names: PortNames, ops: Ops) -> R<PortMatch> {
    let expected_ops = match ops {
        Ops::All => "'eq', 'neq', 'lt', 'gt' or 'range'",
        Ops::EqRange => "'eq' or 'range'",
    };
    let port = |c: &mut Cur<'_>| -> R<u16> {
        let t = c.word("port")?;
        ports::port(t.text, names).ok_or_else(|| {
            c.err_at(
                t.col,
                format!("invalid port '{}' for {}", t.text, names.label()),
            )
        })
    };
    let op = c.word(expected_ops)?;
    Ok(match (op.text, ops) {
        ("eq", _) => PortMatch::Eq(port(c)?),
        ("neq", Ops::All) => PortMatch::Neq(port(c)?),
        ("lt", Ops::All) => PortMatch::Lt(port(c)?),
        ("gt", Ops::All) => PortMatch::Gt(port(c)?),
        ("range", _) => {
            let a = port(c)?;
            let col = c.col();
            let b = port(c)?;
            if a > b {
                return Err(c.err_at(col, "a port range runs from the lower port to the higher"));
            }
            PortMatch::Range(a, b)
        }
        _ => {
            c.back();
            return Err(c.expected(expected_ops));
        }
    })
}
