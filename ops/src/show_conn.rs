//! `show conn` (plain, `detail`, `long`) and `show conn count`, in the
//! ASA's format (docs/asa-behaviour.md §3).

use rampart_dataplane::conntrack::{ConnTable, Entry};

pub use crate::conn_filter::ConnFilter;
use rampart_dataplane::flow::{Endpoint, proto};
use std::time::Duration;

use rampart_dataplane::{Engine, Instant};

use crate::duration::{compact, hms};
use crate::model::{self, ConnList, ConnSide};

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

/// A connection's protocol as `show conn` names it: the ASA's name where
/// it has one for a protocol the engine tracks (GRE, ESP, AH, SCTP), the
/// number otherwise.
fn proto_name(p: u8) -> String {
    match p {
        proto::TCP => "TCP".into(),
        proto::UDP => "UDP".into(),
        proto::ICMP => "ICMP".into(),
        proto::ICMPV6 => "ICMP6".into(),
        proto::GRE => "GRE".into(),
        proto::ESP => "ESP".into(),
        proto::AH => "AH".into(),
        proto::SCTP => "SCTP".into(),
        n => n.to_string(),
    }
}

/// Most rows one `show conn` returns; beyond, the answer says how many
/// were left out (a table of a million entries is for `count`).
pub const SHOW_CONN_MAX_ROWS: usize = 100_000;

/// Most rows a `show conn` without a token returns (about 3 MB of JSON):
/// its answer is held until its reader takes it, and anyone on the host
/// may ask (docs/ops.md §2).
pub const SHOW_CONN_MAX_ROWS_OPEN: usize = 10_000;

/// The connections of one engine that pass `filter`, oldest first, at most
/// `limit`, as structured rows (the admin API's answer); the second value
/// counts the matching ones left out.
pub fn collect_rows(
    engine: &Engine,
    now: Instant,
    filter: &ConnFilter,
    worker: usize,
    limit: usize,
) -> (Vec<model::ConnRow>, u64) {
    collect_rows_in(engine, now, filter, worker, limit, 0..usize::MAX)
}

/// [`collect_rows`] over the table slots in `slots` only, so a long walk
/// can be taken in slices between packet batches.
pub fn collect_rows_in(
    engine: &Engine,
    now: Instant,
    filter: &ConnFilter,
    worker: usize,
    limit: usize,
    slots: std::ops::Range<usize>,
) -> (Vec<model::ConnRow>, u64) {
    let matcher = filter.resolve(&engine.config().interfaces);
    collect_rows_where(engine, now, |e| matcher.matches(e), worker, limit, slots)
}

/// [`collect_rows_in`] of the connections `wanted` passes.
pub fn collect_rows_where(
    engine: &Engine,
    now: Instant,
    wanted: impl Fn(&Entry) -> bool,
    worker: usize,
    limit: usize,
    slots: std::ops::Range<usize>,
) -> (Vec<model::ConnRow>, u64) {
    let table = engine.table();
    let end = slots.end.min(table.slot_count());
    let mut entries: Vec<&Entry> = (slots.start.min(end)..end)
        .filter_map(|i| table.try_get(rampart_dataplane::conntrack::FlowId(i as u32)))
        .filter(|e| !engine.is_expired(e, now) && wanted(e))
        .collect();
    entries.sort_by_key(|e| (e.created, e.id));
    let left_out = entries.len().saturating_sub(limit) as u64;
    entries.truncate(limit);
    let ifaces = &engine.config().interfaces;
    let side = |(iface, ep): (rampart_dataplane::IfaceId, Endpoint)| ConnSide {
        interface: ifaces
            .get(usize::from(iface.0))
            .map_or_else(|| format!("if{}", iface.0), |i| i.nameif.clone()),
        addr: ep.addr.ip(),
        port: ep.port,
    };
    let level = |i: rampart_dataplane::IfaceId| {
        ifaces.get(usize::from(i.0)).map_or(0, |i| i.security_level)
    };
    let rows = entries
        .into_iter()
        .map(|e| {
            // The ASA prints the lower-security side first, whoever initiated.
            let sides = [(e.ingress[0], e.initiator()), (e.ingress[1], e.responder())];
            let (lower, higher) = if level(sides[0].0) < level(sides[1].0) {
                (sides[0], sides[1])
            } else {
                (sides[1], sides[0])
            };
            model::ConnRow {
                protocol: proto_name(e.key.proto),
                lower: side(lower),
                higher: side(higher),
                initiator: e.initiator().addr.ip(),
                responder: e.responder().addr.ip(),
                flags: e.asa_flags().to_string(),
                idle_s: now.saturating_since(e.last_seen).as_secs(),
                uptime_s: now.saturating_since(e.created).as_secs(),
                timeout_s: engine.timeout_of(e).as_secs(),
                bytes: e.total_bytes(),
                id: e.id,
                owner: e.owner.0,
                vlan: e.key.vlan,
                worker,
                created_ns: e.created.as_nanos(),
            }
        })
        .collect();
    (rows, left_out)
}

