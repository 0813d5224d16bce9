//! An access-list entry: `permit|deny PROTO SRC [PORT] DST [PORT]
//! [ICMP-TYPE [CODE]] [log …] [time-range NAME] [inactive]`, with objects and object-groups in the protocol,
//! address and port positions.

use crate::ast::*;
use crate::icmp;
use crate::ports::{self, PortNames};

use super::Parser;
use super::cursor::{Cur, R};
use super::icmp_types::icmp_match;
use super::refs::{GroupKind, RefKind};
use super::values::{Net, Ops, PROTOCOL_ZERO, port_match};

/// `log … interval N`: 1–600 seconds.
const LOG_INTERVAL_MAX_SECS: u32 = 600;

/// Syslog levels a `log` option may name.
const LOG_LEVELS: &[&str] = &[
    "emergencies",
    "alerts",
    "critical",
    "errors",
    "warnings",
    "notifications",
    "informational",
    "debugging",
];

impl Parser {
    pub(super) fn ace(&mut self, c: &mut Cur<'_>) -> R<Ace> {
        let action = match c.peek() {
            Some("permit") => Action::Permit,
            Some("deny") => Action::Deny,
            _ => return Err(c.expected("permit or deny")),
        };
        c.next();
        // What may follow the addresses: port names, or why no ports.
        let (protocol, ports): (ProtoSpec, Result<PortNames, &'static str>) = match c.next() {
            Some(t) if t.text == "object" => {
                let n = c.word("service object name")?;
                self.reference(c, RefKind::ServiceObject, n);
                (
                    ProtoSpec::Object(n.text.to_string()),
                    Err("ports come from the service object, not the access-list line"),
                )
            }
            Some(t) if t.text == "object-group" => {
                let n = c.word("object-group name")?;
                let known = self
                    .group_names
                    .find(n.text)
                    .map(|i| GroupKind::of(&self.cfg.object_groups[i]));
                let ports = if known == Some(GroupKind::Service) {
                    Err("ports come from the service object-group, not the access-list line")
                } else {
                    Ok(PortNames::TcpUdp)
                };
                let at = self.refs.len();
                self.reference(c, RefKind::ProtoOrServiceGroup, n);
                let ace = self.ace_rest(c, action, ProtoSpec::Group(n.text.to_string()), ports)?;
                // Ports after a group need a protocol group (the ASA's
                // tcp-udp idiom); a service group carries its own.
                if ace.source_port.is_some() || ace.destination_port.is_some() {
                    let port_groups = [&ace.source_port, &ace.destination_port]
                        .into_iter()
                        .filter_map(|p| match p {
                            Some(PortSpec::Group(g)) => Some(g.clone()),
                            _ => None,
                        })
                        .collect();
                    self.refs[at].kind = RefKind::ProtocolGroup { port_groups };
                }
                return Ok(ace);
            }
            Some(t) => match ports::protocol(t.text) {
                Some(Protocol::Number(0)) => return Err(c.err_at(t.col, PROTOCOL_ZERO)),
                Some(p) => (
                    ProtoSpec::Protocol(p),
                    ports::port_names(p).ok_or("ports apply only to tcp, udp and sctp"),
                ),
                None => {
                    c.back();
                    return Err(c.expected("protocol"));
                }
            },
            None => return Err(c.expected("protocol")),
        };
        self.ace_rest(c, action, protocol, ports)
    }

