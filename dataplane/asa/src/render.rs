//! `show running-config`: a [`Config`] back to ASA text, in the ASA's order
//! and forms, such that parsing the text gives the same [`Config`].

use std::fmt::Write as _;
use std::time::Duration;

use crate::ast::*;
use crate::icmp;
use crate::ports::{self, PortNames};

mod names;
mod time;
pub use time::{absolute, periodic};

/// `H:MM:SS`, as the ASA prints times.
pub(crate) fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn port_match(m: &PortMatch, p: PortNames) -> String {
    let n = |x: u16| ports::port_name(x, p);
    match *m {
        PortMatch::Eq(x) => format!("eq {}", n(x)),
        PortMatch::Neq(x) => format!("neq {}", n(x)),
        PortMatch::Lt(x) => format!("lt {}", n(x)),
        PortMatch::Gt(x) => format!("gt {}", n(x)),
        PortMatch::Range(a, b) => format!("range {} {}", n(a), n(b)),
    }
}

/// `TYPE [CODE]`, the type by its ASA name where its family has one.
fn icmp_match(m: &IcmpMatch, v6: bool) -> String {
    let t = icmp::icmp_type_name(m.icmp_type, v6);
    match m.code {
        Some(code) => format!("{t} {code}"),
        None => t,
    }
}

fn network_value(v: &NetworkValue, object: bool, shown: &names::Shown<'_>) -> String {
    let sub = if object { "subnet " } else { "" };
    match v {
        NetworkValue::Host(a) => match shown.ip(*a) {
            Some(n) => format!("host {n}"),
            None => format!("host {a}"),
        },
        NetworkValue::V4Subnet(a, m) => match shown.v4(*a) {
            Some(n) => format!("{sub}{n} {m}"),
            None => format!("{sub}{a} {m}"),
        },
        NetworkValue::V6Subnet(a, l) => format!("{sub}{a}/{l}"),
        NetworkValue::Range(a, b) => format!("range {a} {b}"),
    }
}

fn service_value(v: &ServiceValue) -> String {
    let mut s = ports::protocol_name(v.protocol);
    // The parser keeps ports only for protocols that have them.
    let pp = ports::port_names(v.protocol).unwrap_or(PortNames::Tcp);
    if let Some(m) = &v.source {
        let _ = write!(s, " source {}", port_match(m, pp));
    }
    if let Some(m) = &v.destination {
        let _ = write!(s, " destination {}", port_match(m, pp));
    }
    // The parser keeps a type only in an icmp or icmp6 service.
    if let Some(m) = &v.icmp {
        let v6 = v.protocol == Protocol::Number(58);
        let _ = write!(s, " {}", icmp_match(m, v6));
    }
    s
}

/// Write `a` to `out`, as [`ace`] prints it. Into one buffer: a policy
/// renders every entry when it is compiled (`show access-list` keys each
/// entry's hit count by its text), 20,000 for a large one.
fn write_addr(out: &mut String, a: &AddrSpec, shown: &names::Shown<'_>) {
    let _ = match a {
        AddrSpec::Any => write!(out, "any"),
        AddrSpec::Any4 => write!(out, "any4"),
        AddrSpec::Any6 => write!(out, "any6"),
        AddrSpec::Host(ip) => match shown.ip(*ip) {
            Some(n) => write!(out, "host {n}"),
            None => write!(out, "host {ip}"),
        },
        AddrSpec::V4Net(a, m) => match shown.v4(*a) {
            Some(n) => write!(out, "{n} {m}"),
            None => write!(out, "{a} {m}"),
        },
        AddrSpec::V6Net(a, l) => write!(out, "{a}/{l}"),
        AddrSpec::Object(n) => write!(out, "object {n}"),
        AddrSpec::Group(n) => write!(out, "object-group {n}"),
        AddrSpec::Interface(n) => write!(out, "interface {n}"),
    };
}

