//! `show local-host` (docs/asa-behaviour.md §3.5): the ASA's per-host view
//! of the connection table, used to find the host a flood comes from or
//! goes to. A host is an address at an end of a connection, on the
//! interface that end's packets arrive on (the entry's `ingress` of that
//! direction), within its VLAN; each host is listed with its TCP flows,
//! the embryonic TCP connections to it, its UDP flows, the per-client
//! limits of the classes that count it as a client, and its connections.
//!
//! Rampart keeps no host table: the workers walk their connection tables
//! as `show conn` does (`crate::admin`), [`hosts_in`] counts each slice's
//! hosts on its worker, and [`HostTally`] merges them, bounded.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;

use rampart_dataplane::conntrack::{Entry, FlowId};
use rampart_dataplane::flow::proto;
use rampart_dataplane::policy::ast::ServiceScope;
use rampart_dataplane::{Engine, Instant};
use serde::{Deserialize, Serialize};

use crate::model::ConnRow;
use crate::show_conn::{ConnFormat, render_row_as};

/// Most hosts one `show local-host` lists with a token or on the admin
/// socket; hosts found beyond are left out, and the answer says so.
pub const LOCAL_HOST_MAX_HOSTS: usize = 100_000;

/// Most hosts one `show local-host` without a token lists (its answer is
/// held until read, as `show conn`'s is: docs/ops.md §2).
pub const LOCAL_HOST_MAX_HOSTS_OPEN: usize = 10_000;

/// The counts `connection {tcp|udp|embryonic} START[-END]` asks for:
/// `START` alone is `START` or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRange {
    /// The least count.
    pub min: u64,
    /// The greatest count (none: no bound).
    pub max: Option<u64>,
}

impl CountRange {
    /// `N` or `N-M` (numbers, the lower first).
    pub fn parse(v: &str) -> Result<CountRange, String> {
        let bad = || format!("'{}' is not a count N or a range N-M", crate::echo::echo(v));
        let (min, max) = match v.split_once('-') {
            Some((a, b)) => (
                a.parse().map_err(|_| bad())?,
                Some(b.parse().map_err(|_| bad())?),
            ),
            None => (v.parse().map_err(|_| bad())?, None),
        };
        if max.is_some_and(|m| m < min) {
            return Err(format!("{v} runs backwards: give the lower first"));
        }
        Ok(CountRange { min, max })
    }

    /// Whether `n` is in the range.
    pub fn holds(&self, n: u64) -> bool {
        self.min <= n && self.max.is_none_or(|m| n <= m)
    }

    fn query(&self) -> String {
        match self.max {
            Some(m) => format!("{}-{m}", self.min),
            None => self.min.to_string(),
        }
    }
}

/// The hosts `show local-host` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFilter {
    /// Only hosts of this address (on any interface).
    pub address: Option<IpAddr>,
    /// The hosts and their counts, without their connections.
    pub brief: bool,
    /// Only hosts whose TCP flows are in this range.
    pub tcp: Option<CountRange>,
    /// Only hosts whose UDP flows are in this range.
    pub udp: Option<CountRange>,
    /// Only hosts whose embryonic TCP connections to them are in this range.
    pub embryonic: Option<CountRange>,
}

impl HostFilter {
    /// Whether it selects hosts by their counts (known once the walk ends).
    pub fn by_counts(&self) -> bool {
        self.tcp.is_some() || self.udp.is_some() || self.embryonic.is_some()
    }

    fn wants(&self, c: &HostCounts) -> bool {
        self.tcp.is_none_or(|r| r.holds(c.tcp))
            && self.udp.is_none_or(|r| r.holds(c.udp))
            && self.embryonic.is_none_or(|r| r.holds(c.embryonic_to_host))
    }