    /// An ACE after its protocol: addresses, ports, options.
    fn ace_rest(
        &mut self,
        c: &mut Cur<'_>,
        action: Action,
        protocol: ProtoSpec,
        ports: Result<PortNames, &'static str>,
    ) -> R<Ace> {
        let source = self.address(c, "source address")?;
        let source_port = self.ports_opt(c, ports, false)?;
        let destination = self.address(
            c,
            if ports.is_ok() && source_port.is_none() {
                "port or destination address"
            } else {
                "destination address"
            },
        )?;
        let destination_port = self.ports_opt(c, ports, true)?;
        let mut ace = Ace {
            action,
            protocol,
            source,
            source_port,
            destination,
            destination_port,
            icmp: None,
            log: AceLog::Default,
            time_range: None,
            inactive: false,
        };
        // The ICMP type (the ASA's `icmp_argument`) follows the
        // destination of an `icmp` or `icmp6` entry only: after another
        // protocol, a protocol group or a service, a type name is refused
        // (it would be dropped, and the entry match every message).
        let icmp_v6 = match ace.protocol {
            ProtoSpec::Protocol(Protocol::Number(1)) => Some(false),
            ProtoSpec::Protocol(Protocol::Number(58)) => Some(true),
            _ => None,
        };
        match (icmp_v6, c.peek()) {
            (_, None | Some("log" | "inactive" | "time-range")) => {}
            // `object-group NAME`: an ICMP type group (checked once every
            // group is known, `RefKind::IcmpGroup`).
            (Some(v6), Some("object-group")) => {
                c.next();
                let n = c.word("object-group name")?;
                self.reference(c, RefKind::IcmpGroup { v6 }, n);
                ace.icmp = Some(IcmpSpec::Group(n.text.to_string()));
            }
            (Some(v6), Some(_)) => ace.icmp = Some(IcmpSpec::Match(icmp_match(c, v6)?)),
            (None, Some(w)) if icmp::is_type_name(w) => {
                return Err(c.err("ICMP types follow only an icmp or icmp6 protocol"));
            }
            (None, Some(_)) => {}
        }
        while let Some(t) = c.next() {
            match t.text {
                "log" => ace.log = log_options(c)?,
                "inactive" => ace.inactive = true,
                // `time-range NAME` (checked once every range is known,
                // `RefKind::TimeRange`): the entry matches only while the
                // range is active (docs/asa-behaviour.md §2.10).
                "time-range" => {
                    let n = c.word("time-range name")?;
                    self.reference(c, RefKind::TimeRange, n);
                    ace.time_range = Some(n.text.to_string());
                }
                w => {
                    return Err(c.err_at(t.col, format!("unexpected '{w}' after end of command")));
                }
            }
        }
        Ok(ace)
    }

    fn address(&mut self, c: &mut Cur<'_>, what: &str) -> R<AddrSpec> {
        let Some(t) = c.next() else {
            return Err(c.expected(what));
        };
        Ok(match t.text {
            "any" => AddrSpec::Any,
            "any4" => AddrSpec::Any4,
            "any6" => AddrSpec::Any6,
            "host" => AddrSpec::Host(self.host_or_name(c)?),
            "object" => {
                let n = c.word("network object name")?;
                self.reference(c, RefKind::NetworkObject, n);
                AddrSpec::Object(n.text.to_string())
            }
            "object-group" => {
                let n = c.word("network object-group name")?;
                self.reference(c, RefKind::NetworkGroup, n);
                AddrSpec::Group(n.text.to_string())
            }
            "interface" => {
                let n = c.word("interface name")?;
                self.reference(c, RefKind::Interface, n);
                AddrSpec::Interface(n.text.to_string())
            }
            _ => match self.network_or_name(c, t)? {
                Some(Net::V4(a, m)) => AddrSpec::V4Net(a, m),
                Some(Net::V6(a, l)) => AddrSpec::V6Net(a, l),
                None => {
                    c.back();
                    return Err(c.expected(what));
                }
            },
        })
    }

    /// An optional port condition after an address (`last`: after the
    /// destination, where nothing but ports can follow).
    fn ports_opt(
        &mut self,
        c: &mut Cur<'_>,
        ports: Result<PortNames, &'static str>,
        last: bool,
    ) -> R<Option<PortSpec>> {
        match c.peek() {
            Some("eq" | "neq" | "lt" | "gt" | "range") => match ports {
                Ok(names) => Ok(Some(PortSpec::Match(port_match(c, names, Ops::All)?))),
                Err(why) => Err(c.err(why)),
            },
            // After the source, `object-group NAME` is a port group when a
            // service group with a protocol of that name is already defined
            // (as the ASA resolves it: by the name's kind when the line is
            // entered), else the destination. After the destination it can
            // only be a port group; the reference check names a wrong one.
            Some("object-group") if ports.is_ok() => {
                let name = c.peek_at(1).unwrap_or_default();
                let is_port_group = self.group_names.find(name).is_some_and(|i| {
                    matches!(
                        GroupKind::of(&self.cfg.object_groups[i]),
                        GroupKind::Port(_)
                    )
                });
                if !is_port_group && !last {
                    return Ok(None);
                }
                c.next();
                let n = c.word("port object-group name")?;
                if let Ok(names) = ports {
                    self.reference(c, RefKind::PortGroup(names), n);
                }
                Ok(Some(PortSpec::Group(n.text.to_string())))
            }
            _ => Ok(None),
        }
    }
}

