//! The filters of `show conn` (docs/asa-behaviour.md §2.4): the ASA's
//! `[state S[,S…]] [protocol P] [address A[-B] [netmask M]] [port P[-Q]]
//! [interface IF]`, combined (a connection must pass every one given).
//! `clear conn` takes `address` and `port` alone (its cluster-wide request
//! carries no more, docs/ops.md §1).
//!
//! The admin API carries a filter in the query of `GET /v1/conn`
//! ([`ConnFilter::set_query`], [`ConnFilter::query_pairs`]); its JSON form
//! reads a filter of earlier versions (`{"address": A, "port": P}`)
//! unchanged.

use std::net::IpAddr;

use rampart_dataplane::conntrack::entry::conn_flags;
use rampart_dataplane::conntrack::{AsaFlags, Entry};
use rampart_dataplane::flow::proto;
use rampart_dataplane::{IfaceId, InterfaceConfig};

/// What `show conn` lists. A key it does not know is refused, never
/// ignored: ignored, it would widen the filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnFilter {
    /// Only connections with an address at either end in this range: the
    /// address itself, the first of `address_to`'s range, or the network
    /// of `prefix_len`.
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// The last address of the range `address A-B` (inclusive, the same
    /// family as `address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_to: Option<IpAddr>,
    /// `address A netmask M` (IPv4) or `address A/LEN`: the length of the
    /// network's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u8>,
    /// Only connections with a port at either end in this range: the port
    /// itself, or the first of `port_to`'s range.
    #[serde(default)]
    pub port: Option<u16>,
    /// The last port of the range `port P-Q` (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_to: Option<u16>,
    /// Only connections of this IP protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// Only connections with this interface (nameif) on either side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Only connections in one of these states (none: any state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<ConnState>,
}

/// The ASA's connection state types (`show conn state`) that have a clear
/// meaning for Rampart's entries. The ASA's others mark connections of
/// application inspections, service modules or VPNs, which Rampart does not
/// have: [`ConnState::parse`] refuses them by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    /// Up: the flag `U` (a TCP connection past its handshake, not closed).
    Up,
    /// Opened from the lower-security side (the flag `B`).
    ConnInbound,
    /// A TCP connection still in its handshake.
    TcpEmbryonic,
    /// A FIN came inbound, from the lower-security side (the flag `F`).
    Finin,
    /// A FIN went outbound, from the higher-security side (the flag `f`).
    Finout,
    /// A DNS connection (the flag `D`).
    Dns,
}

/// The state types' keywords, in [`ConnState`]'s order.
const STATES: [(&str, ConnState); 6] = [
    ("up", ConnState::Up),
    ("conn_inbound", ConnState::ConnInbound),
    ("tcp_embryonic", ConnState::TcpEmbryonic),
    ("finin", ConnState::Finin),
    ("finout", ConnState::Finout),
    ("dns", ConnState::Dns),
];

/// The ASA's state types Rampart refuses, each with why no connection of
/// Rampart's is in it.
const STATES_REFUSED: [(&str, &str); 14] = [
    ("ctiqbe", INSPECTION),
    ("data", INSPECTION),
    ("h225", INSPECTION),
    ("h323", INSPECTION),
    ("http_get", INSPECTION),
    ("mgcp", INSPECTION),
    ("nojava", INSPECTION),
    ("rpc", INSPECTION),
    ("sip", INSPECTION),
    ("skinny", INSPECTION),
    ("smtp_data", INSPECTION),
    ("sqlnet_fixup_data", INSPECTION),
    ("service_module", "Rampart has no service module"),
    ("vpn_orphan", "Rampart terminates no VPN"),
];

const INSPECTION: &str =
    "the ASA marks it by an application inspection, which Rampart does not run";