    /// Take one parameter of the query of `GET /v1/local-host`; `Ok(false)`
    /// for a key it does not know. `address` an IP address, `brief` 1 or
    /// 0, `tcp`, `udp`, `embryonic` a count `N` or range `N-M`; each at
    /// most once.
    pub fn set_query(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let twice = || format!("parameter '{key}' given twice");
        let range = |slot: &mut Option<CountRange>| -> Result<(), String> {
            if slot.is_some() {
                return Err(twice());
            }
            *slot = Some(CountRange::parse(value).map_err(|e| format!("{key}: {e}"))?);
            Ok(())
        };
        match key {
            "address" => {
                if self.address.is_some() {
                    return Err(twice());
                }
                self.address = Some(value.parse().map_err(|_| {
                    format!(
                        "address '{}' is not an IP address",
                        crate::echo::echo(value)
                    )
                })?);
            }
            "brief" => self.brief = value != "0" && value != "false",
            "tcp" => range(&mut self.tcp)?,
            "udp" => range(&mut self.udp)?,
            "embryonic" => range(&mut self.embryonic)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The query parameters that ask for it (values not yet
    /// percent-encoded), read back whole by [`set_query`](Self::set_query).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(a) = self.address {
            q.push(("address", a.to_string()));
        }
        if self.brief {
            q.push(("brief", "1".to_string()));
        }
        for (k, r) in [
            ("tcp", self.tcp),
            ("udp", self.udp),
            ("embryonic", self.embryonic),
        ] {
            if let Some(r) = r {
                q.push((k, r.query()));
            }
        }
        q
    }
}

/// `show local-host`: each interface with its hosts, and the listed
/// hosts' connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalHosts {
    /// Every interface, in the node's order, with the hosts listed on it.
    pub interfaces: Vec<LocalHostInterface>,
    /// The connections of the listed hosts, oldest first, each once (it is
    /// printed under both its hosts); none for `brief`.
    pub conns: Vec<ConnRow>,
    /// Connections of the listed hosts left out beyond the row limit.
    pub conns_truncated: u64,
    /// Hosts were left out beyond the host limit.
    pub hosts_truncated: bool,
}

/// One interface of `show local-host`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalHostInterface {
    /// Its nameif.
    pub interface: String,
    /// Its hosts, by address then VLAN.
    pub hosts: Vec<LocalHost>,
}

/// One host: an address on an interface, within a VLAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalHost {
    /// Its address.
    pub address: IpAddr,
    /// Its VLAN, 0 when untagged.
    #[serde(default)]
    pub vlan: u16,
    /// TCP connections with the host at an end (state-bypass ones too).
    pub tcp: u64,
    /// Embryonic TCP connections to the host (it answers).
    pub tcp_embryonic_to_host: u64,
    /// UDP connections with the host at an end.
    pub udp: u64,
    /// Connections of other protocols with the host at an end.
    pub other: u64,
    /// The per-client limits that count the host as a client.
    #[serde(default)]
    pub client_limits: Vec<ClientLimit>,
}

/// A class's per-client limits and what they count of one host: the
/// connections it opened in the class (docs/asa-behaviour.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientLimit {
    /// The policy-map (empty for a class of no policy-map).
    pub policy_map: String,
    /// The class.
    pub class: String,
    /// The interface the policy-map is applied to (none: global).
    #[serde(default)]
    pub interface: Option<String>,
    /// `per-client-max` (0: unlimited).
    pub per_client_max: u32,
    /// `per-client-embryonic-max` (0: unlimited).
    pub per_client_embryonic_max: u32,
    /// The host's connections in the class.
    pub conns: u64,
    /// The host's embryonic connections in the class.
    pub embryonic: u64,
}

impl ClientLimit {
    fn same_limit(&self, o: &ClientLimit) -> bool {
        (
            &self.policy_map,
            &self.class,
            &self.interface,
            self.per_client_max,
            self.per_client_embryonic_max,
        ) == (
            &o.policy_map,
            &o.class,
            &o.interface,
            o.per_client_max,
            o.per_client_embryonic_max,
        )
    }
}

// === the walk ===