/// `log [LEVEL] [interval SECS] | log disable | log default`: how the ACE
/// logs (`log disable` turns all its logging off, 106023 included, and
/// `log default` is the ASA's default method, 106023 for denies only, as
/// with no `log` keyword: Cisco ASA Series Command Reference,
/// `access-list extended`; level and interval are not kept).
fn log_options(c: &mut Cur<'_>) -> R<AceLog> {
    match c.peek() {
        Some("disable") => {
            c.next();
            return Ok(AceLog::Disable);
        }
        Some("default") => {
            c.next();
            return Ok(AceLog::Default);
        }
        Some(w) if LOG_LEVELS.contains(&w) || w.parse::<u8>().is_ok_and(|n| n <= 7) => {
            c.next();
        }
        Some(w) if w.chars().all(|ch| ch.is_ascii_digit()) => {
            return Err(c.err(format!("invalid log level '{w}', expected 0-7")));
        }
        _ => {}
    }
    if c.eat("interval") {
        let t = c.word("log interval")?;
        if !t
            .text
            .parse::<u32>()
            .is_ok_and(|n| (1..=LOG_INTERVAL_MAX_SECS).contains(&n))
        {
            return Err(c.err_at(
                t.col,
                format!("invalid log interval '{}', expected 1-600", t.text),
            ));
        }
    }
    Ok(AceLog::On)
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;
    use std::net::Ipv6Addr;

    /// Protocol 0 would match nothing (`deny 0 any any` failing open):
    /// refused wherever a protocol is written, at the number.
    #[test]
    fn protocol_zero_is_refused_where_it_is_written() {
        let msg = "protocol 0 matches no packet: use 'ip' for any protocol";
        check_errors(&[
            ("access-list A deny 0 any any", 1, 20, msg),
            ("access-list A extended permit 0 any any", 1, 31, msg),
            ("object-group protocol P\n protocol-object 0", 2, 18, msg),
            ("object service S\n service 0", 2, 10, msg),
            ("object-group service G\n service-object 0", 2, 17, msg),
        ]);
        // 255 and `ip` stay.
        assert_eq!(cfg("access-list A deny 255 any any").access_lists.len(), 1);
        assert_eq!(cfg("access-list A deny ip any any").access_lists.len(), 1);
    }

    #[test]
    fn addresses() {
        let cases: &[(&str, AddrSpec)] = &[
            ("any", AddrSpec::Any),
            ("any4", AddrSpec::Any4),
            ("any6", AddrSpec::Any6),
            ("host 198.18.0.1", AddrSpec::Host(ip("198.18.0.1"))),
            ("host 2001:db8::1", AddrSpec::Host(ip("2001:db8::1"))),
            (
                "198.18.0.0 255.255.0.0",
                AddrSpec::V4Net(v4("198.18.0.0"), v4("255.255.0.0")),
            ),
            (
                "0.0.0.0 0.0.0.0",
                AddrSpec::V4Net(v4("0.0.0.0"), v4("0.0.0.0")),
            ),
            (
                "2001:db8::/32",
                AddrSpec::V6Net("2001:db8::".parse().unwrap(), 32),
            ),
            ("::/0", AddrSpec::V6Net(Ipv6Addr::UNSPECIFIED, 0)),
            ("object O", AddrSpec::Object("O".into())),
            ("object-group G", AddrSpec::Group("G".into())),
            ("interface outside", AddrSpec::Interface("outside".into())),
        ];
        let defs = "object network O\n host 198.18.0.1\nobject-group network G\n network-object host 198.18.0.2\n";
        for (text, want) in cases {
            let a = ace(&format!("{defs}access-list A permit ip {text} {text}"));
            assert_eq!((&a.source, &a.destination), (want, want), "{text}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_refused_with_their_column() {
        let msg = |a: &str, v4: &str| {
            format!(
                "IPv4-mapped IPv6 address '{a}' is not allowed: write the IPv4 address {v4} instead"
            )
        };
        let cases = [
            (
                "access-list A permit tcp host ::ffff:198.18.0.1 any eq 22",
                31,
                msg("::ffff:198.18.0.1", "198.18.0.1"),
            ),
            (
                "access-list A permit tcp any ::ffff:0:0/96 eq 22",
                30,
                msg("::ffff:0.0.0.0", "0.0.0.0"),
            ),
            (
                "access-list A permit ip any ::ffff:198.18.0.0/112",
                29,
                msg("::ffff:198.18.0.0", "198.18.0.0"),
            ),
            (
                "object network O\n host ::ffff:198.18.0.9",
                7,
                msg("::ffff:198.18.0.9", "198.18.0.9"),
            ),
            (
                "object-group network G\n network-object ::ffff:198.18.0.0/120",
                17,
                msg("::ffff:198.18.0.0", "198.18.0.0"),
            ),
        ];
        for (text, col, want) in cases {
            let (_, column, message) = err(text);
            assert_eq!((column, message), (col, want), "{text}");
        }
        // Prefixes wider than the mapped block are plain IPv6 prefixes.
        assert_eq!(
            ace("access-list A permit ip ::/80 any").source,
            AddrSpec::V6Net(Ipv6Addr::UNSPECIFIED, 80)
        );
    }

    #[test]
    fn protocols_and_ports() {
        let a = ace("access-list A permit tcp any eq www host 198.18.0.1 range ftp-data ftp");
        assert_eq!(a.protocol, ProtoSpec::Protocol(Protocol::Number(6)));
        assert_eq!(a.source_port, Some(PortSpec::Match(PortMatch::Eq(80))));
        assert_eq!(
            a.destination_port,
            Some(PortSpec::Match(PortMatch::Range(20, 21)))
        );
        let ops = [
            ("eq https", PortMatch::Eq(443)),
            ("neq 8080", PortMatch::Neq(8080)),
            ("lt 1024", PortMatch::Lt(1024)),
            ("gt ssh", PortMatch::Gt(22)),
            ("range 0 65535", PortMatch::Range(0, 65535)),
        ];
        for (text, want) in ops {
            let a = ace(&format!("access-list A deny tcp any any {text}"));
            assert_eq!(a.destination_port, Some(PortSpec::Match(want)), "{text}");
            assert_eq!(a.action, Action::Deny);
        }
        assert_eq!(
            ace("access-list A permit udp any any eq snmp").destination_port,
            Some(PortSpec::Match(PortMatch::Eq(161)))
        );
        assert_eq!(
            ace("access-list A permit sctp any any eq 2905").destination_port,
            Some(PortSpec::Match(PortMatch::Eq(2905)))
        );
        for (word, n) in [
            ("gre", 47),
            ("esp", 50),
            ("icmp6", 58),
            ("pcp", 108),
            ("200", 200),
        ] {
            assert_eq!(
                ace(&format!("access-list A permit {word} any any")).protocol,
                ProtoSpec::Protocol(Protocol::Number(n))
            );
        }
    }

    #[test]
    fn groups_and_objects_in_aces() {
        let defs = "object service SVC\n service tcp destination eq 443\nobject-group service SG\n service-object udp destination eq 53\nobject-group protocol TU\n protocol-object tcp\n protocol-object udp\nobject-group service WEB tcp\n port-object eq 80\nobject-group network NET\n network-object 198.18.0.0 255.255.0.0\n";
        let a = ace(&format!("{defs}access-list A permit object SVC any any"));
        assert_eq!(a.protocol, ProtoSpec::Object("SVC".into()));
        let a = ace(&format!(
            "{defs}access-list A permit object-group SG any any"
        ));
        assert_eq!(a.protocol, ProtoSpec::Group("SG".into()));
        let a = ace(&format!(
            "{defs}access-list A permit object-group TU any any eq domain"
        ));
        assert_eq!(a.protocol, ProtoSpec::Group("TU".into()));
        assert_eq!(a.destination_port, Some(PortSpec::Match(PortMatch::Eq(53))));
        let a = ace(&format!(
            "{defs}access-list A permit tcp object-group NET object-group WEB object-group NET object-group WEB"
        ));
        assert_eq!(a.source, AddrSpec::Group("NET".into()));
        assert_eq!(a.source_port, Some(PortSpec::Group("WEB".into())));
        assert_eq!(a.destination, AddrSpec::Group("NET".into()));
        assert_eq!(a.destination_port, Some(PortSpec::Group("WEB".into())));
    }

    #[test]
    fn log_and_inactive() {
        let base = "access-list A permit ip any any";
        for (tail, log, inactive) in [
            ("", AceLog::Default, false),
            (" log", AceLog::On, false),
            (" log 7", AceLog::On, false),
            (" log informational interval 300", AceLog::On, false),
            (" log interval 60", AceLog::On, false),
            (" log default", AceLog::Default, false),
            (" log disable", AceLog::Disable, false),
            (" inactive", AceLog::Default, true),
            (" log warnings inactive", AceLog::On, true),
            (" log disable inactive", AceLog::Disable, true),
        ] {
            let a = ace(&format!("{base}{tail}"));
            assert_eq!((a.log, a.inactive), (log, inactive), "{tail}");
        }
    }

    /// `icmp`/`icmp6` entries take a type by name or number and an
    /// optional code after the destination (Cisco ASA Series Firewall CLI
    /// Configuration Guide, "Add an Extended ACE for ICMP-Based
    /// Matching"); names are of the entry's family.
    #[test]
    fn icmp_types_and_codes() {
        let m = |icmp_type, code| Some(IcmpSpec::Match(IcmpMatch { icmp_type, code }));
        for (text, want) in [
            ("permit icmp any any echo-reply", m(0, None)),
            ("permit icmp any any echo", m(8, None)),
            (
                "permit icmp any host 198.18.0.5 unreachable 4",
                m(3, Some(4)),
            ),
            ("permit icmp any any 3 4", m(3, Some(4))),
            ("permit icmp any any 255 255", m(255, Some(255))),
            ("deny icmp any any traceroute log", m(30, None)),
            ("permit icmp any any time-exceeded inactive", m(11, None)),
            ("permit icmp any any mobile-redirect 0", m(32, Some(0))),
            ("permit icmp6 any any packet-too-big", m(2, None)),
            ("permit icmp6 any any echo", m(128, None)),
            ("permit icmp6 any any echo-reply", m(129, None)),
            ("permit icmp6 any any unreachable 4", m(1, Some(4))),
            ("permit icmp6 any6 any6 router-renumbering", m(138, None)),
            ("permit icmp6 any any membership-reduction", m(132, None)),
            ("permit icmp6 any any 0", m(0, None)),
            ("permit icmp any any", None),
            ("permit icmp any any log", None),
        ] {
            let a = ace(&format!("access-list A {text}"));
            assert_eq!(a.icmp, want, "{text}");
        }
        let a = ace("access-list A permit icmp any any echo log disable inactive");
        assert_eq!((a.log, a.inactive), (AceLog::Disable, true));
        // A code is only ever the number right after a type: after `log`
        // a number is the log level.
        let a = ace("access-list A permit icmp any any log 3");
        assert_eq!((a.icmp, a.log), (None, AceLog::On));
    }

    /// A type the family does not have, a name of the other family, a
    /// number out of range, a second code, and a type after anything but
    /// icmp or icmp6 are refused at the word; nothing is widened.
    #[test]
    fn icmp_type_errors() {
        check_errors(&[
            (
                "access-list A permit icmp any any echoo",
                1,
                35,
                "invalid icmp type 'echoo', expected an icmp type name or 0-255",
            ),
            (
                "access-list A permit icmp any any packet-too-big",
                1,
                35,
                "'packet-too-big' is an icmp6 type, not an icmp type: name it after icmp6",
            ),
            (
                "access-list A permit icmp6 any any mask-request",
                1,
                36,
                "'mask-request' is an icmp type, not an icmp6 type: name it after icmp",
            ),
            (
                "access-list A permit icmp6 any any traceroute",
                1,
                36,
                "'traceroute' is an icmp type, not an icmp6 type: name it after icmp",
            ),
            (
                "access-list A permit icmp any any 256",
                1,
                35,
                "invalid ICMP type '256', expected 0-255",
            ),
            (
                "access-list A permit icmp any any echo 256",
                1,
                40,
                "invalid ICMP code '256', expected 0-255",
            ),
            (
                "access-list A permit icmp any any unreachable 4 5",
                1,
                49,
                "unexpected '5' after end of command",
            ),
            (
                "access-list A permit icmp any any echo reply",
                1,
                40,
                "unexpected 'reply' after end of command",
            ),
            (
                "access-list A permit icmp any any -1",
                1,
                35,
                "invalid icmp type '-1', expected an icmp type name or 0-255",
            ),
            (
                "access-list A permit tcp any any echo",
                1,
                34,
                "ICMP types follow only an icmp or icmp6 protocol",
            ),
            (
                "access-list A permit ip any any echo-reply",
                1,
                33,
                "ICMP types follow only an icmp or icmp6 protocol",
            ),
            (
                "access-list A permit udp any any eq 53 unreachable",
                1,
                40,
                "ICMP types follow only an icmp or icmp6 protocol",
            ),
            (
                "object-group protocol P\n protocol-object icmp\naccess-list A permit object-group P any any echo",
                3,
                45,
                "ICMP types follow only an icmp or icmp6 protocol",
            ),
            (
                "object service S\n service icmp\naccess-list A permit object S any any echo",
                3,
                39,
                "ICMP types follow only an icmp or icmp6 protocol",
            ),
        ]);
    }

    #[test]
    fn access_list_errors() {
        check_errors(&[
            (
                "access-list tcp_bypass permit ip any",
                1,
                37,
                "expected destination address",
            ),
            ("access-list", 1, 12, "expected access-list name"),
            ("access-list A", 1, 14, "expected permit or deny"),
            (
                "access-list A allow ip any any",
                1,
                15,
                "expected permit or deny, found 'allow'",
            ),
            ("access-list A extended", 1, 23, "expected permit or deny"),
            ("access-list A permit", 1, 21, "expected protocol"),
            (
                "access-list A permit foo any any",
                1,
                22,
                "expected protocol, found 'foo'",
            ),
            (
                "access-list A permit 256 any any",
                1,
                22,
                "expected protocol, found '256'",
            ),
            ("access-list A permit ip", 1, 24, "expected source address"),
            (
                "access-list A permit ip nowhere any",
                1,
                25,
                "expected source address, found 'nowhere'",
            ),
            (
                "access-list A permit tcp any",
                1,
                29,
                "expected port or destination address",
            ),
            (
                "access-list A permit tcp any bogus",
                1,
                30,
                "expected port or destination address, found 'bogus'",
            ),
            (
                "access-list A permit tcp any eq 80",
                1,
                35,
                "expected destination address",
            ),
            (
                "access-list A permit ip 198.18.0.0 any",
                1,
                36,
                "expected mask or prefix, found 'any'",
            ),
            (
                "access-list A permit ip any 198.18.0.0",
                1,
                39,
                "expected mask or prefix",
            ),
            (
                "access-list A permit ip 2001:db8:: any",
                1,
                35,
                "expected mask or prefix",
            ),
            (
                "access-list A permit ip 198.18.2.300 255.255.255.0 any",
                1,
                25,
                "invalid IPv4 address '198.18.2.300'",
            ),
            (
                "access-list A permit ip 198.18.2.0 255.255.255.300 any",
                1,
                36,
                "invalid IPv4 mask '255.255.255.300'",
            ),
            (
                "access-list A permit ip host 198.18.0 any",
                1,
                30,
                "invalid IPv4 address '198.18.0'",
            ),
            (
                "access-list A permit ip host any any",
                1,
                30,
                "invalid IPv4 address 'any'",
            ),
            (
                "access-list A permit ip host",
                1,
                29,
                "expected host address",
            ),
            (
                "access-list A permit ip 198.18.0.1 255.255.255.0 any",
                1,
                25,
                "address has host bits set beyond the mask",
            ),
            (
                "access-list A permit ip 198.18.0.0 255.0.255.0 any",
                1,
                36,
                "mask '255.0.255.0' is not contiguous",
            ),
            (
                "access-list A permit ip 2001:db8::1/64 any",
                1,
                25,
                "address has host bits set beyond the prefix length",
            ),
            (
                "access-list A permit ip 2001:db8::/129 any",
                1,
                25,
                "invalid IPv6 prefix '2001:db8::/129'",
            ),
            (
                "access-list A permit ip 10.0.0.0/8 any",
                1,
                25,
                "IPv4 networks are written as address and mask, not '10.0.0.0/8'",
            ),
            (
                "access-list A permit ip object",
                1,
                31,
                "expected network object name",
            ),
            (
                "access-list A permit tcp any any eq",
                1,
                36,
                "expected port",
            ),
            (
                "access-list A permit tcp any any eq wwww",
                1,
                37,
                "invalid port 'wwww' for tcp",
            ),
            (
                "access-list A permit tcp any any eq syslog",
                1,
                37,
                "invalid port 'syslog' for tcp",
            ),
            (
                "access-list A permit udp any any eq ssh",
                1,
                37,
                "invalid port 'ssh' for udp",
            ),
            (
                "access-list A permit sctp any any eq www",
                1,
                38,
                "invalid port 'www' for sctp",
            ),
            (
                "access-list A permit tcp any any eq 65536",
                1,
                37,
                "invalid port '65536' for tcp",
            ),
            (
                "access-list A permit tcp any any range 80",
                1,
                42,
                "expected port",
            ),
            (
                "access-list A permit tcp any any range 90 80",
                1,
                43,
                "a port range runs from the lower port to the higher",
            ),
            (
                "access-list A permit icmp any any eq 80",
                1,
                35,
                "ports apply only to tcp, udp and sctp",
            ),
            (
                "access-list A permit ip any eq 80 any",
                1,
                29,
                "ports apply only to tcp, udp and sctp",
            ),
            (
                "access-list A permit ip any any time-range WORK",
                1,
                44,
                "time-range 'WORK' is not defined",
            ),
            (
                "access-list A permit ip any any extra",
                1,
                33,
                "unexpected 'extra' after end of command",
            ),
            (
                "access-list A permit ip any any log extra",
                1,
                37,
                "unexpected 'extra' after end of command",
            ),
            (
                "access-list A permit ip any any log 8",
                1,
                37,
                "invalid log level '8', expected 0-7",
            ),
            (
                "access-list A permit ip any any log 6 interval 0",
                1,
                48,
                "invalid log interval '0', expected 1-600",
            ),
            (
                "access-list A permit ip any any log interval",
                1,
                45,
                "expected log interval",
            ),
            ("access-list A remark", 1, 21, "expected remark text"),
            (
                "access-list A remark xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                1,
                22,
                "remarks are at most 100 characters, this one has 101",
            ),
            (
                "access-list A line 0 remark x",
                1,
                20,
                "line numbers start at 1",
            ),
            (
                "access-list A line x remark x",
                1,
                20,
                "invalid line number 'x'",
            ),
            ("access-list A line", 1, 19, "expected line number"),
        ]);
    }

    #[test]
    fn access_list_group_and_object_errors() {
        let defs = "object service SVC\n service tcp destination eq 443\nobject-group service SG\n service-object udp\nobject-group service WEB tcp\n port-object eq 80\nobject-group service DNS udp\n port-object eq 53\nobject-group network NET\n network-object host 198.18.0.1\n";
        let at = |line: &str| format!("{defs}{line}");
        check_errors(&[
            (
                &at("access-list A permit object SVC any any eq 80"),
                11,
                41,
                "ports come from the service object, not the access-list line",
            ),
            (
                &at("access-list A permit object-group SG any any eq 80"),
                11,
                46,
                "ports come from the service object-group, not the access-list line",
            ),
            (
                &at("access-list A permit object-group NET any any"),
                11,
                35,
                "object-group 'NET' is a network group, not a protocol or service group",
            ),
            (
                &at("access-list A permit object NET any any"),
                11,
                29,
                "object 'NET' is not defined",
            ),
            (
                &at("access-list A permit tcp any object-group DNS any"),
                11,
                43,
                "object-group 'DNS' is a udp port group, not a tcp port group",
            ),
            (
                &at("access-list A permit udp any any object-group WEB"),
                11,
                47,
                "object-group 'WEB' is a tcp port group, not a udp port group",
            ),
            (
                &at("access-list A permit ip object-group WEB any"),
                11,
                38,
                "object-group 'WEB' is a tcp port group, not a network group",
            ),
            (
                &at("access-list A permit ip object SVC any"),
                11,
                32,
                "object 'SVC' is a service object, not a network object",
            ),
            (
                &at("access-list A permit ip object-group NOPE any"),
                11,
                38,
                "object-group 'NOPE' is not defined",
            ),
            (
                // After the destination only a port group can follow.
                &at("access-list A permit tcp any any object-group NOPE"),
                11,
                47,
                "object-group 'NOPE' is not defined",
            ),
            (
                &at("access-list A permit tcp any any object-group NET"),
                11,
                47,
                "object-group 'NET' is a network group, not a tcp port group",
            ),
            (
                &at("access-list A permit ip any any object-group WEB"),
                11,
                33,
                "unexpected 'object-group' after end of command",
            ),
            (
                // Ports after a group defined later: it must be a protocol group.
                "access-list A permit object-group LATER any any eq 80\nobject-group service LATER\n service-object tcp",
                1,
                35,
                "object-group 'LATER' is a service group, not a protocol group",
            ),
            (
                // Ports apply to every member of the group: each must have
                // ports, here and in a nested group.
                "object-group protocol MIX\n protocol-object tcp\n protocol-object icmp\naccess-list A permit object-group MIX any host 198.18.0.5 lt 1024",
                4,
                35,
                "object-group 'MIX' has member 'icmp', which has no ports: ports after a protocol group need tcp, udp or sctp members",
            ),
            (
                "object-group protocol TOP\n protocol-object udp\n group-object ANY\nobject-group protocol ANY\n protocol-object ip\naccess-list A permit object-group TOP any any neq 80",
                6,
                35,
                "object-group 'TOP' has member 'ip' (through object-group 'ANY'), which has no ports: ports after a protocol group need tcp, udp or sctp members",
            ),
            (
                // A port group holds ports of its own protocols: a tcp group
                // after {tcp, udp} would also match UDP to those ports.
                "object-group protocol TU
 protocol-object tcp
 protocol-object udp
object-group service WEBT tcp
 port-object eq 80
access-list A permit object-group TU any any object-group WEBT",
                6,
                35,
                "object-group 'WEBT' is a tcp port group, and object-group 'TU' has member 'udp': use a port group of every member's protocol (tcp-udp for tcp and udp)",
            ),
            (
                "object-group protocol OUTER
 group-object S
object-group protocol S
 protocol-object sctp
object-group service BOTH tcp-udp
 port-object eq 80
access-list A permit object-group OUTER any object-group BOTH any",
                7,
                35,
                "object-group 'BOTH' is a tcp-udp port group, and object-group 'OUTER' has member 'sctp' (through object-group 'S'): use a port group of every member's protocol (tcp-udp for tcp and udp)",
            ),
            (
                "object-group service BOTH tcp-udp\n port-object eq 80\naccess-list A permit sctp any any object-group BOTH",
                3,
                48,
                "object-group 'BOTH' after an sctp protocol: port groups hold tcp or udp ports; give sctp ports on the line (eq, lt, gt, neq, range)",
            ),
        ]);
    }
}
