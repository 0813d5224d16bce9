//! `show conn` and `show conn count`, in the ASA's format (spec/asa.md §3).

use std::net::IpAddr;

use rampart_dataplane::conntrack::{ConnTable, Entry};
use rampart_dataplane::flow::{Endpoint, proto};
use rampart_dataplane::{Engine, Instant};

use crate::duration::{compact, hms};

/// The filters of `show conn [address A] [port P]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnFilter {
    /// Only connections with this address at either end.
    pub address: Option<IpAddr>,
    /// Only connections with this port at either end.
    pub port: Option<u16>,
}

impl ConnFilter {
    /// Whether a connection passes the filter.
    pub fn matches(&self, e: &Entry) -> bool {
        let ends = [e.key.lo, e.key.hi];
        self.address
            .is_none_or(|a| ends.iter().any(|p| p.addr.ip() == a))
            && self
                .port
                .is_none_or(|port| ends.iter().any(|p| p.port == port))
    }
}

/// `47 in use, 715 most used`.
pub fn render_conn_count(table: &ConnTable) -> String {
    format!("{} in use, {} most used\n", table.len(), table.high_water())
}

const FLAG_LEGEND: &str = "Flags: A - awaiting inside ACK to SYN, a - awaiting outside ACK to SYN,
       B - initial SYN from outside, b - TCP state-bypass, D - DNS,
       E - outside back connection, F - outside FIN, f - inside FIN,
       I - inbound data, O - outbound data, R - outside acknowledged FIN,
       r - inside acknowledged FIN, S - awaiting inside SYN,
       s - awaiting outside SYN, U - up
";

fn proto_name(p: u8) -> &'static str {
    match p {
        proto::TCP => "TCP",
        proto::UDP => "UDP",
        proto::ICMP => "ICMP",
        proto::ICMPV6 => "ICMP6",
        _ => "IP",
    }
}

/// One connection as `show conn` prints it, with its sort key, so that
/// the rows of several engines (one per worker) merge into one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnRow {
    /// Creation time, then entry id: oldest first, as the ASA lists them.
    pub order: (Instant, u64),
    /// The printed lines.
    pub text: String,
}

/// The rows of `engine`'s connections that pass `filter`.
pub fn conn_rows(engine: &Engine, now: Instant, filter: &ConnFilter, detail: bool) -> Vec<ConnRow> {
    let ifaces = &engine.config().interfaces;
    engine
        .table()
        .iter()
        .map(|(_, e)| e)
        .filter(|e| !engine.is_expired(e, now) && filter.matches(e))
        .map(|e| {
            // The ASA prints the lower-security side first, whoever initiated.
            let sides = [(e.ingress[0], e.initiator()), (e.ingress[1], e.responder())];
            let level = |i: usize| ifaces[usize::from(sides[i].0.0)].security_level;
            let (a, b) = if level(0) < level(1) {
                (sides[0], sides[1])
            } else {
                (sides[1], sides[0])
            };
            let name = |i: rampart_dataplane::IfaceId| ifaces[usize::from(i.0)].nameif.as_str();
            let bytes = e.bytes[0].saturating_add(e.bytes[1]);
            let idle = now.saturating_since(e.last_seen);
            let p = proto_name(e.key.proto);
            let flags = e.asa_flags();
            let text = if detail {
                let ep = |x: Endpoint| format!("{}/{}", x.addr, x.port);
                format!(
                    "{p} {}: {} {}: {},\n    flags {flags} , idle {}, uptime {}, timeout {}, bytes {bytes}\n  \
                     Initiator: {}, Responder: {}\n  Connection lookup keyid: {}\n  Owner: node {}\n",
                    name(a.0),
                    ep(a.1),
                    name(b.0),
                    ep(b.1),
                    compact(idle),
                    compact(now.saturating_since(e.created)),
                    compact(engine.timeout_of(e)),
                    e.initiator().addr,
                    e.responder().addr,
                    e.id,
                    e.owner.0
                )
            } else {
                format!(
                    "{p} {}  {}:{} {}  {}:{}, idle {}, bytes {bytes}, flags {flags}\n",
                    name(a.0),
                    a.1.addr,
                    a.1.port,
                    name(b.0),
                    b.1.addr,
                    b.1.port,
                    hms(idle),
                )
            };
            ConnRow {
                order: (e.created, u64::from(e.id)),
                text,
            }
        })
        .collect()
}

/// `show conn` from the rows of every engine of a node: the count line
/// (`in_use`, `most_used`), the flag legend with `detail`, then the rows
/// oldest first.
pub fn render_rows(
    in_use: usize,
    most_used: usize,
    mut rows: Vec<ConnRow>,
    detail: bool,
) -> String {
    let mut out = format!("{in_use} in use, {most_used} most used\n");
    if detail {
        out.push_str(FLAG_LEGEND);
    }
    out.push('\n');
    rows.sort_by_key(|r| r.order);
    for r in rows {
        out.push_str(&r.text);
    }
    out
}