/// A host of the table: an address on an interface (by index), within a
/// VLAN. Ordered as listed: interface, address, VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey {
    /// The interface the host's packets arrive on.
    pub iface: u8,
    /// Its address.
    pub addr: IpAddr,
    /// Its VLAN, 0 when untagged.
    pub vlan: u16,
}

/// The hosts at a connection's ends: the initiator's, then the responder's.
pub fn host_keys(e: &Entry) -> [HostKey; 2] {
    let key = |iface: rampart_dataplane::IfaceId, addr: IpAddr| HostKey {
        iface: iface.0,
        addr,
        vlan: e.key.vlan,
    };
    [
        key(e.ingress[0], e.initiator().addr.ip()),
        key(e.ingress[1], e.responder().addr.ip()),
    ]
}

/// What one host's connections count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostCounts {
    tcp: u64,
    embryonic_to_host: u64,
    udp: u64,
    other: u64,
    limits: Vec<ClientLimit>,
}

impl HostCounts {
    fn add(&mut self, o: HostCounts) {
        self.tcp = self.tcp.saturating_add(o.tcp);
        self.embryonic_to_host = self.embryonic_to_host.saturating_add(o.embryonic_to_host);
        self.udp = self.udp.saturating_add(o.udp);
        self.other = self.other.saturating_add(o.other);
        for l in o.limits {
            self.add_limit(l);
        }
    }

    fn add_limit(&mut self, l: ClientLimit) {
        match self.limits.iter_mut().find(|x| x.same_limit(&l)) {
            Some(x) => {
                x.conns = x.conns.saturating_add(l.conns);
                x.embryonic = x.embryonic.saturating_add(l.embryonic);
            }
            None => self.limits.push(l),
        }
    }
}

/// The per-client limits of an entry's class, if it has any, with no
/// counts yet.
fn client_limit(engine: &Engine, e: &Entry) -> Option<ClientLimit> {
    let slot = engine.classes().get(e.class);
    let o = &slot.options;
    if o.per_client_max == 0 && o.per_client_embryonic_max == 0 {
        return None;
    }
    let (policy_map, class) = slot.name.split_once('/').unwrap_or(("", &slot.name));
    Some(ClientLimit {
        policy_map: policy_map.to_string(),
        class: class.to_string(),
        interface: match &slot.scope {
            ServiceScope::Global => None,
            ServiceScope::Interface(i) => Some(i.clone()),
        },
        per_client_max: o.per_client_max,
        per_client_embryonic_max: o.per_client_embryonic_max,
        conns: 0,
        embryonic: 0,
    })
}

/// The hosts of one engine's live connections in table slots `slots`
/// (only those of `address`, if given), with what their connections count.
pub fn hosts_in(
    engine: &Engine,
    now: Instant,
    address: Option<IpAddr>,
    slots: Range<usize>,
) -> Vec<(HostKey, HostCounts)> {
    let table = engine.table();
    let end = slots.end.min(table.slot_count());
    let mut hosts: HashMap<HostKey, HostCounts> = HashMap::new();
    // Classes by slot, looked up once a slice.
    let mut limits: HashMap<u16, Option<ClientLimit>> = HashMap::new();
    for i in slots.start.min(end)..end {
        let Some(e) = table.try_get(FlowId(i as u32)) else {
            continue;
        };
        if engine.is_expired(e, now) {
            continue;
        }
        let embryonic = e.tcp_state().is_some_and(|s| s.is_embryonic());
        let keys = host_keys(e);
        for (side, key) in keys.iter().enumerate() {
            if address.is_some_and(|a| a != key.addr) {
                continue;
            }
            let c = hosts.entry(*key).or_default();
            // A connection between two ends of one host counts once.
            if side == 0 || keys[0] != keys[1] {
                match e.key.proto {
                    proto::TCP => c.tcp += 1,
                    proto::UDP => c.udp += 1,
                    _ => c.other += 1,
                }
            }
            if side == 1 && embryonic {
                c.embryonic_to_host += 1;
            }
            // Per-client limits count the host that opened the connection.
            if side == 0
                && let Some(l) = limits
                    .entry(e.class.0)
                    .or_insert_with(|| client_limit(engine, e))
            {
                c.add_limit(ClientLimit {
                    conns: 1,
                    embryonic: u64::from(embryonic),
                    ..l.clone()
                });
            }
        }
    }
    hosts.into_iter().collect()
}