impl ConnState {
    /// The keyword `show conn state` takes.
    pub fn keyword(self) -> &'static str {
        STATES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(k, _)| k)
    }

    /// One keyword (case-insensitive, as the ASA's), or why not.
    pub fn parse(word: &str) -> Result<ConnState, String> {
        let w = word.to_ascii_lowercase();
        if let Some((_, s)) = STATES.iter().find(|(k, _)| *k == w) {
            return Ok(*s);
        }
        let known: Vec<&str> = STATES.iter().map(|(k, _)| *k).collect();
        match STATES_REFUSED.iter().find(|(k, _)| *k == w) {
            Some((k, why)) => Err(format!(
                "state {k} is not supported: {why} (supported: {})",
                known.join(", ")
            )),
            None => Err(format!(
                "unknown state '{}' (supported: {})",
                crate::echo::echo(word),
                known.join(", ")
            )),
        }
    }

    /// A comma-separated list without spaces, as the ASA takes it
    /// (`up,conn_inbound`).
    pub fn parse_list(list: &str) -> Result<Vec<ConnState>, String> {
        if list.is_empty() {
            return Err("state needs at least one state type".into());
        }
        let mut out = Vec::new();
        for w in list.split(',') {
            let s = ConnState::parse(w)?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Whether `e` is in this state.
    fn holds(self, e: &Entry) -> bool {
        match self {
            ConnState::Up => e.asa_flags().has(AsaFlags::U),
            ConnState::ConnInbound => e.flags & conn_flags::FROM_LOWER != 0,
            ConnState::TcpEmbryonic => e.tcp_state().is_some_and(|s| s.is_embryonic()),
            ConnState::Finin => e.asa_flags().has(AsaFlags::F_UPPER),
            ConnState::Finout => e.asa_flags().has(AsaFlags::F_LOWER),
            ConnState::Dns => e.asa_flags().has(AsaFlags::D),
        }
    }
}

/// The protocols `protocol` takes by name: the ASA's `tcp`, `udp` and
/// `sctp`, and (Rampart's choice) the names `show conn` prints for the
/// other protocols it tracks. Any protocol is also taken by its number.
const PROTOCOLS: [(&str, u8); 8] = [
    ("tcp", proto::TCP),
    ("udp", proto::UDP),
    ("sctp", proto::SCTP),
    ("icmp", proto::ICMP),
    ("icmp6", proto::ICMPV6),
    ("gre", proto::GRE),
    ("esp", proto::ESP),
    ("ah", proto::AH),
];

/// A protocol by name (case-insensitive) or number 0-255.
pub fn parse_protocol(word: &str) -> Result<u8, String> {
    let w = word.to_ascii_lowercase();
    if let Some((_, p)) = PROTOCOLS.iter().find(|(k, _)| *k == w) {
        return Ok(*p);
    }
    w.parse::<u8>().map_err(|_| {
        let names: Vec<&str> = PROTOCOLS.iter().map(|(k, _)| *k).collect();
        format!(
            "protocol '{}' is neither {} nor a number 0-255",
            crate::echo::echo(word),
            names.join(", ")
        )
    })
}

/// The address forms `address` takes: `A`, the range `A-B`, or the
/// network `A/LEN`. Answers the address, the range's end and the prefix
/// length; [`ConnFilter::check`] judges whether they fit together.
pub fn parse_address(v: &str) -> Result<(IpAddr, Option<IpAddr>, Option<u8>), String> {
    let bad = |what: &str| format!("address '{}' is not {what}", crate::echo::echo(v));
    if let Some((a, b)) = v.split_once('-') {
        let a = a.parse().map_err(|_| bad("an IP address or a range A-B"))?;
        let b = b.parse().map_err(|_| bad("an IP address or a range A-B"))?;
        return Ok((a, Some(b), None));
    }
    if let Some((a, len)) = v.split_once('/') {
        let a = a.parse().map_err(|_| bad("a network A/LEN"))?;
        let len = len.parse().map_err(|_| bad("a network A/LEN"))?;
        return Ok((a, None, Some(len)));
    }
    let a = v.parse().map_err(|_| bad("an IP address"))?;
    Ok((a, None, None))
}

/// The prefix length of an IPv4 netmask (`255.255.255.0`: 24). A mask
/// whose ones are not contiguous is refused: it names no network.
pub fn parse_netmask(v: &str) -> Result<u8, String> {
    let bad = || {
        format!(
            "netmask '{}' is not an IPv4 mask of contiguous ones (255.255.255.0)",
            crate::echo::echo(v)
        )
    };
    let m: std::net::Ipv4Addr = v.parse().map_err(|_| bad())?;
    let bits = u32::from(m);
    let len = bits.leading_ones();
    if bits.checked_shl(len).unwrap_or(0) != 0 {
        return Err(bad());
    }
    Ok(len as u8)
}

/// A port `P` or a range `P-Q`, each port read by `one`. A word that
/// `one` reads whole is one port, whatever its hyphens (the ASA's port
/// name `ftp-data`); otherwise the range splits at the hyphen where both
/// sides read as ports.
pub fn parse_port_range(
    v: &str,
    one: impl Fn(&str) -> Option<u16>,
) -> Result<(u16, Option<u16>), String> {
    if let Some(p) = one(v) {
        return Ok((p, None));
    }
    v.match_indices('-')
        .find_map(|(i, _)| Some((one(&v[..i])?, Some(one(&v[i + 1..])?))))
        .ok_or_else(|| {
            format!(
                "port '{}' is not a port 0-65535 or a range P-Q",
                crate::echo::echo(v)
            )
        })
}

const NETMASK_V4: &str = "netmask is for IPv4; give an IPv6 network as address=A/LEN";

/// An inclusive range of addresses of one family, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddrRange {
    v6: bool,
    lo: u128,
    hi: u128,
}

