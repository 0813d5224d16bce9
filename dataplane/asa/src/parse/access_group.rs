//! `access-group ACL in interface IF`: binds an access-list to an
//! interface; a second one for the interface replaces the first (of its
//! kind: an EtherType list's, the `ethertype` module's, and an extended
//! list's are two).

use crate::ast::AccessGroup;

use super::Parser;
use super::cursor::{Cur, R, Tok};
use super::refs::{Owner, RefKind};

impl Parser {
    pub(super) fn access_group(&mut self, c: &mut Cur<'_>) -> R<()> {
        let (acl, iface) = self.access_group_args(c)?;
        if let Some(&reason) = self.other_acls.get(acl.text) {
            // Binding a standard or webtype list: as ignored as the list.
            self.ignore(c, reason);
            return Ok(());
        }
        if self.is_ethertype(acl.text) {
            self.ethertype_group(c, acl, iface);
            return Ok(());
        }
        let group = AccessGroup {
            acl: acl.text.to_string(),
            interface: iface.text.to_string(),
        };
        let at = self.refs.len();
        self.reference(c, RefKind::Acl, acl);
        self.reference(c, RefKind::Interface, iface);
        self.own(at, &Owner::AccessGroup(group.clone()));
        // A second access-group for an interface replaces the first.
        self.edited |= self
            .cfg
            .access_groups
            .iter()
            .any(|x| x.interface == group.interface);
        self.cfg
            .access_groups
            .retain(|x| x.interface != group.interface);
        self.cfg.access_groups.push(group);
        Ok(())
    }

    pub(super) fn access_group_args<'a>(&self, c: &mut Cur<'a>) -> R<(Tok<'a>, Tok<'a>)> {
        let acl = c.word("access-list name")?;
        match c.peek() {
            Some("in") => {
                c.next();
            }
            Some("out" | "global") => {
                return Err(c.err("only 'in interface' access-groups are supported"));
            }
            _ => return Err(c.expected("'in'")),
        }
        c.keyword("interface")?;
        let iface = c.word("interface name")?;
        c.done()?;
        Ok((acl, iface))
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;

    #[test]
    fn access_groups() {
        let c = cfg(
            "access-list A permit ip any any\naccess-list B permit ip any any\naccess-group A in interface outside\naccess-group B in interface inside\naccess-group B in interface outside",
        );
        assert_eq!(
            c.access_groups,
            vec![
                AccessGroup {
                    acl: "B".into(),
                    interface: "inside".into()
                },
                AccessGroup {
                    acl: "B".into(),
                    interface: "outside".into()
                },
            ]
        );
        let c = cfg(
            "access-list A permit ip any any\naccess-group A in interface outside\nno access-group A in interface outside",
        );
        assert!(c.access_groups.is_empty());
        check_errors(&[
            (
                "access-list A permit ip any any\naccess-group A out interface outside",
                2,
                16,
                "only 'in interface' access-groups are supported",
            ),
            (
                "access-list A permit ip any any\naccess-group A global",
                2,
                16,
                "only 'in interface' access-groups are supported",
            ),
            ("access-group", 1, 13, "expected access-list name"),
            (
                "access-list A permit ip any any\naccess-group A",
                2,
                15,
                "expected 'in'",
            ),
            (
                "access-list A permit ip any any\naccess-group A in outside",
                2,
                19,
                "expected 'interface', found 'outside'",
            ),
            (
                "access-list A permit ip any any\naccess-group A in interface",
                2,
                28,
                "expected interface name",
            ),
            (
                "access-list A permit ip any any\naccess-group A in interface o x",
                2,
                31,
                "unexpected 'x' after end of command",
            ),
            (
                "access-group NOPE in interface outside",
                1,
                14,
                "access-list 'NOPE' is not defined",
            ),
            (
                "no access-group A in interface outside",
                1,
                17,
                "no such access-group 'A' in interface outside",
            ),
            (
                "interface G0\n nameif inside\naccess-list A permit ip any any\naccess-group A in interface outside",
                4,
                29,
                "no interface has nameif 'outside'",
            ),
        ]);
        // Without interface blocks the node configuration names interfaces.
        assert_eq!(
            cfg("access-list A permit ip any any\naccess-group A in interface dmz").access_groups
                [0]
            .interface,
            "dmz"
        );
    }
}