/// The hosts of every worker's slices, merged: at most `max` of them, the
/// first found; later ones are left out and [`LocalHosts::hosts_truncated`]
/// says so.
#[derive(Debug)]
pub struct HostTally {
    hosts: HashMap<HostKey, HostCounts>,
    max: usize,
    truncated: bool,
}

impl HostTally {
    /// An empty tally of at most `max` hosts.
    pub fn new(max: usize) -> Self {
        HostTally {
            hosts: HashMap::new(),
            max,
            truncated: false,
        }
    }

    /// Add one slice's hosts of one worker.
    pub fn add(&mut self, hosts: Vec<(HostKey, HostCounts)>) {
        for (k, c) in hosts {
            if let Some(x) = self.hosts.get_mut(&k) {
                x.add(c);
            } else if self.hosts.len() < self.max {
                self.hosts.insert(k, c);
            } else {
                self.truncated = true;
            }
        }
    }

    /// The hosts `q` lists, under the interfaces named `ifaces` (by
    /// index), without connections yet; and their keys.
    pub fn finish(self, q: &HostFilter, ifaces: &[String]) -> (LocalHosts, HashSet<HostKey>) {
        let mut listed: Vec<(HostKey, HostCounts)> =
            self.hosts.into_iter().filter(|(_, c)| q.wants(c)).collect();
        listed.sort_by_key(|(k, _)| *k);
        let keys = listed.iter().map(|(k, _)| *k).collect();
        let mut interfaces: Vec<LocalHostInterface> = ifaces
            .iter()
            .map(|name| LocalHostInterface {
                interface: name.clone(),
                hosts: Vec::new(),
            })
            .collect();
        for (k, c) in listed {
            let i = usize::from(k.iface);
            while interfaces.len() <= i {
                // An interface this node does not name (never, with one
                // configuration on every worker).
                let n = interfaces.len();
                interfaces.push(LocalHostInterface {
                    interface: format!("if{n}"),
                    hosts: Vec::new(),
                });
            }
            interfaces[i].hosts.push(LocalHost {
                address: k.addr,
                vlan: k.vlan,
                tcp: c.tcp,
                tcp_embryonic_to_host: c.embryonic_to_host,
                udp: c.udp,
                other: c.other,
                client_limits: c.limits,
            });
        }
        let answer = LocalHosts {
            interfaces,
            conns: Vec::new(),
            conns_truncated: 0,
            hosts_truncated: self.truncated,
        };
        (answer, keys)
    }
}

// === rendering ===

/// Whether connection row `r` has host `h` of interface `iface` at an end.
fn row_of(r: &ConnRow, iface: &str, h: &LocalHost) -> bool {
    r.vlan == h.vlan
        && [&r.lower, &r.higher]
            .iter()
            .any(|s| s.interface == iface && s.addr == h.address)
}

/// A count with the limit of the ASA's line: Rampart has no limit of all
/// of a host's flows (per-client limits are per class, on lines of their
/// own).
fn unlimited(n: u64) -> String {
    format!("{n}/unlimited")
}

