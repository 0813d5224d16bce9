//! `TYPE [CODE]` after `icmp` or `icmp6`: an access-list entry's
//! `icmp_argument` and a service's ICMP type ("Add an Extended ACE for
//! ICMP-Based Matching", Cisco ASA Series Firewall CLI Configuration
//! Guide: "Specifies the ICMP type by name or number, and the optional
//! ICMP code for that type. If you do not specify the code, then all
//! codes are used"). The type is a number 0–255 or a name of the entry's
//! family (`crate::icmp`); a code, 0–255, only follows a type.

use crate::ast::IcmpMatch;
use crate::icmp;

use super::cursor::{Cur, R};

/// Whether a word is written as a number (so a number out of range is
/// reported as one).
fn numeric(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|ch| ch.is_ascii_digit())
}

/// The family word of `v6`'s ICMP, as the protocol position writes it.
pub(super) fn family(v6: bool) -> &'static str {
    if v6 { "icmp6" } else { "icmp" }
}

/// `TYPE [CODE]` of an `icmp` (`v6` false) or `icmp6` entry or service.
pub(super) fn icmp_match(c: &mut Cur<'_>, v6: bool) -> R<IcmpMatch> {
    let t = c.word("ICMP type")?;
    let Some(icmp_type) = icmp::icmp_type(t.text, v6) else {
        let (own, other) = (family(v6), family(!v6));
        let message = if numeric(t.text) {
            format!("invalid ICMP type '{}', expected 0-255", t.text)
        } else if icmp::is_other_family_name(t.text, v6) {
            format!(
                "'{}' is an {other} type, not an {own} type: name it after {other}",
                t.text
            )
        } else {
            format!(
                "invalid {own} type '{}', expected an {own} type name or 0-255",
                t.text
            )
        };
        return Err(c.err_at(t.col, message));
    };
    let code =
        match c.peek() {
            Some(w) if numeric(w) => {
                let col = c.col();
                c.next();
                Some(w.parse::<u8>().map_err(|_| {
                    c.err_at(col, format!("invalid ICMP code '{w}', expected 0-255"))
                })?)
            }
            _ => None,
        };
    Ok(IcmpMatch { icmp_type, code })
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::modes::REASON_DUPLICATE_MEMBER;
    use crate::parse::test_support::*;

    fn icmp(icmp_type: u8, code: Option<u8>) -> Option<IcmpMatch> {
        Some(IcmpMatch { icmp_type, code })
    }

    /// `object-group icmp-type` with `icmp-object` (names and numbers,
    /// ICMP's) and `group-object`, named after `icmp` (Cisco ASA Series
    /// Firewall CLI Configuration Guide, "Add an Extended ACE for
    /// ICMP-Based Matching": `object-group icmp_grp_id`); a member
    /// repeated is one, `no icmp-object` removes it.
    #[test]
    fn icmp_type_groups() {
        let p = parsed(
            "object-group icmp-type ICMP-OK\n icmp-object echo-reply\n icmp-object 11\n \
             description ok\n group-object MORE\n icmp-object time-exceeded\n\
             object-group icmp-type MORE\n icmp-object unreachable\n icmp-object 200\n \
             no icmp-object 200\n\
             access-list A extended permit icmp any any object-group ICMP-OK log\n",
        );
        assert_eq!(
            p.config.object_groups[0],
            ObjectGroup::IcmpType {
                name: "ICMP-OK".into(),
                members: vec![
                    IcmpTypeMember::Type(0),
                    IcmpTypeMember::Type(11),
                    IcmpTypeMember::Group("MORE".into()),
                ],
            }
        );
        assert_eq!(
            p.config.object_groups[1],
            ObjectGroup::IcmpType {
                name: "MORE".into(),
                members: vec![IcmpTypeMember::Type(3)],
            }
        );
        assert!(
            p.ignored
                .iter()
                .any(|i| i.line == 6 && i.reason == REASON_DUPLICATE_MEMBER)
        );
        let a = ace(
            "object-group icmp-type G\n icmp-object echo\naccess-list A permit icmp any any object-group G",
        );
        assert_eq!(a.icmp, Some(IcmpSpec::Group("G".into())));
        // `no object-group icmp-type` removes the group (and no entry
        // may name it then).
        let c = cfg("object-group icmp-type G\n icmp-object echo\nno object-group icmp-type G");
        assert!(c.object_groups.is_empty());
    }

    /// `service icmp|icmp6 [TYPE [CODE]]` in an `object service` and
    /// `service-object icmp|icmp6 …` in a service group: names of the
    /// service's family, a code only after a type.
    #[test]
    fn icmp_types_in_services() {
        let c = cfg("object service PING\n service icmp echo\n\
             object service PTB\n service icmp6 packet-too-big 0\n\
             object service ANY6\n service icmp6\n\
             object-group service SVC\n service-object icmp unreachable 4\n \
             service-object icmp6 echo-reply\n service-object icmp 13\n \
             service-object icmp unreachable 4\n service-object tcp destination eq 22\n");
        let value = |o: &Object| match o {
            Object::Service { value, .. } => (value.protocol, value.icmp),
            Object::Network { .. } => panic!("{o:?}"),
        };
        assert_eq!(value(&c.objects[0]), (Protocol::Number(1), icmp(8, None)));
        assert_eq!(
            value(&c.objects[1]),
            (Protocol::Number(58), icmp(2, Some(0)))
        );
        assert_eq!(value(&c.objects[2]), (Protocol::Number(58), None));
        let ObjectGroup::Service { members, .. } = &c.object_groups[0] else {
            panic!("{:?}", c.object_groups[0]);
        };
        let typed: Vec<_> = members
            .iter()
            .map(|m| match m {
                ServiceMember::Service(v) => (v.protocol, v.icmp),
                other => panic!("{other:?}"),
            })
            .collect();
        // The repeated `unreachable 4` is one member; a member of another
        // code or family is another.
        assert_eq!(
            typed,
            [
                (Protocol::Number(1), icmp(3, Some(4))),
                (Protocol::Number(58), icmp(129, None)),
                (Protocol::Number(1), icmp(13, None)),
                (Protocol::Number(6), None),
            ]
        );
    }

    /// What stays refused, at the word: a code in an `icmp-object`, an
    /// ICMPv6 name or a bad number there, a type after a service of
    /// another protocol, a code without a type, a service group or an
    /// undefined name after `icmp`, an icmp-type group after `icmp6`.
    #[test]
    fn icmp_group_and_service_errors() {
        check_errors(&[
            (
                "object-group icmp-type G\n icmp-object unreachable 4",
                2,
                26,
                "icmp-object takes a type only: for one code of it use \
                 'service-object icmp TYPE CODE' in a service group",
            ),
            (
                "object-group icmp-type G\n icmp-object packet-too-big",
                2,
                14,
                "'packet-too-big' is an icmp6 type, not an icmp type: name it after icmp6",
            ),
            (
                "object-group icmp-type G\n icmp-object 256",
                2,
                14,
                "invalid ICMP type '256', expected 0-255",
            ),
            (
                "object-group icmp-type G\n icmp-object",
                2,
                13,
                "expected ICMP type",
            ),
            (
                "object-group icmp-type G\n network-object host 198.18.0.1",
                2,
                2,
                "'network-object' does not belong in a icmp-type group",
            ),
            (
                "object-group icmp-type G\n group-object N\nobject-group network N\n network-object host 198.18.0.1",
                2,
                15,
                "object-group 'N' is a network group, not a icmp-type group",
            ),
            (
                "object service S\n service tcp echo",
                2,
                14,
                "expected 'source' or 'destination', found 'echo'",
            ),
            (
                "object service S\n service icmp6 bogus",
                2,
                16,
                "invalid icmp6 type 'bogus', expected an icmp6 type name or 0-255",
            ),
            (
                "object-group service S\n service-object icmp 4000",
                2,
                22,
                "invalid ICMP type '4000', expected 0-255",
            ),
            (
                "object-group service S\n service-object icmp echo 300",
                2,
                27,
                "invalid ICMP code '300', expected 0-255",
            ),
            (
                "access-list A permit icmp any any object-group NOPE",
                1,
                48,
                "object-group 'NOPE' is not defined",
            ),
            (
                "object-group service SVC\n service-object icmp echo\n\
                 access-list A permit icmp any any object-group SVC",
                3,
                48,
                "object-group 'SVC' is a service group, not a icmp-type group: a service \
                 group of ICMP types goes in the protocol position (permit object-group SVC …)",
            ),
            (
                "object-group icmp-type G\n icmp-object echo\n\
                 access-list A permit icmp6 any any object-group G",
                3,
                49,
                "object-group 'G' after icmp6: an icmp-type group holds icmp types; name icmp6 \
                 types in a service group of 'service-object icmp6 TYPE' and use it as the \
                 protocol (permit object-group G …)",
            ),
            (
                "object-group icmp-type G\n icmp-object echo\n\
                 access-list A permit icmp any any object-group G 0",
                3,
                50,
                "unexpected '0' after end of command",
            ),
            (
                "object-group icmp-type G\n icmp-object echo\n\
                 access-list A permit tcp any any object-group G",
                3,
                47,
                "object-group 'G' is a icmp-type group, not a tcp port group",
            ),
        ]);
    }
}