/// The connections that pass `filter`, oldest first, as `show conn` (or
/// `show conn detail`) prints them.
pub fn render_show_conn(
    engine: &Engine,
    now: Instant,
    filter: &ConnFilter,
    detail: bool,
) -> String {
    let table = engine.table();
    render_rows(
        table.len(),
        table.high_water(),
        conn_rows(engine, now, filter, detail),
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::policy::compile::{compile, randomization_off};
    use rampart_dataplane::trace::{Side, TcpModel, udp_frame, v4_pair};
    use rampart_dataplane::{EngineConfig, Verdict};
    use std::time::Duration;

    /// A fixed engine state: one established TCP connection with data both
    /// ways, one DNS exchange, one embryonic connection.
    fn engine() -> (Engine, Instant) {
        let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(3), [9; 4])).unwrap();
        let off = compile(&randomization_off(), &eng.config().interfaces).unwrap();
        eng.set_policy(std::sync::Arc::new(off));
        let mut t = Instant::from_secs(500);
        let (c, s) = v4_pair(40_000, 80);
        let mut m = TcpModel::new(c, s, [1, 2], [64_240, 65_160], [Some(7), Some(7)]);
        let mut segs = m.handshake().to_vec();
        segs.push(m.data(Side::Client, 100));
        segs.push(m.data(Side::Server, 1000));
        for seg in &segs {
            let v = eng.process(
                &mut m.frame(seg),
                PacketMeta::default(),
                m.iface(seg.from),
                t,
            );
            assert!(matches!(v, Verdict::Forward { .. }));
        }
        t = t + Duration::from_secs(5);
        let (dc, ds) = v4_pair(5353, 53);
        eng.process(
            &mut udp_frame(&dc, &ds, b"q"),
            PacketMeta::default(),
            dc.iface,
            t,
        );
        eng.process(
            &mut udp_frame(&ds, &dc, b"ans"),
            PacketMeta::default(),
            ds.iface,
            t,
        );
        let (ec, es) = v4_pair(40_001, 443);
        let mut m2 = TcpModel::new(ec, es, [7, 8], [1000, 1000], [None, None]);
        let syn = m2.syn();
        eng.process(&mut m2.frame(&syn), PacketMeta::default(), ec.iface, t);
        (eng, t + Duration::from_secs(21))
    }

    #[test]
    fn show_conn_golden() {
        let (eng, now) = engine();
        let out = render_show_conn(&eng, now, &ConnFilter::default(), false);
        assert_eq!(
            out,
            "3 in use, 3 most used

TCP outside  198.18.1.10:80 inside  198.18.0.10:40000, idle 0:00:26, bytes 1324, flags UIO
UDP outside  198.18.1.10:53 inside  198.18.0.10:5353, idle 0:00:21, bytes 60, flags IOD
TCP outside  198.18.1.10:443 inside  198.18.0.10:40001, idle 0:00:21, bytes 48, flags saA
"
        );
    }

    #[test]
    fn show_conn_filters_by_address_and_port() {
        let (eng, now) = engine();
        let f = ConnFilter {
            address: None,
            port: Some(53),
        };
        let out = render_show_conn(&eng, now, &f, false);
        assert_eq!(out.lines().filter(|l| l.starts_with("UDP")).count(), 1);
        assert_eq!(out.lines().filter(|l| l.starts_with("TCP")).count(), 0);
        let f = ConnFilter {
            address: Some("198.18.9.9".parse().unwrap()),
            port: None,
        };
        assert_eq!(
            render_show_conn(&eng, now, &f, false),
            "3 in use, 3 most used\n\n"
        );
    }

    #[test]
    fn show_conn_detail_golden_line() {
        let (eng, now) = engine();
        let f = ConnFilter {
            address: None,
            port: Some(80),
        };
        let out = render_show_conn(&eng, now, &f, true);
        assert!(
            out.ends_with(
                "TCP outside: 198.18.1.10/80 inside: 198.18.0.10/40000,
    flags UIO , idle 26s, uptime 26s, timeout 1h0m, bytes 1324
  Initiator: 198.18.0.10, Responder: 198.18.1.10
  Connection lookup keyid: 1
  Owner: node 3
"
            ),
            "{out}"
        );
    }

    #[test]
    fn count_golden() {
        let (eng, _) = engine();
        assert_eq!(render_conn_count(eng.table()), "3 in use, 3 most used\n");
    }
}