fn ace(a: &Ace, shown: &names::Shown<'_>) -> String {
    let mut s = String::with_capacity(64);
    s.push_str(match a.action {
        Action::Permit => "extended permit ",
        Action::Deny => "extended deny ",
    });
    let pp = match &a.protocol {
        ProtoSpec::Protocol(p) => {
            s.push_str(&ports::protocol_name(*p));
            ports::port_names(*p).unwrap_or(PortNames::Tcp)
        }
        ProtoSpec::Object(n) => {
            let _ = write!(s, "object {n}");
            PortNames::Tcp
        }
        // Ports after a protocol group take names both tcp and udp share.
        ProtoSpec::Group(n) => {
            let _ = write!(s, "object-group {n}");
            PortNames::TcpUdp
        }
    };
    let port = |s: &mut String, p: &Option<PortSpec>| {
        let _ = match p {
            None => Ok(()),
            Some(PortSpec::Match(m)) => write!(s, " {}", port_match(m, pp)),
            Some(PortSpec::Group(n)) => write!(s, " object-group {n}"),
        };
    };
    s.push(' ');
    write_addr(&mut s, &a.source, shown);
    port(&mut s, &a.source_port);
    s.push(' ');
    write_addr(&mut s, &a.destination, shown);
    port(&mut s, &a.destination_port);
    if let Some(i) = &a.icmp {
        // The parser keeps a type only after icmp or icmp6.
        let v6 = a.protocol == ProtoSpec::Protocol(Protocol::Number(58));
        let _ = match i {
            IcmpSpec::Match(m) => write!(s, " {}", icmp_match(m, v6)),
            IcmpSpec::Group(n) => write!(s, " object-group {n}"),
        };
    }
    match a.log {
        AceLog::Default => {}
        AceLog::On => s.push_str(" log"),
        AceLog::Disable => s.push_str(" log disable"),
    }
    if let Some(t) = &a.time_range {
        let _ = write!(s, " time-range {t}");
    }
    if a.inactive {
        s.push_str(" inactive");
    }
    s
}

fn ethertype_ace(a: &EthertypeAce) -> String {
    let action = match a.action {
        Action::Permit => "permit",
        Action::Deny => "deny",
    };
    let what = match &a.ethertype {
        Ethertype::Any => "any".to_string(),
        Ethertype::Keyword(k) => k.clone(),
        Ethertype::Dsap(d) => format!("dsap {d}"),
        Ethertype::Number(n) => format!("{n:x}"),
    };
    format!("ethertype {action} {what}")
}

/// A line of an access-list as `show running-config` prints it after
/// `access-list NAME `: `remark TEXT` or `extended permit …` (the text
/// `show access-list` shows and keys each entry's hit count by). Addresses
/// are printed as addresses, named or not, so a `name` line changes no key.
pub fn acl_line(l: &AclLine) -> String {
    acl_line_shown(l, &names::Shown::default())
}

/// [`acl_line`] as `show running-config` prints it under `names`: an
/// address that has a name printed as the name, while names are on
/// (`packet-tracer` prints the entry that decided so).
pub fn acl_line_named(l: &AclLine, names: &Names) -> String {
    acl_line_shown(l, &names::Shown::of(names))
}

/// [`acl_line`] with the names `show running-config` prints.
fn acl_line_shown(l: &AclLine, shown: &names::Shown<'_>) -> String {
    match l {
        AclLine::Remark(t) => format!("remark {t}"),
        AclLine::Ace(e) => ace(e, shown),
    }
}

/// A line of an EtherType access-list as `show running-config` prints it
/// after `access-list NAME `: `remark TEXT` or `ethertype deny any`.
pub fn ethertype_line(l: &EthertypeLine) -> String {
    match l {
        EthertypeLine::Remark(t) => format!("remark {t}"),
        EthertypeLine::Ace(e) => ethertype_ace(e),
    }
}

