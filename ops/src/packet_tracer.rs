//! `packet-tracer input IFNAME …`: what the node would do with one packet,
//! phase by phase, in the ASA's layout (docs/asa-behaviour.md §2.4):
//!
//! ```text
//! Phase: 2
//! Type: ACCESS-LIST
//! Subtype: log
//! Result: ALLOW
//! Config:
//! access-group OUT_IN in interface outside
//! access-list OUT_IN extended permit tcp any any eq ssh
//! Additional Information:
//! access-list OUT_IN line 1
//! …
//! Result:
//! input-interface: outside
//! …
//! Action: allow
//! ```
//!
//! The request ([`TraceQuery`]) comes from the ASA's words
//! ([`parse_words`]) or the admin API's query ([`parse_query`]); every
//! worker traces it on its engine ([`worker_trace`],
//! `Engine::packet_trace`, which changes nothing) and the answer is the
//! worker's that holds the flow ([`merge`]); [`describe`] turns the
//! engine's steps into phases, [`render_text`] and [`render_xml`] print
//! them.

use std::net::IpAddr;

use rampart_dataplane::IfaceId;
use rampart_dataplane::engine::tracer::{Lookup, Step, TracePacket, TraceRequest};
use rampart_dataplane::policy::icmp;
use rampart_dataplane::policy::ports::{self, PortNames};

use crate::backend::OpsError;
use crate::echo::echo;
use crate::http::{percent_encode, query_pairs};
use crate::model::PacketTrace;
use crate::pool::WorkerView;

mod phases;
mod render;

pub use phases::describe;
pub use render::{render_text, render_xml};

pub use crate::backend::TraceQuery;

// The admin API's query of a request, beside its parser.
impl TraceQuery {
    /// The admin API's query string (`GET /v1/packet-tracer?…`).
    pub fn to_query(&self) -> String {
        let mut q = vec![format!("input={}", percent_encode(&self.input))];
        if self.vlan != 0 {
            q.push(format!("vlan={}", self.vlan));
        }
        q.push(format!("protocol={}", protocol_word(&self.packet)));
        q.push(format!("src={}", percent_encode(&self.src.to_string())));
        q.push(format!("dst={}", percent_encode(&self.dst.to_string())));
        match self.packet {
            TracePacket::Tcp { sport, dport }
            | TracePacket::Udp { sport, dport }
            | TracePacket::Sctp { sport, dport } => {
                q.push(format!("sport={sport}&dport={dport}"));
            }
            TracePacket::Icmp {
                icmp_type,
                code,
                ident,
            } => q.push(format!("type={icmp_type}&code={code}&ident={ident}")),
            TracePacket::RawIp { protocol } => q.push(format!("proto={protocol}")),
        }
        q.join("&")
    }
}

fn protocol_word(p: &TracePacket) -> &'static str {
    match p {
        TracePacket::Tcp { .. } => "tcp",
        TracePacket::Udp { .. } => "udp",
        TracePacket::Sctp { .. } => "sctp",
        TracePacket::Icmp { .. } => "icmp",
        TracePacket::RawIp { .. } => "rawip",
    }
}

// === the admin API's query ===

/// The query of `GET /v1/packet-tracer`: `input`, `protocol`
/// (`tcp|udp|sctp|icmp|rawip`), `src`, `dst`, then `sport` and `dport`,
/// or `type`, `code` and `ident` (optional, 0), or `proto`; `vlan`
/// optional. Anything missing, unknown, repeated or out of range is the
/// caller's fault, with the parameter named.
pub fn parse_query(query: &str) -> Result<TraceQuery, OpsError> {
    let bad = |m: String| OpsError::BadRequest(format!("packet-tracer: {m}"));
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in query_pairs(query) {
        if pairs.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(format!("parameter '{}' is given twice", echo(&k))));
        }
        pairs.push((k, v));
    }
    let take = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let need = |name: &str| take(name).ok_or_else(|| bad(format!("parameter '{name}' is missing")));
    let number = |name: &str, max: u32| -> Result<u32, OpsError> {
        let v = need(name)?;
        v.parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| bad(format!("{name} '{}' is not a number 0-{max}", echo(v))))
    };
    let address = |name: &str| -> Result<IpAddr, OpsError> {
        let v = need(name)?;
        v.parse()
            .map_err(|_| bad(format!("{name} '{}' is not an IP address", echo(v))))
    };
    let protocol = need("protocol")?;
    let (packet, own): (TracePacket, &[&str]) = match protocol {
        "tcp" | "udp" | "sctp" => {
            let (sport, dport) = (
                number("sport", 65_535)? as u16,
                number("dport", 65_535)? as u16,
            );
            let p = match protocol {
                "tcp" => TracePacket::Tcp { sport, dport },
                "udp" => TracePacket::Udp { sport, dport },
                _ => TracePacket::Sctp { sport, dport },
            };
            (p, &["sport", "dport"])
        }
        "icmp" => {
            let ident = match take("ident") {
                None => 0,
                Some(_) => number("ident", 65_535)? as u16,
            };
            let p = TracePacket::Icmp {
                icmp_type: number("type", 255)? as u8,
                code: number("code", 255)? as u8,
                ident,
            };
            (p, &["type", "code", "ident"])
        }
        "rawip" => (
            TracePacket::RawIp {
                protocol: number("proto", 255)? as u8,
            },
            &["proto"],
        ),
        other => {
            return Err(bad(format!(
                "protocol '{}' is not tcp, udp, sctp, icmp or rawip",
                echo(other)
            )));
        }
    };
    const COMMON: [&str; 5] = ["input", "vlan", "protocol", "src", "dst"];
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !COMMON.contains(&k.as_str()) && !own.contains(&k.as_str()))
    {
        return Err(bad(format!(
            "unknown parameter '{}' for a {protocol} trace",
            echo(k)
        )));
    }
    let vlan = match take("vlan") {
        None => 0,
        Some(_) => number("vlan", 4094)? as u16,
    };
    let q = TraceQuery {
        input: need("input")?.to_string(),
        vlan,
        src: address("src")?,
        dst: address("dst")?,
        packet,
    };
    if q.src.is_ipv4() != q.dst.is_ipv4() {
        return Err(bad(
            "the source and destination addresses must both be IPv4 or both IPv6".into(),
        ));
    }
    Ok(q)
}

