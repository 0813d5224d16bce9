//! `access-group ACL in interface IF`, `access-group ACL out interface
//! IF` and `access-group ACL global`: bind an access-list to what enters
//! an interface, what leaves it, or what enters any interface
//! (docs/asa-behaviour.md §2.3). A second binding of a kind for an
//! interface replaces the first (an EtherType list's, the `ethertype`
//! module's, and an extended list's inbound are two kinds), and a second
//! `global` replaces the first, as the ASA keeps one of each.

use crate::ast::AccessGroup;

use super::Parser;
use super::cursor::{Cur, R, Tok};
use super::refs::{Owner, RefKind};

/// `access-group … in interface IF control-plane`: the ASA's list for
/// traffic to the unit itself, not through it.
const REASON_CONTROL_PLANE: &str = "a control-plane access-group filters traffic to the firewall \
     itself; Rampart's management is its admin API (docs/ops.md)";
/// `access-group … in interface IF per-user-override`.
const REASON_PER_USER: &str = "per-user-override is not enforced: Rampart has no per-user \
     access-lists, and the access-group applies as written";

/// Which of an interface's bindings a list takes: an extended list's
/// inbound and outbound ones, and an EtherType list's (inbound, beside
/// the extended one).
#[derive(Debug, Clone, Copy)]
enum Slot {
    In,
    Out,
    Ethertype,
}