fn settings(out: &mut String, s: &ConnectionSettings) {
    let mut limits = String::new();
    for (kw, v) in [
        ("conn-max", s.conn_max),
        ("embryonic-conn-max", s.embryonic_conn_max),
        ("per-client-embryonic-max", s.per_client_embryonic_max),
        ("per-client-max", s.per_client_max),
    ] {
        if let Some(v) = v {
            let _ = write!(limits, " {kw} {v}");
        }
    }
    if let Some(r) = s.random_sequence_number {
        let _ = write!(
            limits,
            " random-sequence-number {}",
            if r { "enable" } else { "disable" }
        );
    }
    if !limits.is_empty() {
        let _ = writeln!(out, "  set connection{limits}");
    }
    let mut t = String::new();
    if let Some(d) = s.timeout_embryonic {
        let _ = write!(t, " embryonic {}", hms(d));
    }
    if let Some(d) = s.timeout_half_closed {
        let _ = write!(t, " half-closed {}", hms(d));
    }
    if let Some(d) = s.timeout_idle {
        let _ = write!(
            t,
            " idle {}{}",
            hms(d),
            if s.idle_reset { " reset" } else { "" }
        );
    }
    if let Some(d) = s.dcd {
        let _ = write!(t, " dcd {} {}", hms(d.retry_interval), d.max_retries);
    }
    if !t.is_empty() {
        let _ = writeln!(out, "  set connection timeout{t}");
    }
    if s.tcp_state_bypass {
        let _ = writeln!(out, "  set connection advanced-options tcp-state-bypass");
    }
}

/// `tcp-map NAME` with its lines that differ from the ASA's defaults, in
/// the order of the Command Reference's sub-commands (docs/asa-behaviour.md
/// §6.1).
fn tcp_map(out: &mut String, m: &TcpMap) {
    let _ = writeln!(out, "tcp-map {}", m.name);
    let word = |a: TcpOptionAction| match a {
        TcpOptionAction::Allow => "allow",
        TcpOptionAction::Clear => "clear",
        TcpOptionAction::Drop => "drop",
    };
    if m.checksum_verification {
        out.push_str("  checksum-verification\n");
    }
    if m.exceed_mss_drop {
        out.push_str("  exceed-mss drop\n");
    }
    if let Some(q) = m.queue_limit {
        let _ = match q.timeout_secs {
            Some(t) => writeln!(out, "  queue-limit {} timeout {t}", q.packets),
            None => writeln!(out, "  queue-limit {}", q.packets),
        };
    }
    if m.reserved_bits != TcpOptionAction::Allow {
        let _ = writeln!(out, "  reserved-bits {}", word(m.reserved_bits));
    }
    if m.syn_data_drop {
        out.push_str("  syn-data drop\n");
    }
    if m.synack_data_allow {
        out.push_str("  synack-data allow\n");
    }
    for r in &m.ranges {
        let _ = writeln!(
            out,
            "  tcp-options range {} {} {}",
            r.lower,
            r.upper,
            word(r.action)
        );
    }
    for (clear, name) in [
        (m.selective_ack_clear, "selective-ack"),
        (m.timestamp_clear, "timestamp"),
        (m.window_scale_clear, "window-scale"),
    ] {
        if clear {
            let _ = writeln!(out, "  tcp-options {name} clear");
        }
    }
    if m.ttl_evasion_protection_off {
        out.push_str("  no ttl-evasion-protection\n");
    }
    if m.urgent_flag_allow {
        out.push_str("  urgent-flag allow\n");
    }
    out.push_str("!\n");
}