// === the ASA's words ===

/// What the words of `packet-tracer` ask: the packet, and how to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceWords {
    /// The packet.
    pub query: TraceQuery,
    /// `detailed`.
    pub detailed: bool,
    /// `xml`.
    pub xml: bool,
}

/// A keyword: itself, or a unique prefix of one (the ASA's abbreviations).
fn keyword<'k>(word: &str, keywords: &[&'k str]) -> Option<&'k str> {
    if let Some(k) = keywords.iter().find(|k| **k == word) {
        return Some(k);
    }
    let mut hits = keywords
        .iter()
        .filter(|k| !word.is_empty() && k.starts_with(word));
    match (hits.next(), hits.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

/// Parse the words after `packet-tracer`, as the ASA takes them:
///
/// ```text
/// input IFNAME [vlan-id N] {tcp|udp|sctp} SRC SPORT DST DPORT [detailed] [xml]
/// input IFNAME [vlan-id N] icmp SRC TYPE CODE [IDENT] DST [detailed] [xml]
/// input IFNAME [vlan-id N] rawip SRC PROTOCOL DST [detailed] [xml]
/// ```
///
/// Ports take the ASA's names (`www`, `domain`), ICMP types the names an
/// `icmp` or `icmp6` access-list entry takes (`echo-reply`,
/// `time-exceeded`, `packet-too-big`; by the addresses' family),
/// protocols their names (`gre`, `esp`); keywords may be abbreviated.
pub fn parse_words(words: &[String]) -> Result<TraceWords, String> {
    let mut it = words.iter().map(String::as_str).peekable();
    let mut next = |what: &str| {
        it.next()
            .ok_or_else(|| format!("% Incomplete command: packet-tracer needs {what}"))
    };
    let invalid =
        |w: &str, expected: &str| format!("% Invalid input: \"{w}\" (expected {expected})");
    let w = next("input")?;
    if keyword(w, &["input"]).is_none() {
        return Err(invalid(w, "input"));
    }
    let input = next("the input interface")?.to_string();
    let mut w = next("a protocol")?;
    let mut vlan = 0;
    if keyword(w, &["vlan-id", "tcp", "udp", "sctp", "icmp", "rawip"]) == Some("vlan-id") {
        let v = next("a VLAN id")?;
        vlan = v
            .parse::<u16>()
            .ok()
            .filter(|v| (1..=4094).contains(v))
            .ok_or_else(|| format!("% Invalid VLAN id: \"{v}\" (1-4094)"))?;
        w = next("a protocol")?;
    }
    let protocol = keyword(w, &["tcp", "udp", "sctp", "icmp", "rawip"])
        .ok_or_else(|| invalid(w, "tcp, udp, sctp, icmp or rawip"))?;
    let addr = |w: &str| {
        w.parse::<IpAddr>()
            .map_err(|_| format!("% Invalid address: \"{w}\""))
    };
    let port = |w: &str, names: PortNames| {
        ports::port(w, names).ok_or_else(|| {
            format!(
                "% Invalid port: \"{w}\" (a number 0-65535{})",
                match names {
                    PortNames::Sctp => String::new(),
                    n => format!(" or a {} port name", n.label()),
                }
            )
        })
    };
    let byte = |w: &str, what: &str| {
        w.parse::<u8>()
            .map_err(|_| format!("% Invalid {what}: \"{w}\" (0-255)"))
    };
    let src = addr(next("the source address")?)?;
    let (packet, dst) = match protocol {
        "tcp" | "udp" | "sctp" => {
            let names = match protocol {
                "tcp" => PortNames::Tcp,
                "udp" => PortNames::Udp,
                _ => PortNames::Sctp,
            };
            let sport = port(next("the source port")?, names)?;
            let dst = addr(next("the destination address")?)?;
            let dport = port(next("the destination port")?, names)?;
            let p = match protocol {
                "tcp" => TracePacket::Tcp { sport, dport },
                "udp" => TracePacket::Udp { sport, dport },
                _ => TracePacket::Sctp { sport, dport },
            };
            (p, dst)
        }
        "icmp" => {
            let t = next("the ICMP type")?;
            let v6 = src.is_ipv6();
            // The access-lists' names, of the addresses' family
            // (`echo` is 8 between IPv4 addresses, 128 between IPv6).
            let icmp_type = icmp::icmp_type(t, v6).ok_or_else(|| {
                format!(
                    "% Invalid ICMP type: \"{t}\" (0-255 or an {} type name)",
                    if v6 { "icmp6" } else { "icmp" }
                )
            })?;
            let code = byte(next("the ICMP code")?, "ICMP code")?;
            // An identifier, if the next word is no address.
            let w = next("the destination address")?;
            let (ident, dst) = match w.parse::<u16>() {
                Ok(id) => (id, addr(next("the destination address")?)?),
                Err(_) => (0, addr(w)?),
            };
            let p = TracePacket::Icmp {
                icmp_type,
                code,
                ident,
            };
            (p, dst)
        }
        _ => {
            let p = next("the protocol")?;
            let protocol = match ports::protocol(p) {
                Some(rampart_dataplane::policy::ast::Protocol::Number(n)) => n,
                _ => return Err(format!("% Invalid protocol: \"{p}\" (a name or 0-255)")),
            };
            (
                TracePacket::RawIp { protocol },
                addr(next("the destination address")?)?,
            )
        }
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Err("% The source and destination must both be IPv4 or both IPv6".into());
    }
    let (mut detailed, mut xml) = (false, false);
    for w in it {
        match keyword(w, &["detailed", "xml"]) {
            Some("detailed") => detailed = true,
            Some(_) => xml = true,
            None => return Err(invalid(w, "detailed or xml")),
        }
    }
    Ok(TraceWords {
        query: TraceQuery {
            input,
            vlan,
            src,
            dst,
            packet,
        },
        detailed,
        xml,
    })
}

// === the workers ===

/// One worker's trace: the phases, and whether its table held the flow
/// or its worker owns it.
#[derive(Debug, Clone)]
pub struct WorkerTrace {
    /// The phases and the verdict.
    pub trace: PacketTrace,
    /// Its table holds the packet's flow.
    pub found: bool,
    /// Its worker owns the packet's flow.
    pub owner: bool,
}

/// Trace `q` on one worker's engine (read only).
pub fn worker_trace(w: &WorkerView<'_>, q: &TraceQuery) -> Result<WorkerTrace, OpsError> {
    let engine = &*w.engine;
    let ingress = engine
        .config()
        .interfaces
        .iter()
        .position(|i| i.nameif == q.input)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| {
            OpsError::BadRequest(format!(
                "packet-tracer: this node has no interface named '{}'",
                echo(&q.input)
            ))
        })?;
    let req = TraceRequest {
        ingress: IfaceId(ingress),
        vlan: q.vlan,
        src: q.src,
        dst: q.dst,
        packet: q.packet,
    };
    let trace = engine
        .packet_trace(&req, w.now)
        .map_err(|e| OpsError::BadRequest(format!("packet-tracer: {e}")))?;
    let found = trace
        .steps
        .iter()
        .any(|s| matches!(s, Step::FlowLookup(Lookup::Found { .. })));
    Ok(WorkerTrace {
        found,
        owner: trace.owner,
        trace: describe(engine, &req, &trace, w.worker),
    })
}

/// The node's answer: the trace of the worker whose table holds the flow,
/// else of the worker that owns it, else the first (all run the node's
/// policy). A refusal is every worker's.
pub fn merge(parts: Vec<Result<WorkerTrace, OpsError>>) -> Result<PacketTrace, OpsError> {
    let parts = parts.into_iter().collect::<Result<Vec<_>, _>>()?;
    let pick = parts
        .iter()
        .position(|p| p.found)
        .or_else(|| parts.iter().position(|p| p.owner))
        .unwrap_or(0);
    parts
        .into_iter()
        .nth(pick)
        .map(|p| p.trace)
        .ok_or_else(|| OpsError::Unavailable("no packet workers".into()))
}

#[cfg(test)]
mod tests;