/// Where an `access-group` line binds its list.
#[derive(Debug, Clone, Copy)]
pub(super) enum Binding<'a> {
    /// `in interface IF`.
    In(Tok<'a>),
    /// `in interface IF control-plane`: ignored.
    ControlPlane,
    /// `out interface IF`.
    Out(Tok<'a>),
    /// `global`.
    Global,
}

impl Parser {
    pub(super) fn access_group(&mut self, c: &mut Cur<'_>) -> R<()> {
        let (acl, binding, per_user) = self.access_group_args(c)?;
        if let Some(&reason) = self.other_acls.get(acl.text) {
            // Binding a standard or webtype list: as ignored as the list.
            self.ignore(c, reason);
            return Ok(());
        }
        if per_user {
            self.ignore(c, REASON_PER_USER);
        }
        let iface = match binding {
            Binding::ControlPlane => {
                self.ignore(c, REASON_CONTROL_PLANE);
                return Ok(());
            }
            Binding::In(iface) => iface,
            Binding::Out(_) | Binding::Global if self.is_ethertype(acl.text) => {
                return Err(c.err_at(
                    acl.col,
                    format!(
                        "'{}' is an EtherType access-list: it binds only 'in interface' \
                         (docs/asa-behaviour.md §2.7)",
                        acl.text
                    ),
                ));
            }
            Binding::Out(iface) => {
                self.bind_interface(c, acl, iface, Slot::Out);
                return Ok(());
            }
            Binding::Global => {
                let at = self.refs.len();
                self.reference(c, RefKind::Acl, acl);
                self.own(at, &Owner::GlobalAccessGroup(acl.text.to_string()));
                self.edited |= self.cfg.global_access_group.is_some();
                self.cfg.global_access_group = Some(acl.text.to_string());
                return Ok(());
            }
        };
        let slot = if self.is_ethertype(acl.text) {
            Slot::Ethertype
        } else {
            Slot::In
        };
        self.bind_interface(c, acl, iface, slot);
        Ok(())
    }

    /// Bind `acl` to `iface` in `slot`: its references are checked once
    /// the whole text is read, and a second binding of the slot for an
    /// interface replaces the first.
    fn bind_interface(&mut self, c: &Cur<'_>, acl: Tok<'_>, iface: Tok<'_>, slot: Slot) {
        let group = AccessGroup {
            acl: acl.text.to_string(),
            interface: iface.text.to_string(),
        };
        let at = self.refs.len();
        let (kind, owner) = match slot {
            Slot::In => (RefKind::Acl, Owner::AccessGroup(group.clone())),
            Slot::Out => (RefKind::Acl, Owner::AccessGroupOut(group.clone())),
            Slot::Ethertype => (RefKind::EthertypeAcl, Owner::EthertypeGroup(group.clone())),
        };
        self.reference(c, kind, acl);
        self.reference(c, RefKind::Interface, iface);
        self.own(at, &owner);
        let groups = match slot {
            Slot::In => &mut self.cfg.access_groups,
            Slot::Out => &mut self.cfg.access_groups_out,
            Slot::Ethertype => &mut self.cfg.ethertype_groups,
        };
        self.edited |= groups.iter().any(|x| x.interface == group.interface);
        groups.retain(|x| x.interface != group.interface);
        groups.push(group);
    }

    /// The list, the binding, and whether `per-user-override` follows.
    pub(super) fn access_group_args<'a>(
        &mut self,
        c: &mut Cur<'a>,
    ) -> R<(Tok<'a>, Binding<'a>, bool)> {
        let acl = c.word("access-list name")?;
        let binding = match c.peek() {
            Some("global") => {
                c.next();
                c.done()?;
                return Ok((acl, Binding::Global, false));
            }
            Some("in") => {
                c.next();
                Binding::In
            }
            Some("out") => {
                c.next();
                Binding::Out
            }
            _ => return Err(c.expected("'in', 'out' or 'global'")),
        };
        c.keyword("interface")?;
        let iface = c.word("interface name")?;
        let inbound = matches!(binding(iface), Binding::In(_));
        let binding = match c.peek() {
            Some("control-plane") if inbound => {
                c.next();
                Binding::ControlPlane
            }
            Some("per-user-override") if inbound => {
                c.next();
                c.done()?;
                return Ok((acl, binding(iface), true));
            }
            _ => binding(iface),
        };
        c.done()?;
        Ok((acl, binding, false))
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
        // Out and global bindings: one of each kind per interface, one
        // global, the last of each kept; `no` removes by its kind.
        let c = cfg(
            "access-list A permit ip any any\naccess-list B permit ip any any\naccess-group A out interface outside\naccess-group B out interface outside\naccess-group A in interface outside\naccess-group A global\naccess-group B global",
        );
        let group = |acl: &str, interface: &str| AccessGroup {
            acl: acl.into(),
            interface: interface.into(),
        };
        assert_eq!(c.access_groups_out, vec![group("B", "outside")]);
        assert_eq!(c.access_groups, vec![group("A", "outside")]);
        assert_eq!(c.global_access_group.as_deref(), Some("B"));
        let c = cfg(
            "access-list A permit ip any any\naccess-group A out interface outside\naccess-group A in interface outside\naccess-group A global\nno access-group A out interface outside\nno access-group A global",
        );
        assert!(c.access_groups_out.is_empty());
        assert_eq!(c.global_access_group, None);
        assert_eq!(c.access_groups, vec![group("A", "outside")]);
        // A control-plane list filters traffic to the firewall itself: the
        // line is ignored. per-user-override binds as written, noted.
        let text = "access-list A permit ip any any\naccess-group A in interface outside control-plane\naccess-group A in interface inside per-user-override";
        let c = cfg(text);
        assert_eq!(c.access_groups, vec![group("A", "inside")]);
        let notes = ignored(text);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].1.contains("control-plane"));
        assert!(notes[1].1.contains("per-user-override"));
        // A refused line or a `no` leaves no note.
        let text = "access-list A permit ip any any\naccess-group A in interface inside per-user-override\nno access-group A in interface inside per-user-override";
        assert_eq!(ignored(text).len(), 1);
        assert_eq!(
            err(
                "access-list A permit ip any any\naccess-group A in interface inside per-user-override x"
            ),
            (2, 54, "unexpected 'x' after end of command".to_string())
        );
        // Neither option follows `out`.
        let text =
            "access-list A permit ip any any\naccess-group A out interface outside control-plane";
        assert_eq!(
            err(text),
            (
                2,
                38,
                "unexpected 'control-plane' after end of command".to_string()
            )
        );
        // A standard list bound globally is as ignored as the list.
        let text = "access-list S standard permit 198.18.0.0 255.255.0.0\naccess-group S global";
        assert_eq!(ignored(text).len(), 2);
        assert_eq!(cfg(text).global_access_group, None);
        check_errors(&[
            (
                "access-list A permit ip any any\naccess-group A in interface outside\nno access-group A out interface outside",
                3,
                17,
                "no such access-group 'A' out interface outside",
            ),
            (
                "access-list A permit ip any any\naccess-list B permit ip any any\naccess-group A global\nno access-group B global",
                4,
                17,
                "no such access-group 'B' global",
            ),
            (
                "access-list A permit ip any any\naccess-group A global x",
                2,
                23,
                "unexpected 'x' after end of command",
            ),
            (
                "access-group NOPE global",
                1,
                14,
                "access-list 'NOPE' is not defined",
            ),
            (
                "access-group NOPE out interface outside",
                1,
                14,
                "access-list 'NOPE' is not defined",
            ),
            (
                "access-list E ethertype permit bpdu\naccess-group E out interface outside",
                2,
                14,
                "'E' is an EtherType access-list: it binds only 'in interface' (docs/asa-behaviour.md §2.7)",
            ),
            (
                "access-list E ethertype permit bpdu\naccess-group E global",
                2,
                14,
                "'E' is an EtherType access-list: it binds only 'in interface' (docs/asa-behaviour.md §2.7)",
            ),
            ("access-group", 1, 13, "expected access-list name"),
            (
                "access-list A permit ip any any\naccess-group A",
                2,
                15,
                "expected 'in', 'out' or 'global'",
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