/// `fragment size|chain|timeout N [IF]`: the lines set, the ones without an
/// interface first, then each interface's by nameif (values at the ASA's
/// default are no line, docs/asa-behaviour.md §2.8).
fn fragment(out: &mut String, f: &FragmentConfig) {
    let scopes = std::iter::once(("", &f.global))
        .chain(f.interfaces.iter().map(|(name, s)| (name.as_str(), s)));
    for (name, s) in scopes {
        let space = if name.is_empty() { "" } else { " " };
        for (kw, v) in [("size", s.size), ("chain", s.chain), ("timeout", s.timeout)] {
            if let Some(v) = v {
                let _ = writeln!(out, "fragment {kw} {v}{space}{name}");
            }
        }
    }
}

/// `sysopt connection tcpmss [minimum] N`: the values set (a value at the
/// ASA's default is no line: `show running-config` prints it only with
/// `all`, docs/asa-behaviour.md §6.3).
fn tcpmss(out: &mut String, t: &TcpMss) {
    if let Some(v) = t.maximum {
        let _ = writeln!(out, "sysopt connection tcpmss {v}");
    }
    if let Some(v) = t.minimum {
        let _ = writeln!(out, "sysopt connection tcpmss minimum {v}");
    }
}

/// Render a configuration as `show running-config` prints it.
pub fn render(cfg: &Config) -> String {
    let mut out = String::new();
    let shown = names::Shown::of(&cfg.names);
    names::lines(&mut out, &cfg.names);
    for i in &cfg.interfaces {
        let _ = writeln!(out, "interface {}", i.hardware);
        if let Some(n) = &i.nameif {
            let _ = writeln!(out, " nameif {n}");
        }
        if let Some(l) = i.security_level {
            let _ = writeln!(out, " security-level {l}");
        }
        if i.shutdown {
            out.push_str(" shutdown\n");
        }
        if i.management_only {
            out.push_str(" management-only\n");
        }
        out.push_str("!\n");
    }
    time::clock(&mut out, &cfg.clock);
    if cfg.same_security_inter_interface {
        out.push_str("same-security-traffic permit inter-interface\n");
    }
    for o in &cfg.objects {
        match o {
            Object::Network { name, value } => {
                let _ = writeln!(
                    out,
                    "object network {name}\n {}",
                    network_value(value, true, &names::Shown::default())
                );
            }
            Object::Service { name, value } => {
                let _ = writeln!(
                    out,
                    "object service {name}\n service {}",
                    service_value(value)
                );
            }
        }
    }
    for g in &cfg.object_groups {
        match g {
            ObjectGroup::Network { name, members } => {
                let _ = writeln!(out, "object-group network {name}");
                for m in members {
                    let _ = match m {
                        NetworkMember::Address(v) => {
                            writeln!(out, " network-object {}", network_value(v, false, &shown))
                        }
                        NetworkMember::Object(n) => writeln!(out, " network-object object {n}"),
                        NetworkMember::Group(n) => writeln!(out, " group-object {n}"),
                    };
                }
            }
            ObjectGroup::Service {
                name,
                protocol,
                members,
            } => {
                let proto = match protocol {
                    None => "",
                    Some(PortProtocol::Tcp) => " tcp",
                    Some(PortProtocol::Udp) => " udp",
                    Some(PortProtocol::TcpUdp) => " tcp-udp",
                };
                let _ = writeln!(out, "object-group service {name}{proto}");
                for m in members {
                    let _ = match m {
                        ServiceMember::Port(pm) => {
                            writeln!(
                                out,
                                " port-object {}",
                                port_match(pm, protocol.unwrap_or(PortProtocol::Tcp).into())
                            )
                        }
                        ServiceMember::Service(v) => {
                            writeln!(out, " service-object {}", service_value(v))
                        }
                        ServiceMember::Object(n) => writeln!(out, " service-object object {n}"),
                        ServiceMember::Group(n) => writeln!(out, " group-object {n}"),
                    };
                }
            }
            ObjectGroup::Protocol { name, members } => {
                let _ = writeln!(out, "object-group protocol {name}");
                for m in members {
                    let _ = match m {
                        ProtocolMember::Protocol(p) => {
                            writeln!(out, " protocol-object {}", ports::protocol_name(*p))
                        }
                        ProtocolMember::Group(n) => writeln!(out, " group-object {n}"),
                    };
                }
            }
            ObjectGroup::IcmpType { name, members } => {
                let _ = writeln!(out, "object-group icmp-type {name}");
                for m in members {
                    let _ = match m {
                        IcmpTypeMember::Type(t) => {
                            writeln!(out, " icmp-object {}", icmp::icmp_type_name(*t, false))
                        }
                        IcmpTypeMember::Group(n) => writeln!(out, " group-object {n}"),
                    };
                }
            }
        }
    }
    time::time_ranges(&mut out, &cfg.time_ranges);
    for a in &cfg.access_lists {
        for l in &a.lines {
            let _ = writeln!(out, "access-list {} {}", a.name, acl_line_shown(l, &shown));
        }
    }
    for a in &cfg.ethertype_lists {
        for l in &a.lines {
            let _ = writeln!(out, "access-list {} {}", a.name, ethertype_line(l));
        }
    }
    for g in cfg.access_groups.iter().chain(&cfg.ethertype_groups) {
        let _ = writeln!(out, "access-group {} in interface {}", g.acl, g.interface);
    }
    for g in &cfg.access_groups_out {
        let _ = writeln!(out, "access-group {} out interface {}", g.acl, g.interface);
    }
    if let Some(acl) = &cfg.global_access_group {
        let _ = writeln!(out, "access-group {acl} global");
    }
    // As the ASA prints them, several to a line.
    let t = &cfg.timeouts;
    let timeouts: Vec<String> = [
        ("conn", t.conn),
        ("half-closed", t.half_closed),
        ("udp", t.udp),
        ("icmp", t.icmp),
    ]
    .into_iter()
    .filter_map(|(name, d)| d.map(|d| format!("{name} {}", hms(d))))
    .collect();
    if !timeouts.is_empty() {
        let _ = writeln!(out, "timeout {}", timeouts.join(" "));
    }
    fragment(&mut out, &cfg.fragment);
    tcpmss(&mut out, &cfg.tcpmss);
    for m in &cfg.tcp_maps {
        tcp_map(&mut out, m);
    }
    for m in &cfg.class_maps {
        let _ = writeln!(out, "class-map {}", m.name);
        if let Some(d) = &m.description {
            let _ = writeln!(out, " description {d}");
        }
        let _ = match &m.matcher {
            None => Ok(()),
            Some(ClassMatch::AccessList(n)) => writeln!(out, " match access-list {n}"),
            Some(ClassMatch::Any) => writeln!(out, " match any"),
            Some(ClassMatch::DefaultInspectionTraffic) => {
                writeln!(out, " match default-inspection-traffic")
            }
            Some(ClassMatch::Port(p, pm)) => {
                let proto = if *p == PortProtocol::Udp {
                    "udp"
                } else {
                    "tcp"
                };
                writeln!(out, " match port {proto} {}", port_match(pm, (*p).into()))
            }
        };
        out.push_str("!\n");
    }
    for p in &cfg.policy_maps {
        let _ = writeln!(out, "policy-map {}", p.name);
        for c in &p.classes {
            let _ = writeln!(out, " class {}", c.class);
            settings(&mut out, &c.connection);
            if let Some(m) = &c.tcp_map {
                let _ = writeln!(out, "  set connection advanced-options {m}");
            }
            for i in &c.inspects {
                let _ = writeln!(out, "  inspect {i}");
            }
        }
        out.push_str("!\n");
    }
    for s in &cfg.service_policies {
        let _ = match &s.scope {
            ServiceScope::Global => writeln!(out, "service-policy {} global", s.policy_map),
            ServiceScope::Interface(i) => {
                writeln!(out, "service-policy {} interface {i}", s.policy_map)
            }
        };
    }
    out
}