/// How `show conn` prints each connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnFormat {
    /// One line each (`show conn`).
    #[default]
    Plain,
    /// `show conn detail`: the flag legend, then several lines each.
    Detail,
    /// `show conn long`: the flag legend, then each connection with both
    /// interfaces, real and mapped addresses, and its initiator.
    Long,
}

/// One connection's lines, as `show conn` (or `show conn detail`) prints it.
/// A connection of a VLAN names it (`, vlan 10`; detail: `VLAN: 10`); an
/// untagged one prints as on the ASA.
pub fn render_row(r: &model::ConnRow, detail: bool) -> String {
    let format = if detail {
        ConnFormat::Detail
    } else {
        ConnFormat::Plain
    };
    render_row_as(r, format)
}

/// One connection's lines in `format`. `long` prints each endpoint's
/// mapped address after its real one (the same: Rampart translates no
/// address) and leaves out the ASA's `xlate id` and `flow id`
/// (docs/asa-behaviour.md §3.3).
pub fn render_row_as(r: &model::ConnRow, format: ConnFormat) -> String {
    let (a, b) = (&r.lower, &r.higher);
    let (p, flags, bytes) = (&r.protocol, &r.flags, r.bytes);
    let (idle, uptime, timeout) = (
        compact(Duration::from_secs(r.idle_s)),
        compact(Duration::from_secs(r.uptime_s)),
        compact(Duration::from_secs(r.timeout_s)),
    );
    match format {
        ConnFormat::Detail => {
            let vlan = match r.vlan {
                0 => String::new(),
                v => format!("  VLAN: {v}\n"),
            };
            format!(
                "{p} {}: {}/{} {}: {}/{},\n    flags {flags} , idle {idle}, uptime {uptime}, timeout {timeout}, bytes {bytes}\n  \
                 Initiator: {}, Responder: {}\n  Connection lookup keyid: {}\n  Owner: node {}\n{vlan}",
                a.interface,
                a.addr,
                a.port,
                b.interface,
                b.addr,
                b.port,
                r.initiator,
                r.responder,
                r.id,
                r.owner
            )
        }
        ConnFormat::Long => {
            let vlan = match r.vlan {
                0 => String::new(),
                v => format!(", vlan {v}"),
            };
            let end = |s: &model::ConnSide| {
                format!(
                    "{}: {}/{} ({}/{})",
                    s.interface, s.addr, s.port, s.addr, s.port
                )
            };
            format!(
                "{p} {} {}, flags {flags} , idle {idle}, uptime {uptime}, timeout {timeout}, bytes {bytes}{vlan}\n  \
                 Initiator: {}, Responder: {}\n",
                end(a),
                end(b),
                r.initiator,
                r.responder,
            )
        }
        ConnFormat::Plain => {
            let vlan = match r.vlan {
                0 => String::new(),
                v => format!(", vlan {v}"),
            };
            format!(
                "{p} {}  {}:{} {}  {}:{}, idle {}, bytes {bytes}, flags {flags}{vlan}\n",
                a.interface,
                a.addr,
                a.port,
                b.interface,
                b.addr,
                b.port,
                hms(Duration::from_secs(r.idle_s)),
            )
        }
    }
}

/// `show conn` (or `show conn detail`) from the admin API's answer.
pub fn render_conn_list(list: &ConnList, detail: bool) -> String {
    let format = if detail {
        ConnFormat::Detail
    } else {
        ConnFormat::Plain
    };
    render_conn_list_as(list, format)
}

/// `show conn` in `format` from the admin API's answer.
pub fn render_conn_list_as(list: &ConnList, format: ConnFormat) -> String {
    let mut out = render_count(list);
    if format != ConnFormat::Plain {
        out.push_str(FLAG_LEGEND);
    }
    out.push('\n');
    for r in &list.conns {
        out.push_str(&render_row_as(r, format));
    }
    if list.truncated > 0 {
        out.push_str(&format!(
            "({} more connection(s) not shown; narrow with a filter: address, port, protocol, \
             interface, state)\n",
            list.truncated
        ));
    }
    out
}

