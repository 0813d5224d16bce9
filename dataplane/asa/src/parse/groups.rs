//! `object-group network|service|protocol|icmp-type NAME` and their member lines:
//! members are added once, removed with `no`, and a group re-entered keeps
//! what it had.

use crate::ast::*;

use super::Parser;
use super::cursor::{Cur, R, Tok};
use super::icmp_types::icmp_match;
use super::member_sets::MemberSets;
use super::modes::{Mode, REASON_DESCRIPTION, REASON_DUPLICATE_MEMBER};
use super::refs::{GroupKind, Owner, RefKind, Stored, group_name, member_key};
use super::values::{Ops, port_match, protocol_at, service_value};

impl Parser {
    pub(super) fn object_group(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        let kind = c.word("'network', 'service', 'protocol' or 'icmp-type'")?;
        match kind.text {
            "network" | "service" | "protocol" | "icmp-type" => {}
            "user" | "security" | "network-service" => {
                return Err(c.err_at(
                    kind.col,
                    format!("object-group {} is not supported", kind.text),
                ));
            }
            _ => {
                c.back();
                return Err(c.expected("'network', 'service', 'protocol' or 'icmp-type'"));
            }
        }
        let name = c.word("object-group name")?;
        let mut port_proto = None;
        if kind.text == "service" {
            port_proto = match c.next().map(|t| t.text) {
                None => None,
                Some("tcp") => Some(PortProtocol::Tcp),
                Some("udp") => Some(PortProtocol::Udp),
                Some("tcp-udp") => Some(PortProtocol::TcpUdp),
                Some(_) => {
                    c.back();
                    return Err(c.expected("'tcp', 'udp' or 'tcp-udp'"));
                }
            };
        }
        c.done()?;
        self.check_name_free(c, name, true)?;
        let n = name.text.to_string();
        let group = match kind.text {
            "network" => ObjectGroup::Network {
                name: n,
                members: Vec::new(),
            },
            "protocol" => ObjectGroup::Protocol {
                name: n,
                members: Vec::new(),
            },
            "icmp-type" => ObjectGroup::IcmpType {
                name: n,
                members: Vec::new(),
            },
            _ => ObjectGroup::Service {
                name: n,
                protocol: port_proto,
                members: Vec::new(),
            },
        };
        let i = match self.group_names.find(name.text) {
            Some(i) => {
                let was = GroupKind::of(&self.cfg.object_groups[i]);
                if was != GroupKind::of(&group) {
                    return Err(c.err_at(
                        kind.col,
                        format!(
                            "object-group '{}' already exists as a {} group",
                            name.text,
                            was.label()
                        ),
                    ));
                }
                i
            }
            None => {
                self.cfg.object_groups.push(group);
                let i = self.cfg.object_groups.len() - 1;
                self.group_names.pushed(name.text, i);
                i
            }
        };
        self.mode = Mode::Group(i);
        Ok(())
    }