/// `show local-host` (or with `detail`, each connection as `show conn
/// detail` prints it), as the ASA prints it, from the admin API's answer.
/// A host of a VLAN names it after its address (`, vlan 10`).
pub fn render_local_hosts(l: &LocalHosts, detail: bool) -> String {
    let format = if detail {
        ConnFormat::Detail
    } else {
        ConnFormat::Plain
    };
    let mut out = String::new();
    for i in &l.interfaces {
        out.push_str(&format!(
            "Interface {}: {} active\n",
            i.interface,
            i.hosts.len()
        ));
        for h in &i.hosts {
            let vlan = match h.vlan {
                0 => String::new(),
                v => format!(" vlan {v}"),
            };
            out.push_str(&format!(
                "local host: <{}>,{vlan}\n    TCP flow count/limit = {}\n    \
                 TCP embryonic count to host = {}\n    UDP flow count/limit = {}\n",
                h.address,
                unlimited(h.tcp),
                h.tcp_embryonic_to_host,
                unlimited(h.udp),
            ));
            for c in &h.client_limits {
                let scope = match &c.interface {
                    Some(i) => format!(" (interface {i})"),
                    None => String::new(),
                };
                let name = match c.policy_map.as_str() {
                    "" => c.class.clone(),
                    m => format!("{m}/{}", c.class),
                };
                if c.per_client_max > 0 {
                    out.push_str(&format!(
                        "    Class {name}{scope} per-client count/limit = {}/{}\n",
                        c.conns, c.per_client_max
                    ));
                }
                if c.per_client_embryonic_max > 0 {
                    out.push_str(&format!(
                        "    Class {name}{scope} per-client embryonic count/limit = {}/{}\n",
                        c.embryonic, c.per_client_embryonic_max
                    ));
                }
            }
            let rows: Vec<&ConnRow> = l
                .conns
                .iter()
                .filter(|r| row_of(r, &i.interface, h))
                .collect();
            if !rows.is_empty() {
                out.push_str("  Conn:\n");
                for r in rows {
                    for line in render_row_as(r, format).lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
        }
    }
    if l.hosts_truncated {
        out.push_str("(more hosts not shown: past the host limit; narrow with an address)\n");
    }
    if l.conns_truncated > 0 {
        out.push_str(&format!(
            "({} more connection(s) not shown; narrow with an address)\n",
            l.conns_truncated
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::policy::compile::compile;
    use rampart_dataplane::policy::parse::parse_config;
    use rampart_dataplane::trace::{TcpModel, udp_frame, v4_pair, vlan_tagged};
    use rampart_dataplane::{EngineConfig, Verdict};

    use crate::show_conn::{ConnFilter, collect_rows};

    const POLICY: &str = "access-list IN extended permit ip any any
access-group IN in interface outside
class-map web
 match port tcp eq 80
policy-map global_policy
 class web
  set connection per-client-max 10 per-client-embryonic-max 5
  set connection random-sequence-number disable
service-policy global_policy global
";

    /// Three SYNs from 198.18.1.20 (outside) to the web server 198.18.0.10
    /// (inside): a small flood; one answered web connection from inside to
    /// 198.18.1.10; a DNS query from inside, and one of VLAN 300.
    fn engine() -> (Engine, Instant) {
        let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(1), [9; 4])).unwrap();
        let cfg = parse_config(POLICY).unwrap().config;
        let p = compile(&cfg, &eng.config().interfaces).unwrap();
        eng.set_policy(std::sync::Arc::new(p)).unwrap();
        let t = Instant::from_secs(100);
        let send = |eng: &mut Engine, mut f: Vec<u8>, i| {
            let v = eng.process(&mut f, PacketMeta::default(), i, t);
            assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        };
        for port in [50_000, 50_001, 50_002] {
            let (mut server, mut attacker) = v4_pair(80, port);
            attacker.ip = "198.18.1.20".parse().unwrap();
            server.port = 80;
            let mut m = TcpModel::new(attacker, server, [5, 6], [1000, 1000], [None, None]);
            let syn = m.syn();
            send(&mut eng, m.frame(&syn), attacker.iface);
        }
        let (c, s) = v4_pair(40_000, 80);
        let mut m = TcpModel::new(c, s, [1, 2], [64_000, 64_000], [None, None]);
        for seg in m.handshake() {
            send(&mut eng, m.frame(&seg), m.iface(seg.from));
        }
        let (dc, ds) = v4_pair(5353, 53);
        send(&mut eng, udp_frame(&dc, &ds, b"q"), dc.iface);
        send(
            &mut eng,
            vlan_tagged(udp_frame(&dc, &ds, b"q"), 0, 300),
            dc.iface,
        );
        (eng, t + Duration::from_secs(2))
    }

    fn local_hosts(q: &HostFilter) -> LocalHosts {
        let (eng, now) = engine();
        let mut tally = HostTally::new(100);
        tally.add(hosts_in(&eng, now, q.address, 0..usize::MAX));
        let names: Vec<String> = eng
            .config()
            .interfaces
            .iter()
            .map(|i| i.nameif.clone())
            .collect();
        let (mut l, keys) = tally.finish(q, &names);
        if !q.brief {
            let rows = collect_rows(&eng, now, &ConnFilter::default(), 0, 100).0;
            l.conns = rows
                .into_iter()
                .filter(|r| {
                    l.interfaces
                        .iter()
                        .any(|i| i.hosts.iter().any(|h| row_of(r, &i.interface, h)))
                })
                .collect();
            assert!(keys.len() >= l.interfaces.iter().map(|i| i.hosts.len()).sum());
        }
        l
    }

    #[test]
    fn hosts_are_counted_per_interface_with_their_class_limits() {
        let out = render_local_hosts(&local_hosts(&HostFilter::default()), false);
        assert_eq!(
            out,
            "Interface inside: 2 active
local host: <198.18.0.10>,
    TCP flow count/limit = 4/unlimited
    TCP embryonic count to host = 3
    UDP flow count/limit = 1/unlimited
    Class global_policy/web per-client count/limit = 1/10
    Class global_policy/web per-client embryonic count/limit = 0/5
  Conn:
    TCP outside  198.18.1.20:50000 inside  198.18.0.10:80, idle 0:00:02, bytes 48, flags SaAB
    TCP outside  198.18.1.20:50001 inside  198.18.0.10:80, idle 0:00:02, bytes 48, flags SaAB
    TCP outside  198.18.1.20:50002 inside  198.18.0.10:80, idle 0:00:02, bytes 48, flags SaAB
    TCP outside  198.18.1.10:80 inside  198.18.0.10:40000, idle 0:00:02, bytes 136, flags U
    UDP outside  198.18.1.10:53 inside  198.18.0.10:5353, idle 0:00:02, bytes 29, flags OD
local host: <198.18.0.10>, vlan 300
    TCP flow count/limit = 0/unlimited
    TCP embryonic count to host = 0
    UDP flow count/limit = 1/unlimited
  Conn:
    UDP outside  198.18.1.10:53 inside  198.18.0.10:5353, idle 0:00:02, bytes 29, flags OD, vlan 300
Interface outside: 3 active
local host: <198.18.1.10>,
    TCP flow count/limit = 1/unlimited
    TCP embryonic count to host = 0
    UDP flow count/limit = 1/unlimited
  Conn:
    TCP outside  198.18.1.10:80 inside  198.18.0.10:40000, idle 0:00:02, bytes 136, flags U
    UDP outside  198.18.1.10:53 inside  198.18.0.10:5353, idle 0:00:02, bytes 29, flags OD
local host: <198.18.1.10>, vlan 300
    TCP flow count/limit = 0/unlimited
    TCP embryonic count to host = 0
    UDP flow count/limit = 1/unlimited
  Conn:
    UDP outside  198.18.1.10:53 inside  198.18.0.10:5353, idle 0:00:02, bytes 29, flags OD, vlan 300
local host: <198.18.1.20>,
    TCP flow count/limit = 3/unlimited
    TCP embryonic count to host = 0
    UDP flow count/limit = 0/unlimited
    Class global_policy/web per-client count/limit = 3/10
    Class global_policy/web per-client embryonic count/limit = 3/5
  Conn:
    TCP outside  198.18.1.20:50000 inside  198.18.0.10:80, idle 0:00:02, bytes 48, flags SaAB
    TCP outside  198.18.1.20:50001 inside  198.18.0.10:80, idle 0:00:02, bytes 48, flags SaAB
    TCP outside  198.18.1.20:50002 inside  198.18.0.10:80, idle 0:00:02, bytes 48, flags SaAB
"
        );
    }

    #[test]
    fn brief_address_and_count_ranges_select_hosts() {
        let brief = HostFilter {
            brief: true,
            ..HostFilter::default()
        };
        let out = render_local_hosts(&local_hosts(&brief), false);
        assert!(!out.contains("Conn:"), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with("local host")).count(),
            5
        );
        let one = HostFilter {
            address: Some("198.18.1.20".parse().unwrap()),
            ..brief.clone()
        };
        let l = local_hosts(&one);
        let hosts: Vec<usize> = l.interfaces.iter().map(|i| i.hosts.len()).collect();
        assert_eq!(hosts, vec![0, 1]);
        let flooded = HostFilter {
            embryonic: Some(CountRange { min: 2, max: None }),
            ..brief.clone()
        };
        let l = local_hosts(&flooded);
        assert_eq!(l.interfaces[0].hosts.len(), 1);
        assert_eq!(l.interfaces[0].hosts[0].tcp_embryonic_to_host, 3);
        assert!(l.interfaces[1].hosts.is_empty());
        let tcp = HostFilter {
            tcp: Some(CountRange {
                min: 1,
                max: Some(3),
            }),
            udp: Some(CountRange {
                min: 0,
                max: Some(0),
            }),
            ..brief
        };
        let l = local_hosts(&tcp);
        let listed: Vec<String> = l
            .interfaces
            .iter()
            .flat_map(|i| i.hosts.iter().map(|h| h.address.to_string()))
            .collect();
        assert_eq!(listed, vec!["198.18.1.20"]);
    }

    #[test]
    fn a_tally_keeps_at_most_its_hosts_and_says_so() {
        let (eng, now) = engine();
        let mut tally = HostTally::new(2);
        tally.add(hosts_in(&eng, now, None, 0..usize::MAX));
        let (l, keys) = tally.finish(&HostFilter::default(), &["inside".into()]);
        assert_eq!(keys.len(), 2);
        assert!(l.hosts_truncated);
        assert!(render_local_hosts(&l, false).ends_with("narrow with an address)\n"));
        // Slices of one host on two workers add up.
        let mut tally = HostTally::new(10);
        tally.add(hosts_in(&eng, now, None, 0..usize::MAX));
        tally.add(hosts_in(&eng, now, None, 0..usize::MAX));
        let (l, _) = tally.finish(&HostFilter::default(), &["inside".into()]);
        assert_eq!(l.interfaces[0].hosts[0].tcp, 8);
        assert_eq!(l.interfaces[0].hosts[0].client_limits[0].conns, 2);
    }

    #[test]
    fn the_query_round_trips_and_bad_input_is_refused() {
        let q = HostFilter {
            address: Some("2001:db8::1".parse().unwrap()),
            brief: true,
            tcp: Some(CountRange { min: 5, max: None }),
            udp: Some(CountRange {
                min: 0,
                max: Some(9),
            }),
            embryonic: Some(CountRange {
                min: 100,
                max: Some(100),
            }),
        };
        let mut back = HostFilter::default();
        for (k, v) in q.query_pairs() {
            assert_eq!(back.set_query(k, &v), Ok(true));
        }
        assert_eq!(back, q);
        let mut x = HostFilter::default();
        assert_eq!(x.set_query("bogus", "1"), Ok(false));
        assert!(x.set_query("tcp", "9-1").unwrap_err().contains("backwards"));
        assert!(x.set_query("udp", "many").is_err());
        assert!(x.set_query("address", "nowhere").is_err());
        assert_eq!(x.set_query("tcp", "1"), Ok(true));
        assert!(x.set_query("tcp", "2").unwrap_err().contains("twice"));
    }
}