/// `47 in use, 715 most used` from a list's counts.
pub fn render_count(list: &ConnList) -> String {
    format!("{} in use, {} most used\n", list.in_use, list.most_used)
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

/// The printed rows of `engine`'s connections that pass `filter`.
pub fn conn_rows(engine: &Engine, now: Instant, filter: &ConnFilter, detail: bool) -> Vec<ConnRow> {
    collect_rows(engine, now, filter, 0, usize::MAX)
        .0
        .iter()
        .map(|r| printed(r, detail))
        .collect()
}

/// A structured row as `show conn` prints it, with its sort key.
pub fn printed(r: &model::ConnRow, detail: bool) -> ConnRow {
    ConnRow {
        order: (Instant::from_nanos(r.created_ns), u64::from(r.id)),
        text: render_row(r, detail),
    }
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

/// The connections of one engine that pass `filter`, oldest first, as
/// `show conn` (or `show conn detail`) prints them.
pub fn render_show_conn(
    engine: &Engine,
    now: Instant,
    filter: &ConnFilter,
    detail: bool,
) -> String {
    let (conns, truncated) = collect_rows(engine, now, filter, 0, SHOW_CONN_MAX_ROWS);
    let list = ConnList {
        in_use: engine.table().len() as u64,
        most_used: engine.table().high_water() as u64,
        conns,
        truncated,
    };
    render_conn_list(&list, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::policy::compile::{compile, randomization_off};
    use rampart_dataplane::trace::{Side, TcpModel, udp_frame, v4_pair};
    use rampart_dataplane::{EngineConfig, Verdict};

    /// A fixed engine state: one established TCP connection with data both
    /// ways, one DNS exchange, one embryonic connection.
    fn engine() -> (Engine, Instant) {
        let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(3), [9; 4])).unwrap();
        let off = compile(&randomization_off(), &eng.config().interfaces).unwrap();
        eng.set_policy(std::sync::Arc::new(off))
            .expect("the policy's classes fit");
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
        let f = ConnFilter::address_port(None, Some(53));
        let out = render_show_conn(&eng, now, &f, false);
        assert_eq!(out.lines().filter(|l| l.starts_with("UDP")).count(), 1);
        assert_eq!(out.lines().filter(|l| l.starts_with("TCP")).count(), 0);
        let f = ConnFilter::address_port(Some("198.18.9.9".parse().unwrap()), None);
        assert_eq!(
            render_show_conn(&eng, now, &f, false),
            "3 in use, 3 most used\n\n"
        );
    }

    #[test]
    fn show_conn_detail_golden_line() {
        let (eng, now) = engine();
        let f = ConnFilter::address_port(None, Some(80));
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

    /// `long`: both interfaces, each endpoint's real then mapped address
    /// (the same, without NAT), the timers and the initiator, after the
    /// flag legend; a tagged connection names its VLAN at the line's end.
    #[test]
    fn show_conn_long_golden() {
        let (mut eng, now) = engine();
        let (c, s) = v4_pair(5353, 53);
        let mut query = rampart_dataplane::trace::vlan_tagged(udp_frame(&c, &s, b"q"), 0, 300);
        eng.process(&mut query, PacketMeta::default(), c.iface, now);
        let (conns, truncated) = collect_rows(&eng, now, &ConnFilter::default(), 0, 10);
        let list = ConnList {
            in_use: 4,
            most_used: 4,
            conns,
            truncated,
        };
        let out = render_conn_list_as(&list, ConnFormat::Long);
        assert!(
            out.starts_with(&format!("4 in use, 4 most used\n{FLAG_LEGEND}\n")),
            "{out}"
        );
        assert!(
            out.ends_with(
                "TCP outside: 198.18.1.10/80 (198.18.1.10/80) inside: 198.18.0.10/40000 (198.18.0.10/40000), \
                 flags UIO , idle 26s, uptime 26s, timeout 1h0m, bytes 1324
  Initiator: 198.18.0.10, Responder: 198.18.1.10
UDP outside: 198.18.1.10/53 (198.18.1.10/53) inside: 198.18.0.10/5353 (198.18.0.10/5353), \
                 flags IOD , idle 21s, uptime 21s, timeout 2m0s, bytes 60
  Initiator: 198.18.0.10, Responder: 198.18.1.10
TCP outside: 198.18.1.10/443 (198.18.1.10/443) inside: 198.18.0.10/40001 (198.18.0.10/40001), \
                 flags saA , idle 21s, uptime 21s, timeout 30s, bytes 48
  Initiator: 198.18.0.10, Responder: 198.18.1.10
UDP outside: 198.18.1.10/53 (198.18.1.10/53) inside: 198.18.0.10/5353 (198.18.0.10/5353), \
                 flags OD , idle 0s, uptime 0s, timeout 2m0s, bytes 29, vlan 300
  Initiator: 198.18.0.10, Responder: 198.18.1.10
"
            ),
            "{out}"
        );
    }

    /// The ASA's filters combine: protocol, a port range, the interface and
    /// a state list.
    #[test]
    fn show_conn_filters_combine() {
        use crate::conn_filter::ConnState;
        let (eng, now) = engine();
        let f = ConnFilter {
            protocol: Some(6),
            port: Some(1),
            port_to: Some(442),
            interface: Some("inside".into()),
            ..ConnFilter::default()
        };
        let out = render_show_conn(&eng, now, &f, false);
        assert_eq!(
            out.lines().filter(|l| l.starts_with("TCP")).count(),
            1,
            "{out}"
        );
        assert!(out.contains(":80 inside"), "{out}");
        let f = ConnFilter {
            states: vec![ConnState::TcpEmbryonic],
            ..ConnFilter::default()
        };
        let out = render_show_conn(&eng, now, &f, false);
        assert!(out.ends_with("flags saA\n"), "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");
    }

    /// A tagged connection names its VLAN; the untagged rows stay the ASA's.
    #[test]
    fn a_vlan_connection_names_its_vlan() {
        let (mut eng, now) = engine();
        let (c, s) = v4_pair(5353, 53);
        let mut query = rampart_dataplane::trace::vlan_tagged(udp_frame(&c, &s, b"q"), 0, 300);
        let v = eng.process(&mut query, PacketMeta::default(), c.iface, now);
        assert!(matches!(v, Verdict::Forward { .. }));
        let f = ConnFilter::address_port(None, Some(53));
        let out = render_show_conn(&eng, now, &f, false);
        assert!(
            out.ends_with(
                "UDP outside  198.18.1.10:53 inside  198.18.0.10:5353, idle 0:00:21, bytes 60, flags IOD
UDP outside  198.18.1.10:53 inside  198.18.0.10:5353, idle 0:00:00, bytes 29, flags OD, vlan 300
"
            ),
            "{out}"
        );
        let out = render_show_conn(&eng, now, &f, true);
        assert!(out.ends_with("  Owner: node 3\n  VLAN: 300\n"), "{out}");
    }

    #[test]
    fn count_golden() {
        let (eng, _) = engine();
        assert_eq!(render_conn_count(eng.table()), "3 in use, 3 most used\n");
    }

    /// Other IP protocols by the ASA's name or their number, with ports 0
    /// (SCTP's own); `detail` gives each its protocol's idle timeout (2
    /// minutes, ESP's 30 s).
    #[test]
    fn other_protocols_by_name_or_number() {
        use rampart_dataplane::trace::{ip_frame, sctp_header};
        let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(3), [9; 4])).unwrap();
        let off = compile(&randomization_off(), &eng.config().interfaces).unwrap();
        eng.set_policy(std::sync::Arc::new(off))
            .expect("the policy's classes fit");
        let t = Instant::from_secs(500);
        let (c, s) = v4_pair(40_000, 2905);
        for (p, payload) in [
            (47, vec![0, 0, 0x08, 0]),
            (50, vec![0, 0, 1, 0, 0, 0, 0, 1]),
            (132, sctp_header(&c, &s)),
            (115, vec![]),
        ] {
            let v = eng.process(
                &mut ip_frame(&c, &s, p, &payload),
                PacketMeta::default(),
                c.iface,
                t,
            );
            assert!(matches!(v, Verdict::Forward { .. }), "{p}: {v:?}");
        }
        let now = t + Duration::from_secs(3);
        assert_eq!(
            render_show_conn(&eng, now, &ConnFilter::default(), false),
            "4 in use, 4 most used

GRE outside  198.18.1.10:0 inside  198.18.0.10:0, idle 0:00:03, bytes 24, flags O
ESP outside  198.18.1.10:0 inside  198.18.0.10:0, idle 0:00:03, bytes 28, flags O
SCTP outside  198.18.1.10:2905 inside  198.18.0.10:40000, idle 0:00:03, bytes 32, flags O
115 outside  198.18.1.10:0 inside  198.18.0.10:0, idle 0:00:03, bytes 20, flags O
"
        );
        let f = ConnFilter::address_port(None, Some(2905));
        let detail = render_show_conn(&eng, now, &f, true);
        assert!(
            detail.ends_with(
                "SCTP outside: 198.18.1.10/2905 inside: 198.18.0.10/40000,
    flags O , idle 3s, uptime 3s, timeout 2m0s, bytes 32
  Initiator: 198.18.0.10, Responder: 198.18.1.10
  Connection lookup keyid: 3
  Owner: node 3
"
            ),
            "{detail}"
        );
        let all = render_show_conn(&eng, now, &ConnFilter::default(), true);
        assert!(
            all.contains("ESP outside: 198.18.1.10/0 inside: 198.18.0.10/0,\n    flags O , idle 3s, uptime 3s, timeout 30s, bytes 28\n"),
            "{all}"
        );
    }
}