/// A capture's `match` clause as `show capture` prints it:
/// `match tcp host 198.18.0.1 any eq www`.
pub fn capture_match(m: &crate::parse::CaptureMatch) -> String {
    let mut s = String::from("match ");
    s.push_str(&ports::protocol_name(m.protocol));
    let pp = ports::port_names(m.protocol).unwrap_or(PortNames::Tcp);
    s.push(' ');
    write_addr(&mut s, &m.source, &names::Shown::default());
    if let Some(p) = &m.source_port {
        let _ = write!(s, " {}", port_match(p, pp));
    }
    s.push(' ');
    write_addr(&mut s, &m.destination, &names::Shown::default());
    if let Some(p) = &m.destination_port {
        let _ = write!(s, " {}", port_match(p, pp));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_lines_print_global_first_then_by_interface() {
        let mut f = FragmentConfig {
            global: FragmentSettings {
                size: None,
                chain: Some(1),
                timeout: Some(9),
            },
            ..FragmentConfig::default()
        };
        for (name, size, chain) in [("outside", None, Some(24)), ("dmz", Some(1000), None)] {
            f.interfaces.insert(
                name.into(),
                FragmentSettings {
                    size,
                    chain,
                    timeout: None,
                },
            );
        }
        let mut out = String::new();
        fragment(&mut out, &f);
        assert_eq!(
            out,
            "fragment chain 1\nfragment timeout 9\nfragment size 1000 dmz\nfragment chain 24 outside\n"
        );
        let mut out = String::new();
        fragment(&mut out, &FragmentConfig::default());
        assert_eq!(out, "");
    }

    #[test]
    fn tcpmss_lines_print_what_is_set_and_round_trip() {
        let mut out = String::new();
        tcpmss(&mut out, &TcpMss::default());
        assert_eq!(out, "");
        for (t, text) in [
            (
                TcpMss {
                    maximum: Some(1200),
                    minimum: Some(400),
                },
                "sysopt connection tcpmss 1200\nsysopt connection tcpmss minimum 400\n",
            ),
            (
                TcpMss {
                    maximum: Some(0),
                    minimum: None,
                },
                "sysopt connection tcpmss 0\n",
            ),
        ] {
            let cfg = Config {
                tcpmss: t,
                ..Config::default()
            };
            assert_eq!(render(&cfg), text);
            let back = crate::parse_config(text).expect("parses").config;
            assert_eq!(back, cfg);
        }
    }

    #[test]
    fn times_print_as_h_mm_ss() {
        assert_eq!(hms(Duration::ZERO), "0:00:00");
        assert_eq!(hms(Duration::from_secs(15)), "0:00:15");
        assert_eq!(hms(Duration::from_secs(3661)), "1:01:01");
        assert_eq!(hms(Duration::from_secs(1193 * 3600)), "1193:00:00");
    }

    #[test]
    fn connection_settings_print_in_asa_order() {
        let mut out = String::new();
        settings(
            &mut out,
            &ConnectionSettings {
                conn_max: Some(1),
                embryonic_conn_max: Some(2),
                per_client_max: Some(3),
                per_client_embryonic_max: Some(4),
                random_sequence_number: Some(true),
                timeout_embryonic: Some(Duration::from_secs(5)),
                timeout_half_closed: Some(Duration::from_secs(30)),
                timeout_idle: Some(Duration::from_secs(60)),
                idle_reset: true,
                dcd: Some(Dcd::DEFAULT),
                tcp_state_bypass: true,
            },
        );
        assert_eq!(
            out,
            "  set connection conn-max 1 embryonic-conn-max 2 per-client-embryonic-max 4 per-client-max 3 random-sequence-number enable
  set connection timeout embryonic 0:00:05 half-closed 0:00:30 idle 0:01:00 reset dcd 0:00:15 5
  set connection advanced-options tcp-state-bypass
"
        );
        let mut out = String::new();
        settings(&mut out, &ConnectionSettings::default());
        assert_eq!(out, "");
    }
}