    pub(super) fn group_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("object-group member")?;
        if cmd.text == "description" {
            self.ignore(c, REASON_DESCRIPTION);
            return Ok(());
        }
        let kind = GroupKind::of(&self.cfg.object_groups[i]);
        let refs_before = self.refs.len();
        let members = self.group_member(c, cmd, kind, i)?;
        c.done()?;
        let group = &mut self.cfg.object_groups[i];
        let gname = group_name(group).to_string();
        if negate {
            self.refs.truncate(refs_before);
            let mut removed = false;
            for m in &members {
                removed |= group_remove(group, &mut self.member_sets, m);
            }
            if !removed {
                return Err(c.err_at(cmd.col, format!("no such member in object-group '{gname}'")));
            }
            return Ok(());
        }
        let mut added = false;
        for m in &members {
            added |= group_add(group, &mut self.member_sets, m);
        }
        if !added {
            self.refs.truncate(refs_before);
            self.ignore(c, REASON_DUPLICATE_MEMBER);
        } else if let [member] = members.as_slice()
            && let Some(m) = stored(&self.cfg.object_groups[i], member)
        {
            self.own(refs_before, &Owner::Keyed(member_key(&gname, &m)));
        }
        Ok(())
    }

    /// The member(s) a member line names (a `tcp-udp` service-object is a
    /// tcp and a udp member).
    fn group_member(
        &mut self,
        c: &mut Cur<'_>,
        cmd: Tok<'_>,
        kind: GroupKind,
        i: usize,
    ) -> R<Vec<Member>> {
        let parent = group_name(&self.cfg.object_groups[i]).to_string();
        let wrong = |c: &Cur<'_>| {
            c.err_at(
                cmd.col,
                format!("'{}' does not belong in a {} group", cmd.text, kind.label()),
            )
        };
        Ok(match (cmd.text, kind) {
            ("group-object", _) => {
                let n = c.word("object-group name")?;
                self.reference(c, RefKind::Member { parent, kind }, n);
                vec![Member::Group(n.text.to_string())]
            }
            ("network-object", GroupKind::Network) => {
                if c.eat("object") {
                    let n = c.word("network object name")?;
                    self.reference(c, RefKind::NetworkObject, n);
                    vec![Member::NetworkObject(n.text.to_string())]
                } else {
                    vec![Member::Network(self.group_network_value(c)?)]
                }
            }
            ("port-object", GroupKind::Port(p)) => {
                vec![Member::Port(port_match(c, p.into(), Ops::EqRange)?)]
            }
            ("service-object", GroupKind::Service) => {
                if c.eat("object") {
                    let n = c.word("service object name")?;
                    self.reference(c, RefKind::ServiceObject, n);
                    vec![Member::ServiceObject(n.text.to_string())]
                } else {
                    service_value(c)?
                        .values()
                        .into_iter()
                        .map(Member::Service)
                        .collect()
                }
            }
            ("protocol-object", GroupKind::Protocol) => {
                let t = c.word("protocol")?;
                vec![Member::Protocol(protocol_at(c, t)?)]
            }
            // `icmp-object TYPE`: an ICMP type by name or number, every
            // code of it (the group has no codes).
            ("icmp-object", GroupKind::IcmpType) => {
                let m = icmp_match(c, false)?;
                if m.code.is_some() {
                    c.back();
                    return Err(c.err(
                        "icmp-object takes a type only: for one code of it use \
                         'service-object icmp TYPE CODE' in a service group",
                    ));
                }
                vec![Member::IcmpType(m.icmp_type)]
            }
            _ => return Err(wrong(c)),
        })
    }
}

/// One member line of any group kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Network(NetworkValue),
    NetworkObject(String),
    Port(PortMatch),
    Service(ServiceValue),
    ServiceObject(String),
    Protocol(Protocol),
    IcmpType(u8),
    Group(String),
}

/// How `m` is stored in a group of `g`'s kind (`None` if it cannot be).
fn stored(g: &ObjectGroup, m: &Member) -> Option<Stored> {
    Some(match (g, m.clone()) {
        (ObjectGroup::Network { .. }, Member::Network(v)) => {
            Stored::Network(NetworkMember::Address(v))
        }
        (ObjectGroup::Network { .. }, Member::NetworkObject(n)) => {
            Stored::Network(NetworkMember::Object(n))
        }
        (ObjectGroup::Network { .. }, Member::Group(n)) => Stored::Network(NetworkMember::Group(n)),
        (ObjectGroup::Service { .. }, Member::Port(p)) => Stored::Service(ServiceMember::Port(p)),
        (ObjectGroup::Service { .. }, Member::Service(v)) => {
            Stored::Service(ServiceMember::Service(v))
        }
        (ObjectGroup::Service { .. }, Member::ServiceObject(n)) => {
            Stored::Service(ServiceMember::Object(n))
        }
        (ObjectGroup::Service { .. }, Member::Group(n)) => Stored::Service(ServiceMember::Group(n)),
        (ObjectGroup::Protocol { .. }, Member::Protocol(p)) => {
            Stored::Protocol(ProtocolMember::Protocol(p))
        }
        (ObjectGroup::Protocol { .. }, Member::Group(n)) => {
            Stored::Protocol(ProtocolMember::Group(n))
        }
        (ObjectGroup::IcmpType { .. }, Member::IcmpType(t)) => {
            Stored::IcmpType(IcmpTypeMember::Type(t))
        }
        (ObjectGroup::IcmpType { .. }, Member::Group(n)) => {
            Stored::IcmpType(IcmpTypeMember::Group(n))
        }
        _ => return None,
    })
}

