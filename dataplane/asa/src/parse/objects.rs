//! `object network NAME` and `object service NAME`: one value each; a
//! second block with the same name gives the object a new value.

use std::net::{IpAddr, Ipv4Addr};

use crate::ast::*;

use super::Parser;
use super::cursor::{Cur, R, Tok};
use super::modes::{Mode, REASON_DESCRIPTION, REASON_NAT};
use super::refs::object_name;
use super::values::{object_network_value, service_value};

/// Where an object without a value was opened.
#[derive(Debug)]
pub(super) struct Valueless {
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) col: usize,
}

impl Parser {
    /// Refuse a name already used by the other namespace half (objects and
    /// object-groups share one namespace on the ASA).
    pub(super) fn check_name_free(&self, c: &Cur<'_>, t: Tok<'_>, for_group: bool) -> R<()> {
        let clash = if for_group {
            self.cfg.objects.iter().any(|o| object_name(o) == t.text)
        } else {
            self.group_names.find(t.text).is_some()
        };
        if clash {
            let what = if for_group {
                "an object"
            } else {
                "an object-group"
            };
            return Err(c.err_at(t.col, format!("'{}' is already {what}", t.text)));
        }
        Ok(())
    }

    pub(super) fn object(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        let (kind, service) = object_kind(c)?;
        let name = c.word("object name")?;
        c.done()?;
        self.check_name_free(c, name, false)?;
        let i = match self
            .cfg
            .objects
            .iter()
            .position(|o| object_name(o) == name.text)
        {
            Some(i) => {
                let is_service = matches!(self.cfg.objects[i], Object::Service { .. });
                if is_service != service {
                    let was = if is_service { "service" } else { "network" };
                    return Err(c.err_at(
                        kind.col,
                        format!("object '{}' already exists as a {was} object", name.text),
                    ));
                }
                i
            }
            None => {
                let n = name.text.to_string();
                // A placeholder until the value line; `finish` refuses an
                // object that never gets one.
                self.cfg.objects.push(if service {
                    Object::Service {
                        name: n.clone(),
                        value: ServiceValue {
                            protocol: Protocol::Ip,
                            source: None,
                            destination: None,
                            icmp: None,
                        },
                    }
                } else {
                    Object::Network {
                        name: n.clone(),
                        value: NetworkValue::Host(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    }
                });
                self.valueless.push(Valueless {
                    name: n,
                    line: c.line,
                    col: name.col,
                });
                self.cfg.objects.len() - 1
            }
        };
        self.mode = Mode::Object(i);
        Ok(())
    }

    pub(super) fn object_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let r = self.object_value(c, i);
        if r.is_err() {
            // The object is reported at its value line, not again as valueless.
            let name = object_name(&self.cfg.objects[i]).to_string();
            self.valueless.retain(|v| v.name != name);
        }
        r
    }

    fn object_value(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.peek().unwrap_or_default();
        match cmd {
            "description" => {
                self.ignore(c, REASON_DESCRIPTION);
                return Ok(());
            }
            "nat" => {
                self.ignore(c, REASON_NAT);
                return Ok(());
            }
            _ if negate => {
                return Err(c.err(format!(
                    "an object's '{cmd}' cannot be removed; give it a new value or remove the object"
                )));
            }
            _ => {}
        }
        match &mut self.cfg.objects[i] {
            Object::Network { value, .. } => {
                let v = object_network_value(c)?;
                c.done()?;
                *value = v;
            }
            Object::Service { value, .. } => {
                c.keyword("service")?;
                let col = c.col();
                let v = service_value(c)?;
                c.done()?;
                let Some(v) = v.single() else {
                    return Err(c.err_at(
                        col,
                        "a service object takes one protocol; use an object-group service for tcp-udp",
                    ));
                };
                *value = v;
            }
        }
        let name = object_name(&self.cfg.objects[i]).to_string();
        self.valueless.retain(|v| v.name != name);
        Ok(())
    }
}