impl AddrRange {
    fn contains(&self, a: IpAddr) -> bool {
        let (v6, n) = number(a);
        v6 == self.v6 && self.lo <= n && n <= self.hi
    }
}

/// An address's family and value.
fn number(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

/// How `interface` resolved against an engine's interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IfaceSel {
    Any,
    One(IfaceId),
    /// No interface of that name: nothing matches.
    Unknown,
}

/// A filter ready to match one engine's entries: its address range
/// computed and its interface resolved (see [`ConnFilter::resolve`]).
#[derive(Debug, Clone)]
pub struct Matcher<'a> {
    filter: &'a ConnFilter,
    addresses: Option<AddrRange>,
    iface: IfaceSel,
}

impl Matcher<'_> {
    /// Whether a connection passes every filter given.
    pub fn matches(&self, e: &Entry) -> bool {
        let f = self.filter;
        let ends = [e.key.lo, e.key.hi];
        let port_to = f.port_to.or(f.port);
        self.addresses
            .is_none_or(|r| ends.iter().any(|p| r.contains(p.addr.ip())))
            && f.port.is_none_or(|lo| {
                let hi = port_to.unwrap_or(lo);
                ends.iter().any(|p| lo <= p.port && p.port <= hi)
            })
            && f.protocol.is_none_or(|p| e.key.proto == p)
            && match self.iface {
                IfaceSel::Any => true,
                IfaceSel::One(i) => e.ingress.contains(&i),
                IfaceSel::Unknown => false,
            }
            && (f.states.is_empty() || f.states.iter().any(|s| s.holds(e)))
    }
}

impl ConnFilter {
    /// A filter of one address and one port (what `clear conn` takes).
    pub fn address_port(address: Option<IpAddr>, port: Option<u16>) -> ConnFilter {
        ConnFilter {
            address,
            port,
            ..ConnFilter::default()
        }
    }

    /// Whether it filters by one address and one port at most: all that
    /// `clear conn` carries to every node of a cluster.
    pub fn is_address_port(&self) -> bool {
        *self == ConnFilter::address_port(self.address, self.port)
    }