/// Add a member unless an identical one is there (the ASA keeps one);
/// false if it was there. `sets` says which are there (`member_sets`).
fn group_add(g: &mut ObjectGroup, sets: &mut MemberSets, m: &Member) -> bool {
    let Some(x) = stored(g, m) else {
        return false;
    };
    if sets.contains(group_name(g), &x) {
        return false;
    }
    match (x.clone(), &mut *g) {
        (Stored::Network(x), ObjectGroup::Network { members, .. }) => members.push(x),
        (Stored::Service(x), ObjectGroup::Service { members, .. }) => members.push(x),
        (Stored::Protocol(x), ObjectGroup::Protocol { members, .. }) => members.push(x),
        (Stored::IcmpType(x), ObjectGroup::IcmpType { members, .. }) => members.push(x),
        _ => return false,
    }
    sets.added(group_name(g), x);
    true
}

/// Remove an identical member; false if there was none.
fn group_remove(g: &mut ObjectGroup, sets: &mut MemberSets, m: &Member) -> bool {
    fn remove<T: PartialEq>(v: &mut Vec<T>, x: &T) {
        if let Some(k) = v.iter().position(|y| y == x) {
            v.remove(k);
        }
    }
    let Some(x) = stored(g, m) else {
        return false;
    };
    if !sets.removed(group_name(g), &x) {
        return false;
    }
    match (&x, g) {
        (Stored::Network(x), ObjectGroup::Network { members, .. }) => remove(members, x),
        (Stored::Service(x), ObjectGroup::Service { members, .. }) => remove(members, x),
        (Stored::Protocol(x), ObjectGroup::Protocol { members, .. }) => remove(members, x),
        (Stored::IcmpType(x), ObjectGroup::IcmpType { members, .. }) => remove(members, x),
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::modes::{REASON_DESCRIPTION, REASON_DUPLICATE_MEMBER};
    use crate::parse::test_support::*;

    #[test]
    fn object_group_members() {
        let c = cfg(
            "object network W\n host 198.18.0.80\nobject-group network NETS\n network-object host 198.18.0.1\n network-object 198.18.1.0 255.255.255.0\n network-object 2001:db8::/48\n network-object object W\n group-object MORE\n description duplicate follows\n network-object host 198.18.0.1\nobject-group network MORE\n network-object host 198.18.9.9\nobject-group service WEB tcp\n port-object eq www\n port-object range 8000 8080\nobject-group service DNS tcp-udp\n port-object eq domain\nobject service SSH\n service tcp destination eq ssh\nobject-group service MIX\n service-object tcp destination eq https\n service-object tcp-udp destination eq domain\n service-object object SSH\n service-object esp\nobject-group protocol P\n protocol-object tcp\n protocol-object 112\n group-object Q\nobject-group protocol Q\n protocol-object udp",
        );
        let g = &c.object_groups;
        assert_eq!(
            g[0],
            ObjectGroup::Network {
                name: "NETS".into(),
                members: vec![
                    NetworkMember::Address(NetworkValue::Host(ip("198.18.0.1"))),
                    NetworkMember::Address(NetworkValue::V4Subnet(
                        v4("198.18.1.0"),
                        v4("255.255.255.0")
                    )),
                    NetworkMember::Address(NetworkValue::V6Subnet(
                        "2001:db8::".parse().unwrap(),
                        48
                    )),
                    NetworkMember::Object("W".into()),
                    NetworkMember::Group("MORE".into()),
                ],
            }
        );
        assert_eq!(
            g[2],
            ObjectGroup::Service {
                name: "WEB".into(),
                protocol: Some(PortProtocol::Tcp),
                members: vec![
                    ServiceMember::Port(PortMatch::Eq(80)),
                    ServiceMember::Port(PortMatch::Range(8000, 8080)),
                ],
            }
        );
        assert_eq!(
            g[3],
            ObjectGroup::Service {
                name: "DNS".into(),
                protocol: Some(PortProtocol::TcpUdp),
                members: vec![ServiceMember::Port(PortMatch::Eq(53))],
            }
        );
        let svc = |p, d| {
            ServiceMember::Service(ServiceValue {
                protocol: Protocol::Number(p),
                source: None,
                destination: d,
                icmp: None,
            })
        };
        assert_eq!(
            g[4],
            ObjectGroup::Service {
                name: "MIX".into(),
                protocol: None,
                members: vec![
                    svc(6, Some(PortMatch::Eq(443))),
                    svc(6, Some(PortMatch::Eq(53))),
                    svc(17, Some(PortMatch::Eq(53))),
                    ServiceMember::Object("SSH".into()),
                    svc(50, None),
                ],
            }
        );
        assert_eq!(
            g[5],
            ObjectGroup::Protocol {
                name: "P".into(),
                members: vec![
                    ProtocolMember::Protocol(Protocol::Number(6)),
                    ProtocolMember::Protocol(Protocol::Number(112)),
                    ProtocolMember::Group("Q".into()),
                ],
            }
        );
        assert_eq!(
            ignored(
                "object-group network N\n description x\n network-object host 198.18.0.1\n network-object host 198.18.0.1"
            ),
            vec![(2, REASON_DESCRIPTION), (4, REASON_DUPLICATE_MEMBER)]
        );
    }

    #[test]
    fn object_group_member_removal_and_reentry() {
        let c = cfg(
            "object-group network N\n network-object host 198.18.0.1\n network-object host 198.18.0.2\nobject-group service M\n service-object tcp-udp destination eq 53\n service-object gre\nobject-group network N\n no network-object host 198.18.0.1\n network-object host 198.18.0.3\nobject-group service M\n no service-object tcp-udp destination eq 53",
        );
        assert_eq!(
            c.object_groups[0],
            ObjectGroup::Network {
                name: "N".into(),
                members: vec![
                    NetworkMember::Address(NetworkValue::Host(ip("198.18.0.2"))),
                    NetworkMember::Address(NetworkValue::Host(ip("198.18.0.3"))),
                ],
            }
        );
        assert_eq!(
            c.object_groups[1],
            ObjectGroup::Service {
                name: "M".into(),
                protocol: None,
                members: vec![ServiceMember::Service(ServiceValue {
                    protocol: Protocol::Number(47),
                    source: None,
                    destination: None,
                    icmp: None
                })],
            }
        );
        let c = cfg(
            "object-group network A\n network-object host 198.18.0.1\nno object-group network A\nobject-group service B udp\n port-object eq 53\nno object-group service B udp",
        );
        assert!(c.object_groups.is_empty());
    }

    #[test]
    fn object_group_errors() {
        check_errors(&[
            (
                "object-group",
                1,
                13,
                "expected 'network', 'service', 'protocol' or 'icmp-type'",
            ),
            (
                "object-group user U",
                1,
                14,
                "object-group user is not supported",
            ),
            (
                "object-group foo F",
                1,
                14,
                "expected 'network', 'service', 'protocol' or 'icmp-type', found 'foo'",
            ),
            ("object-group network", 1, 21, "expected object-group name"),
            (
                "object-group network N tcp",
                1,
                24,
                "unexpected 'tcp' after end of command",
            ),
            (
                "object-group service S sctp",
                1,
                24,
                "expected 'tcp', 'udp' or 'tcp-udp', found 'sctp'",
            ),
            (
                "object-group network N\n port-object eq 80",
                2,
                2,
                "'port-object' does not belong in a network group",
            ),
            (
                "object-group service S tcp\n service-object tcp",
                2,
                2,
                "'service-object' does not belong in a tcp port group",
            ),
            (
                "object-group service S\n port-object eq 80",
                2,
                2,
                "'port-object' does not belong in a service group",
            ),
            (
                "object-group service S tcp\n port-object neq 80",
                2,
                14,
                "expected 'eq' or 'range', found 'neq'",
            ),
            (
                "object-group service S udp\n port-object eq ssh",
                2,
                17,
                "invalid port 'ssh' for udp",
            ),
            (
                "object-group service S tcp-udp\n port-object eq syslog",
                2,
                17,
                "invalid port 'syslog' for tcp-udp",
            ),
            (
                "object-group service S tcp\n port-object range 90 80",
                2,
                23,
                "a port range runs from the lower port to the higher",
            ),
            (
                "object-group service S\n service-object icmp6 mask-reply",
                2,
                23,
                "'mask-reply' is an icmp type, not an icmp6 type: name it after icmp",
            ),
            (
                "object-group protocol P\n protocol-object tcp-udp",
                2,
                18,
                "invalid protocol 'tcp-udp'",
            ),
            (
                "object-group network N\n network-object 198.18.0.1",
                2,
                27,
                "expected mask or prefix",
            ),
            (
                "object-group network N\n network-object any",
                2,
                17,
                "expected 'host', 'object' or a network, found 'any'",
            ),
            (
                "object-group network N\n network-object object",
                2,
                23,
                "expected network object name",
            ),
            (
                "object-group network N\n group-object",
                2,
                14,
                "expected object-group name",
            ),
            (
                "object-group network N\n no network-object host 198.18.0.1",
                2,
                5,
                "no such member in object-group 'N'",
            ),
            (
                "object-group network N\nobject-group protocol N",
                2,
                14,
                "object-group 'N' already exists as a network group",
            ),
            (
                "object-group service N tcp\nobject-group service N udp",
                2,
                14,
                "object-group 'N' already exists as a tcp port group",
            ),
            (
                "object network N\n host 198.18.0.1\nobject-group network N",
                3,
                22,
                "'N' is already an object",
            ),
            (
                "no object-group network N",
                1,
                25,
                "no such object-group network 'N'",
            ),
            (
                "object-group protocol N\nno object-group network N",
                2,
                25,
                "no such object-group network 'N'",
            ),
            (
                "object-group network N\n group-object M",
                2,
                15,
                "object-group 'M' is not defined",
            ),
            (
                "object-group network N\n group-object M\nobject-group service M tcp",
                2,
                15,
                "object-group 'M' is a tcp port group, not a network group",
            ),
            (
                "object-group service N tcp\n group-object M\nobject-group service M udp",
                2,
                15,
                "object-group 'M' is a udp port group, not a tcp port group",
            ),
            (
                "object-group network N\n network-object object X",
                2,
                24,
                "object 'X' is not defined",
            ),
            (
                "object service X\n service tcp\nobject-group network N\n network-object object X",
                4,
                24,
                "object 'X' is a service object, not a network object",
            ),
            (
                "object network X\n host 198.18.0.1\nobject-group service N\n service-object object X",
                4,
                24,
                "object 'X' is a network object, not a service object",
            ),
            (
                "object-group network N\n group-object N",
                2,
                15,
                "group-object 'N' would make object-group 'N' contain itself",
            ),
        ]);
        // A cycle through two groups is reported at both group-objects.
        assert_eq!(
            errs(
                "object-group network A\n group-object B\nobject-group network B\n group-object A"
            ),
            vec![
                (
                    2,
                    15,
                    "group-object 'B' would make object-group 'A' contain itself".to_string()
                ),
                (
                    4,
                    15,
                    "group-object 'A' would make object-group 'B' contain itself".to_string()
                ),
            ]
        );
    }
}