/// The kind word of `object network|service NAME`, and whether it names
/// a service object.
pub(super) fn object_kind<'a>(c: &mut Cur<'a>) -> R<(Tok<'a>, bool)> {
    let kind = c.word("'network' or 'service'")?;
    match kind.text {
        "network" => Ok((kind, false)),
        "service" => Ok((kind, true)),
        _ => {
            c.back();
            Err(c.expected("'network' or 'service'"))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::modes::{REASON_DESCRIPTION, REASON_NAT};
    use crate::parse::test_support::*;

    #[test]
    fn network_and_service_objects() {
        let c = cfg(
            "object network H4\n host 198.18.0.1\nobject network H6\n host 2001:db8::1\nobject network S4\n subnet 198.18.0.0 255.255.254.0\nobject network S6\n subnet 2001:db8::/32\nobject network R\n range 198.18.0.10 198.18.0.20\n description a range\nobject service WEB\n service tcp source range 1024 65535 destination eq www\nobject service GRE\n service gre\nobject network H4\n host 198.18.0.2",
        );
        assert_eq!(
            c.objects,
            vec![
                Object::Network {
                    name: "H4".into(),
                    value: NetworkValue::Host(ip("198.18.0.2")),
                },
                Object::Network {
                    name: "H6".into(),
                    value: NetworkValue::Host(ip("2001:db8::1")),
                },
                Object::Network {
                    name: "S4".into(),
                    value: NetworkValue::V4Subnet(v4("198.18.0.0"), v4("255.255.254.0")),
                },
                Object::Network {
                    name: "S6".into(),
                    value: NetworkValue::V6Subnet("2001:db8::".parse().unwrap(), 32),
                },
                Object::Network {
                    name: "R".into(),
                    value: NetworkValue::Range(ip("198.18.0.10"), ip("198.18.0.20")),
                },
                Object::Service {
                    name: "WEB".into(),
                    value: ServiceValue {
                        protocol: Protocol::Number(6),
                        source: Some(PortMatch::Range(1024, 65535)),
                        destination: Some(PortMatch::Eq(80)),
                        icmp: None
                    },
                },
                Object::Service {
                    name: "GRE".into(),
                    value: ServiceValue {
                        protocol: Protocol::Number(47),
                        source: None,
                        destination: None,
                        icmp: None
                    },
                },
            ]
        );
        assert_eq!(
            ignored(
                "object network N\n host 198.18.0.1\n description web\n nat (inside,outside) static 203.0.113.5"
            ),
            vec![(3, REASON_DESCRIPTION), (4, REASON_NAT)]
        );
        let c = cfg(
            "object service U\n service udp destination eq syslog\nobject service S\n service sctp destination eq 2905",
        );
        assert!(matches!(
            &c.objects[0],
            Object::Service { value, .. } if value.destination == Some(PortMatch::Eq(514))
        ));
    }

    #[test]
    fn object_errors() {
        check_errors(&[
            ("object", 1, 7, "expected 'network' or 'service'"),
            (
                "object host X",
                1,
                8,
                "expected 'network' or 'service', found 'host'",
            ),
            ("object network", 1, 15, "expected object name"),
            (
                "object network N",
                1,
                16,
                "object network 'N' has no host, subnet or range",
            ),
            (
                "object service S",
                1,
                16,
                "object service 'S' has no service line",
            ),
            ("object network N\n host", 2, 6, "expected host address"),
            (
                "object network N\n host 198.18.0",
                2,
                7,
                "invalid IPv4 address '198.18.0'",
            ),
            (
                "object network N\n host 2001:db8::g",
                2,
                7,
                "invalid IPv6 address '2001:db8::g'",
            ),
            (
                "object network N\n subnet 198.18.0.1 255.255.255.0",
                2,
                9,
                "address has host bits set beyond the mask",
            ),
            (
                "object network N\n subnet 198.18.0.0/24",
                2,
                9,
                "IPv4 networks are written as address and mask, not '198.18.0.0/24'",
            ),
            (
                "object network N\n subnet 198.18.0.0",
                2,
                19,
                "expected mask or prefix",
            ),
            (
                "object network N\n range 198.18.0.9 198.18.0.1",
                2,
                19,
                "a range runs from the lower address to the higher",
            ),
            (
                "object network N\n range 198.18.0.1 2001:db8::1",
                2,
                19,
                "the ends of a range must be of one IP family",
            ),
            (
                "object network N\n fqdn www.example.test",
                2,
                2,
                "fqdn objects are not supported",
            ),
            (
                "object network N\n host 198.18.0.1 extra",
                2,
                18,
                "unexpected 'extra' after end of command",
            ),
            (
                "object network N\n no host 198.18.0.1",
                2,
                5,
                "an object's 'host' cannot be removed; give it a new value or remove the object",
            ),
            ("object service S\n service", 2, 9, "expected protocol"),
            (
                "object service S\n service foo",
                2,
                10,
                "invalid protocol 'foo'",
            ),
            (
                "object service S\n service tcp eq 80",
                2,
                14,
                "expected 'source' or 'destination', found 'eq'",
            ),
            (
                "object service S\n service icmp echo 0 1",
                2,
                22,
                "unexpected '1' after end of command",
            ),
            (
                "object service S\n service gre destination eq 1",
                2,
                14,
                "ports apply only to tcp, udp and sctp",
            ),
            (
                "object service S\n service tcp-udp destination eq 53",
                2,
                10,
                "a service object takes one protocol; use an object-group service for tcp-udp",
            ),
            (
                "object service S\n service tcp destination eq syslog",
                2,
                29,
                "invalid port 'syslog' for tcp",
            ),
            (
                "object network N\n host 198.18.0.1\nobject service N",
                3,
                8,
                "object 'N' already exists as a network object",
            ),
            (
                "object-group network N\nobject network N\n host 198.18.0.1",
                2,
                16,
                "'N' is already an object-group",
            ),
        ]);
        // A mistyped indented line is reported and the object stays open.
        assert_eq!(
            errs("object network N\n hots 198.18.0.1\n host 198.18.0.1"),
            vec![(2, 2, "unknown object network command 'hots'".to_string())]
        );
    }
}