    /// Why its parts do not fit together, if they do not: a range's end or
    /// a prefix without an address, a range with a netmask, a range whose
    /// ends differ in family or run backwards, a prefix longer than its
    /// family's addresses, an empty interface name.
    pub fn check(&self) -> Result<(), String> {
        match (self.address, self.address_to, self.prefix_len) {
            (None, Some(_), _) | (None, _, Some(_)) => {
                return Err("an address range or netmask needs its address".into());
            }
            (Some(_), Some(_), Some(_)) => {
                return Err("an address range A-B takes no netmask".into());
            }
            (Some(a), Some(b), None) => {
                let ((fa, na), (fb, nb)) = (number(a), number(b));
                if fa != fb {
                    return Err(format!(
                        "address range {a}-{b}: both ends must be IPv4 or both IPv6"
                    ));
                }
                if na > nb {
                    return Err(format!(
                        "address range {a}-{b} runs backwards: give the lower first"
                    ));
                }
            }
            (Some(a), None, Some(len)) => {
                let max = if a.is_ipv4() { 32 } else { 128 };
                if len > max {
                    return Err(format!("prefix /{len} is longer than {a}'s {max} bits"));
                }
            }
            _ => {}
        }
        match (self.port, self.port_to) {
            (None, Some(_)) => return Err("a port range needs its first port".into()),
            (Some(p), Some(q)) if p > q => {
                return Err(format!(
                    "port range {p}-{q} runs backwards: give the lower first"
                ));
            }
            _ => {}
        }
        if self.interface.as_deref() == Some("") {
            return Err("interface needs a name".into());
        }
        Ok(())
    }

    /// The filter ready for an engine with interfaces `ifaces`.
    pub fn resolve(&self, ifaces: &[InterfaceConfig]) -> Matcher<'_> {
        let addresses = self.address.map(|a| {
            let (v6, n) = number(a);
            match (self.address_to, self.prefix_len) {
                (Some(b), _) => AddrRange {
                    v6,
                    lo: n,
                    hi: number(b).1,
                },
                (None, Some(len)) => {
                    let bits: u8 = if v6 { 128 } else { 32 };
                    let host = u32::from(bits.saturating_sub(len));
                    // The host part's bits: all of a /0, none of a /32.
                    let hostmask = u128::MAX
                        .checked_shr(128 - host)
                        .filter(|_| host > 0)
                        .unwrap_or(0);
                    AddrRange {
                        v6,
                        lo: n & !hostmask,
                        hi: n | hostmask,
                    }
                }
                (None, None) => AddrRange { v6, lo: n, hi: n },
            }
        });
        let iface = match &self.interface {
            None => IfaceSel::Any,
            Some(name) => ifaces
                .iter()
                .position(|i| &i.nameif == name)
                .map_or(IfaceSel::Unknown, |i| IfaceSel::One(IfaceId(i as u8))),
        };
        Matcher {
            filter: self,
            addresses,
            iface,
        }
    }

    /// Whether `e`, an entry of an engine with interfaces `ifaces`, passes.
    pub fn matches_in(&self, e: &Entry, ifaces: &[InterfaceConfig]) -> bool {
        self.resolve(ifaces).matches(e)
    }

    /// Take one parameter of the query of `GET /v1/conn`; `Ok(false)` for a
    /// key that is no filter's. Values: `address` `A`, `A-B` or `A/LEN`;
    /// `netmask` an IPv4 mask; `port` `P` or `P-Q`; `protocol` a name or
    /// number; `interface` a nameif; `state` a comma-separated list. A
    /// filter given twice is refused: one of the two would be lost.
    pub fn set_query(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let twice = || format!("parameter '{key}' given twice");
        match key {
            "address" => {
                if self.address.is_some() {
                    return Err(twice());
                }
                let (a, to, len) = parse_address(value)?;
                if self.prefix_len.is_some() {
                    // Set before the address: by `netmask`.
                    if len.is_some() {
                        return Err("give the network as address=A/LEN or netmask, not both".into());
                    }
                    if a.is_ipv6() {
                        return Err(NETMASK_V4.into());
                    }
                }
                self.address = Some(a);
                self.address_to = to;
                self.prefix_len = len.or(self.prefix_len);
            }
            "netmask" => {
                if self.prefix_len.is_some() {
                    return Err("give the network as address=A/LEN or netmask, not both".into());
                }
                if self.address.is_some_and(|a| a.is_ipv6()) {
                    return Err(NETMASK_V4.into());
                }
                self.prefix_len = Some(parse_netmask(value)?);
            }
            "port" => {
                if self.port.is_some() {
                    return Err(twice());
                }
                let (p, q) = parse_port_range(value, |s| s.parse().ok())?;
                self.port = Some(p);
                self.port_to = q;
            }
            "protocol" => {
                if self.protocol.is_some() {
                    return Err(twice());
                }
                self.protocol = Some(parse_protocol(value)?);
            }
            "interface" => {
                if self.interface.is_some() {
                    return Err(twice());
                }
                self.interface = Some(value.to_string());
            }
            "state" => {
                if !self.states.is_empty() {
                    return Err(twice());
                }
                self.states = ConnState::parse_list(value)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The query parameters that ask for this filter (values not yet
    /// percent-encoded), read back whole by [`set_query`](Self::set_query).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(a) = self.address {
            let v = match (self.address_to, self.prefix_len) {
                (Some(b), _) => format!("{a}-{b}"),
                (None, Some(len)) => format!("{a}/{len}"),
                (None, None) => a.to_string(),
            };
            q.push(("address", v));
        }
        if let Some(p) = self.port {
            let v = match self.port_to {
                Some(to) => format!("{p}-{to}"),
                None => p.to_string(),
            };
            q.push(("port", v));
        }
        if let Some(p) = self.protocol {
            q.push(("protocol", p.to_string()));
        }
        if let Some(i) = &self.interface {
            q.push(("interface", i.clone()));
        }
        if !self.states.is_empty() {
            let list: Vec<&str> = self.states.iter().map(|s| s.keyword()).collect();
            q.push(("state", list.join(",")));
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::policy::compile::{compile, disable_randomization};
    use rampart_dataplane::policy::parse::parse_config;
    use rampart_dataplane::trace::{Side, TcpModel, ip_frame, udp_frame, v4_pair};
    use rampart_dataplane::{Engine, EngineConfig, Instant};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Entries of one engine: an established TCP connection from inside
    /// (40000 → 80), one closing from inside (40002 → 8080, the client's
    /// FIN seen), an embryonic one from outside (198.18.1.20:50000 → 22,
    /// opened from the lower side), a DNS exchange (5353 → 53) and a GRE
    /// flow.
    fn engine() -> (Engine, Vec<Entry>) {
        let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(1), [9; 4])).unwrap();
        let mut cfg = parse_config(
            "access-list IN extended permit ip any any\naccess-group IN in interface outside\n",
        )
        .unwrap()
        .config;
        disable_randomization(&mut cfg);
        let p = compile(&cfg, &eng.config().interfaces).unwrap();
        eng.set_policy(std::sync::Arc::new(p)).unwrap();
        let t = Instant::from_secs(100);
        let send = |eng: &mut Engine, mut f: Vec<u8>, i| {
            eng.process(&mut f, PacketMeta::default(), i, t);
        };
        let (c, s) = v4_pair(40_000, 80);
        let mut m = TcpModel::new(c, s, [1, 2], [64_000, 64_000], [None, None]);
        for seg in m.handshake() {
            send(&mut eng, m.frame(&seg), m.iface(seg.from));
        }
        let (c, s) = v4_pair(40_002, 8080);
        let mut m = TcpModel::new(c, s, [3, 4], [64_000, 64_000], [None, None]);
        for seg in m.handshake() {
            send(&mut eng, m.frame(&seg), m.iface(seg.from));
        }
        let fin = m.fin(Side::Client);
        send(&mut eng, m.frame(&fin), m.iface(fin.from));
        let (mut inside, mut outside) = v4_pair(22, 50_000);
        outside.ip = "198.18.1.20".parse().unwrap();
        inside.port = 22;
        let mut m = TcpModel::new(outside, inside, [5, 6], [1000, 1000], [None, None]);
        let syn = m.syn();
        send(&mut eng, m.frame(&syn), outside.iface);
        let (dc, ds) = v4_pair(5353, 53);
        send(&mut eng, udp_frame(&dc, &ds, b"q"), dc.iface);
        let (gc, gs) = v4_pair(0, 0);
        send(&mut eng, ip_frame(&gc, &gs, 47, &[0, 0, 0x08, 0]), gc.iface);
        let entries: Vec<Entry> = eng.table().iter().map(|(_, e)| *e).collect();
        (eng, entries)
    }

    /// The local ports of the entries `f` passes, sorted.
    fn passing(f: &ConnFilter) -> Vec<u16> {
        let (eng, entries) = engine();
        let m = f.resolve(&eng.config().interfaces);
        let mut v: Vec<u16> = entries
            .iter()
            .filter(|e| m.matches(e))
            .map(|e| e.initiator().port)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_fixture_is_what_the_tests_think() {
        assert_eq!(
            passing(&ConnFilter::default()),
            vec![0, 5353, 40_000, 40_002, 50_000]
        );
    }

    #[test]
    fn addresses_by_host_range_and_network() {
        let only = |a: &str| ConnFilter {
            address: Some(ip(a)),
            ..ConnFilter::default()
        };
        assert_eq!(passing(&only("198.18.1.20")), vec![50_000]);
        let range = ConnFilter {
            address_to: Some(ip("198.18.1.20")),
            ..only("198.18.1.11")
        };
        assert_eq!(passing(&range), vec![50_000]);
        let net = ConnFilter {
            prefix_len: Some(28),
            ..only("198.18.1.17")
        };
        assert_eq!(passing(&net), vec![50_000], "198.18.1.16/28");
        let net24 = ConnFilter {
            prefix_len: Some(24),
            ..only("198.18.1.99")
        };
        assert_eq!(
            passing(&net24).len(),
            5,
            "every entry has an end in 198.18.1.0/24"
        );
        let zero = ConnFilter {
            prefix_len: Some(0),
            ..only("10.0.0.0")
        };
        assert_eq!(passing(&zero).len(), 5, "/0 is every IPv4 address");
        let v6 = ConnFilter {
            prefix_len: Some(0),
            ..only("::")
        };
        assert!(passing(&v6).is_empty(), "no IPv6 entry");
    }

    #[test]
    fn ports_protocols_interfaces_and_states() {
        let ports = ConnFilter {
            port: Some(50),
            port_to: Some(100),
            ..ConnFilter::default()
        };
        assert_eq!(passing(&ports), vec![5353, 40_000], "53 and 80");
        let tcp = ConnFilter {
            protocol: Some(proto::TCP),
            ..ConnFilter::default()
        };
        assert_eq!(passing(&tcp), vec![40_000, 40_002, 50_000]);
        let gre = ConnFilter {
            protocol: Some(47),
            ..ConnFilter::default()
        };
        assert_eq!(passing(&gre), vec![0]);
        let named = |n: &str| ConnFilter {
            interface: Some(n.into()),
            ..ConnFilter::default()
        };
        assert_eq!(passing(&named("outside")).len(), 5);
        assert!(passing(&named("dmz")).is_empty(), "no such interface");
        let states = |s: &[ConnState]| ConnFilter {
            states: s.to_vec(),
            ..ConnFilter::default()
        };
        assert_eq!(passing(&states(&[ConnState::Up])), vec![40_000, 40_002]);
        assert_eq!(passing(&states(&[ConnState::ConnInbound])), vec![50_000]);
        assert_eq!(passing(&states(&[ConnState::TcpEmbryonic])), vec![50_000]);
        assert_eq!(passing(&states(&[ConnState::Finout])), vec![40_002]);
        assert!(passing(&states(&[ConnState::Finin])).is_empty());
        assert_eq!(passing(&states(&[ConnState::Dns])), vec![5353]);
        // A list is any of its states; every filter must hold.
        assert_eq!(
            passing(&states(&[ConnState::Dns, ConnState::TcpEmbryonic])),
            vec![5353, 50_000]
        );
        let both = ConnFilter {
            protocol: Some(proto::TCP),
            ..states(&[ConnState::Dns, ConnState::TcpEmbryonic])
        };
        assert_eq!(passing(&both), vec![50_000]);
    }

    #[test]
    fn words_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_address("198.18.0.1"),
            Ok((ip("198.18.0.1"), None, None))
        );
        assert_eq!(
            parse_address("198.18.0.1-198.18.0.9"),
            Ok((ip("198.18.0.1"), Some(ip("198.18.0.9")), None))
        );
        assert_eq!(
            parse_address("2001:db8::/32"),
            Ok((ip("2001:db8::"), None, Some(32)))
        );
        for bad in [
            "",
            "x",
            "198.18.0.1-",
            "-198.18.0.1",
            "1.2.3.4/x",
            "1.2.3.4/",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_netmask("255.255.255.0"), Ok(24));
        assert_eq!(parse_netmask("0.0.0.0"), Ok(0));
        assert_eq!(parse_netmask("255.255.255.255"), Ok(32));
        assert!(parse_netmask("255.0.255.0").is_err());
        assert!(parse_netmask("24").is_err());
        let num = |s: &str| s.parse().ok();
        assert_eq!(parse_port_range("80", num), Ok((80, None)));
        assert_eq!(parse_port_range("1-1023", num), Ok((1, Some(1023))));
        assert!(parse_port_range("1-", num).is_err());
        assert!(parse_port_range("70000", num).is_err());
        let named = |s: &str| match s {
            "ftp-data" => Some(20),
            "www" => Some(80),
            _ => s.parse().ok(),
        };
        assert_eq!(parse_port_range("ftp-data", named), Ok((20, None)));
        assert_eq!(parse_port_range("ftp-data-www", named), Ok((20, Some(80))));
        assert_eq!(parse_port_range("1-ftp-data", named), Ok((1, Some(20))));
        assert_eq!(parse_protocol("TCP"), Ok(6));
        assert_eq!(parse_protocol("sctp"), Ok(132));
        assert_eq!(parse_protocol("89"), Ok(89));
        assert!(parse_protocol("256").unwrap_err().contains("0-255"));
        assert_eq!(
            ConnState::parse_list("up,conn_inbound,up"),
            Ok(vec![ConnState::Up, ConnState::ConnInbound])
        );
        let e = ConnState::parse_list("up,sip").unwrap_err();
        assert!(e.contains("state sip is not supported"), "{e}");
        assert!(e.contains("application inspection"), "{e}");
        let e = ConnState::parse_list("up, finin").unwrap_err();
        assert!(e.contains("unknown state ' finin'"), "{e}");
        assert!(ConnState::parse_list("").is_err());
        for (k, s) in STATES {
            assert_eq!(s.keyword(), k);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{k}\""),
                "the JSON name is the keyword"
            );
        }
    }

    #[test]
    fn parts_that_do_not_fit_together_are_refused() {
        let a = |s: &str| Some(ip(s));
        let bad = [
            ConnFilter {
                address_to: a("198.18.0.9"),
                ..ConnFilter::default()
            },
            ConnFilter {
                prefix_len: Some(24),
                ..ConnFilter::default()
            },
            ConnFilter {
                address: a("198.18.0.1"),
                address_to: a("198.18.0.9"),
                prefix_len: Some(24),
                ..ConnFilter::default()
            },
            ConnFilter {
                address: a("198.18.0.9"),
                address_to: a("198.18.0.1"),
                ..ConnFilter::default()
            },
            ConnFilter {
                address: a("198.18.0.1"),
                address_to: a("2001:db8::1"),
                ..ConnFilter::default()
            },
            ConnFilter {
                address: a("198.18.0.1"),
                prefix_len: Some(33),
                ..ConnFilter::default()
            },
            ConnFilter {
                port_to: Some(80),
                ..ConnFilter::default()
            },
            ConnFilter {
                port: Some(90),
                port_to: Some(80),
                ..ConnFilter::default()
            },
            ConnFilter {
                interface: Some(String::new()),
                ..ConnFilter::default()
            },
        ];
        for f in bad {
            assert!(f.check().is_err(), "{f:?}");
        }
        let good = ConnFilter {
            address: a("2001:db8::"),
            prefix_len: Some(128),
            port: Some(1),
            port_to: Some(1),
            ..ConnFilter::default()
        };
        assert_eq!(good.check(), Ok(()));
    }

    /// What the client sends reads back as the filter it was; a filter of
    /// an earlier version reads as before in JSON.
    #[test]
    fn the_query_and_json_round_trip() {
        let f = ConnFilter {
            address: Some(ip("2001:db8::1")),
            address_to: Some(ip("2001:db8::9")),
            prefix_len: None,
            port: Some(1),
            port_to: Some(1023),
            protocol: Some(132),
            interface: Some("inside".into()),
            states: vec![ConnState::Up, ConnState::Finin],
        };
        let back = |f: &ConnFilter| {
            let mut g = ConnFilter::default();
            for (k, v) in f.query_pairs() {
                assert_eq!(g.set_query(k, &v), Ok(true));
            }
            g
        };
        assert_eq!(back(&f), f);
        let net = ConnFilter {
            address: Some(ip("198.18.0.0")),
            prefix_len: Some(16),
            ..ConnFilter::default()
        };
        assert_eq!(back(&net), net);
        let mut g = ConnFilter::default();
        assert_eq!(g.set_query("netmask", "255.255.0.0"), Ok(true));
        assert_eq!(g.set_query("address", "198.18.0.0"), Ok(true));
        assert_eq!(g, net);
        assert!(g.set_query("address", "198.18.0.1").is_err(), "twice");
        let mut g = ConnFilter::default();
        assert_eq!(g.set_query("netmask", "255.255.0.0"), Ok(true));
        assert!(
            g.set_query("address", "2001:db8::").is_err(),
            "netmask of IPv6"
        );
        let mut g = ConnFilter::default();
        assert_eq!(g.set_query("address", "2001:db8::"), Ok(true));
        assert!(
            g.set_query("netmask", "255.255.0.0").is_err(),
            "netmask of IPv6"
        );
        assert_eq!(g.set_query("count", "1"), Ok(false));
        let old: ConnFilter =
            serde_json::from_str(r#"{"address":"198.18.0.1","port":80}"#).unwrap();
        assert_eq!(
            old,
            ConnFilter::address_port(Some(ip("198.18.0.1")), Some(80))
        );
        assert!(old.is_address_port());
        assert!(!f.is_address_port());
        assert_eq!(
            serde_json::to_string(&ConnFilter::default()).unwrap(),
            r#"{"address":null,"port":null}"#,
            "as earlier versions wrote it"
        );
        assert_eq!(
            serde_json::from_str::<ConnFilter>(&serde_json::to_string(&f).unwrap()).unwrap(),
            f
        );
    }
}
