//! Top-level `no` forms: removing an access-list line or a whole
//! access-list, an access-group, a class-map, policy-map, service-policy,
//! object, object-group or interface (and `no fragment`, in `fragment`;
//! `no sysopt`, in `sysopt`).

use crate::ast::*;

use super::Parser;
use super::access_group::Binding;
use super::access_list::{line_clause, remark, time_range_col, time_range_words};
use super::ace_identity::identity;
use super::cursor::{Cur, R};
use super::modes::{REASON_TYPED_MAP, harmless_reason, is_harmless};
use super::objects::object_kind;
use super::refs::object_name;

impl Parser {
    pub(super) fn no(&mut self, c: &mut Cur<'_>) -> R<()> {
        c.next();
        let what = c.word("command to remove")?;
        match what.text {
            "access-list" => self.no_access_list(c),
            "same-security-traffic" => self.same_security_traffic(c, true),
            "fragment" => self.fragment(c, true),
            "sysopt" => self.sysopt(c, true),
            "time-range" => self.no_time_range(c),
            "clock" => self.clock(c, true),
            "names" => self.names_command(c, true),
            "name" => self.no_name(c),
            "tcp-map" => self.no_tcp_map(c),
            "access-group" => {
                let (acl, binding, _) = self.access_group_args(c)?;
                if let Some(&reason) = self.other_acls.get(acl.text) {
                    self.ignore(c, reason);
                    return Ok(());
                }
                let (groups, iface, direction) = match binding {
                    Binding::ControlPlane => return Ok(()),
                    Binding::Global => {
                        if self.cfg.global_access_group.as_deref() != Some(acl.text) {
                            return Err(c.err_at(
                                acl.col,
                                format!("no such access-group '{}' global", acl.text),
                            ));
                        }
                        self.cfg.global_access_group = None;
                        return Ok(());
                    }
                    Binding::In(iface) => {
                        let n = self.cfg.ethertype_groups.len();
                        self.cfg
                            .ethertype_groups
                            .retain(|x| !(x.acl == acl.text && x.interface == iface.text));
                        if self.cfg.ethertype_groups.len() < n {
                            return Ok(());
                        }
                        (&mut self.cfg.access_groups, iface, "in")
                    }
                    Binding::Out(iface) => (&mut self.cfg.access_groups_out, iface, "out"),
                };
                let n = groups.len();
                groups.retain(|x| !(x.acl == acl.text && x.interface == iface.text));
                if groups.len() == n {
                    return Err(c.err_at(
                        acl.col,
                        format!(
                            "no such access-group '{}' {direction} interface {}",
                            acl.text, iface.text
                        ),
                    ));
                }
                Ok(())
            }
            "class-map" | "policy-map" if c.peek() == Some("type") => {
                self.ignore(c, REASON_TYPED_MAP);
                Ok(())
            }
            "class-map" => {
                let name = c.word("class-map name")?;
                c.done()?;
                let n = self.cfg.class_maps.len();
                self.cfg.class_maps.retain(|m| m.name != name.text);
                if n == self.cfg.class_maps.len() {
                    return Err(c.err_at(name.col, format!("no such class-map '{}'", name.text)));
                }
                Ok(())
            }
            "policy-map" => {
                let name = c.word("policy-map name")?;
                c.done()?;
                let n = self.cfg.policy_maps.len();
                self.cfg.policy_maps.retain(|m| m.name != name.text);
                if n == self.cfg.policy_maps.len() {
                    return Err(c.err_at(name.col, format!("no such policy-map '{}'", name.text)));
                }
                Ok(())
            }
            "service-policy" => {
                let (sp, name, _) = self.service_policy_args(c)?;
                let n = self.cfg.service_policies.len();
                self.cfg.service_policies.retain(|x| *x != sp);
                if n == self.cfg.service_policies.len() {
                    return Err(
                        c.err_at(name.col, format!("no such service-policy '{}'", name.text))
                    );
                }
                Ok(())
            }
            "object" => {
                let (kind, service) = object_kind(c)?;
                let name = c.word("object name")?;
                c.done()?;
                let n = self.cfg.objects.len();
                self.cfg.objects.retain(|o| {
                    !(object_name(o) == name.text && matches!(o, Object::Service { .. }) == service)
                });
                if n == self.cfg.objects.len() {
                    return Err(c.err_at(
                        name.col,
                        format!("no such object {} '{}'", kind.text, name.text),
                    ));
                }
                self.valueless.retain(|v| v.name != name.text);
                Ok(())
            }
            "object-group" => {
                let kind = c.word("'network', 'service', 'protocol' or 'icmp-type'")?;
                let want: fn(&ObjectGroup) -> bool = match kind.text {
                    "network" => |g| matches!(g, ObjectGroup::Network { .. }),
                    "service" => |g| matches!(g, ObjectGroup::Service { .. }),
                    "protocol" => |g| matches!(g, ObjectGroup::Protocol { .. }),
                    "icmp-type" => |g| matches!(g, ObjectGroup::IcmpType { .. }),
                    _ => {
                        c.back();
                        return Err(c.expected("'network', 'service', 'protocol' or 'icmp-type'"));
                    }
                };
                let name = c.word("object-group name")?;
                if kind.text == "service" {
                    // The protocol may be repeated, as `show run` prints it.
                    let _ = c.eat("tcp") || c.eat("udp") || c.eat("tcp-udp");
                }
                c.done()?;
                let Some(i) = self
                    .group_names
                    .find(name.text)
                    .filter(|&i| want(&self.cfg.object_groups[i]))
                else {
                    return Err(c.err_at(
                        name.col,
                        format!("no such object-group {} '{}'", kind.text, name.text),
                    ));
                };
                self.cfg.object_groups.remove(i);
                self.group_names.removed(name.text, i);
                self.member_sets.dropped(name.text);
                Ok(())
            }
            "interface" => {
                let hw = c.word("interface name")?;
                c.done()?;
                let n = self.cfg.interfaces.len();
                self.cfg.interfaces.retain(|i| i.hardware != hw.text);
                if n == self.cfg.interfaces.len() {
                    return Err(c.err_at(hw.col, format!("no such interface '{}'", hw.text)));
                }
                self.bridge_members.remove(hw.text);
                self.management_only_at.remove(hw.text);
                Ok(())
            }
            w if is_harmless(w) => {
                self.ignore(c, harmless_reason(w));
                Ok(())
            }
            w => Err(c.err_at(what.col, format!("unknown command 'no {w}'"))),
        }
    }

    fn no_access_list(&mut self, c: &mut Cur<'_>) -> R<()> {
        let name = c.word("access-list name")?;
        if let Some(&reason) = self.other_acls.get(name.text) {
            if c.peek().is_none() {
                self.other_acls.remove(name.text);
            }
            c.rest();
            self.ignore(c, reason);
            return Ok(());
        }
        if self.is_ethertype(name.text) {
            return self.no_ethertype_line(c, name);
        }
        let Some(ai) = self.acl_position(name.text) else {
            return Err(c.err_at(name.col, format!("no such access-list '{}'", name.text)));
        };
        if c.peek().is_none() {
            self.remove_acl(ai);
            return Ok(());
        }
        // `line N` names the entry by its place (remarks count) as well as
        // by its text: an access-list may hold the same remark twice, and
        // the number says which one goes (an ACE is there once at most).
        let number = line_clause(c)?;
        let col = c.col();
        let line = if c.eat("remark") {
            AclLine::Remark(remark(c)?.to_string())
        } else {
            c.eat("extended");
            let at = self.refs.len();
            let ace = self.ace(c);
            self.refs.truncate(at);
            AclLine::Ace(ace?)
        };
        // An ACE is named by its match, whatever its `log` options and
        // `inactive`: the list holds one ACE per match, as re-entering one
        // changes it in place (`access_list`, docs/asa-behaviour.md §2.1),
        // and the index (`ace_index`) says where. A remark is found by its
        // text.
        let key = match &line {
            AclLine::Ace(a) => Some(identity(a)),
            AclLine::Remark(_) => None,
        };
        let lines = &mut self.cfg.access_lists[ai].lines;
        let found = match &key {
            Some(key) => self.aces.find(name.text, key),
            None => match number {
                Some((n, _)) => lines.get(n - 1).filter(|l| **l == line).map(|_| n - 1),
                None => lines.iter().position(|l| *l == line),
            },
        };
        let k = match (number, found) {
            (Some((n, _)), Some(k)) if k == n - 1 => k,
            (Some((n, at)), _) => {
                return Err(c.err_at(
                    at,
                    format!("line {n} of access-list '{}' is not this entry", name.text),
                ));
            }
            (None, Some(k)) => k,
            (None, None) => {
                return Err(c.err_at(col, format!("no such line in access-list '{}'", name.text)));
            }
        };
        // A `no` that names a time-range names the entry with that one:
        // the entry with another is not the one the operator means, and
        // removing a deny would widen the policy. Without a time-range it
        // names the entry whatever its range, as whatever its `log` and
        // `inactive` (docs/asa-behaviour.md §2.10).
        if let (AclLine::Ace(given), Some(AclLine::Ace(entry))) = (&line, lines.get(k))
            && given.time_range.is_some()
            && given.time_range != entry.time_range
        {
            return Err(c.err_at(
                time_range_col(c),
                format!(
                    "access-list '{}' has this entry with {}, not {}",
                    name.text,
                    time_range_words(entry),
                    time_range_words(given)
                ),
            ));
        }
        lines.remove(k);
        let gone = lines.is_empty();
        self.aces.removed(name.text, k, lines.len(), key.as_ref());
        if let Some(places) = self.entries.0.get_mut(name.text)
            && k < places.len()
        {
            places.remove(k);
        }
        if gone {
            // The ASA deletes an access-list with its last line.
            self.remove_acl(ai);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;

    #[test]
    fn no_access_list_lines() {
        let c = cfg(
            "access-list A remark web\naccess-list A extended permit tcp any host 198.18.0.1 eq www\naccess-list A permit tcp any host 198.18.0.2 eq 80 log\naccess-list A deny ip any any\nno access-list A permit tcp any host 198.18.0.1 eq 80\nno access-list A line 2 extended permit tcp any host 198.18.0.2 eq www log\nno access-list A remark web",
        );
        assert_eq!(
            c.access_lists[0].lines,
            vec![AclLine::Ace(Ace {
                action: Action::Deny,
                ..permit_ip(AddrSpec::Any, AddrSpec::Any)
            })]
        );
        // Removing the last line removes the list; `no access-list NAME` removes it whole.
        assert!(
            cfg("access-list A permit ip any any\nno access-list A permit ip any any")
                .access_lists
                .is_empty()
        );
        assert!(
            cfg("access-list A permit ip any any\naccess-list A remark x\nno access-list A")
                .access_lists
                .is_empty()
        );
        check_errors(&[
            (
                "no access-list A permit ip any any",
                1,
                16,
                "no such access-list 'A'",
            ),
            (
                "access-list A permit ip any any\nno access-list A deny ip any any",
                2,
                18,
                "no such line in access-list 'A'",
            ),
            (
                "access-list A permit ip any any\nno access-list A remark nothing",
                2,
                18,
                "no such line in access-list 'A'",
            ),
            (
                "access-list A permit ip any any\nno access-list A permit ip any",
                2,
                31,
                "expected destination address",
            ),
            (
                "access-list A permit ip any any\naccess-group A in interface outside\nno access-list A permit ip any any",
                2,
                14,
                "access-list 'A' is not defined",
            ),
        ]);
        // With `line N` the Nth line goes, not the first with the same text:
        // of remark, permit, remark, removing line 3 keeps the remark in front.
        let c = cfg(
            "access-list A remark ssh\naccess-list A extended permit tcp any host 198.18.0.5\naccess-list A remark ssh\nno access-list A line 3 remark ssh",
        );
        assert_eq!(c.access_lists[0].lines.len(), 2);
        assert_eq!(c.access_lists[0].lines[0], AclLine::Remark("ssh".into()));
        // An ACE entered twice is one entry, at its first place: deny,
        // permit, deny is the deny then the permit, and line 3 is not it.
        let deny_ssh = "deny tcp any host 198.18.0.5 eq ssh";
        let twice = format!(
            "access-list A extended {deny_ssh}\naccess-list A extended permit tcp any host 198.18.0.5\naccess-list A extended {deny_ssh}\n"
        );
        let c = cfg(&format!(
            "{twice}no access-list A line 1 extended {deny_ssh}"
        ));
        assert_eq!(c.access_lists[0].lines.len(), 1);
        assert_eq!(
            err(&format!(
                "{twice}no access-list A line 3 extended {deny_ssh}"
            )),
            (4, 23, "line 3 of access-list 'A' is not this entry".into())
        );
        check_errors(&[
            (
                "access-list A permit ip any any\naccess-list A deny ip any any\nno access-list A line 1 deny ip any any",
                3,
                23,
                "line 1 of access-list 'A' is not this entry",
            ),
            (
                "access-list A permit ip any any\nno access-list A line 2 permit ip any any",
                2,
                23,
                "line 2 of access-list 'A' is not this entry",
            ),
        ]);
        // An ACE is named by its match: its `log` options and `inactive`,
        // and the spelling of its addresses and ports, do not count.
        for (entered, removed) in [
            ("permit ip any any", "permit ip any any log"),
            (
                "permit tcp any host 198.18.0.1 eq 22 log 7 inactive",
                "permit tcp any 198.18.0.1 255.255.255.255 eq ssh",
            ),
            (
                "deny udp any any range 53 53",
                "line 1 deny udp any any eq 53 inactive",
            ),
        ] {
            let c = cfg(&format!(
                "access-list A {entered}\naccess-list A remark kept\nno access-list A {removed}"
            ));
            assert_eq!(
                c.access_lists[0].lines,
                vec![AclLine::Remark("kept".into())],
                "{entered} / {removed}"
            );
        }
        // A removed line's references are not checked.
        let c = cfg(
            "object network O\n host 198.18.0.1\naccess-list A permit ip object O any\naccess-list A permit ip any any\nno access-list A permit ip object O any\nno object network O",
        );
        assert!(c.objects.is_empty());
    }

    #[test]
    fn no_definitions() {
        let c = cfg(
            "interface G0\n nameif inside\nno interface G0\nobject network N\n host 198.18.0.1\nobject service S\n service tcp\nno object network N\nno object service S",
        );
        assert!(c.interfaces.is_empty());
        assert!(c.objects.is_empty());
        check_errors(&[
            ("no interface G0", 1, 14, "no such interface 'G0'"),
            ("no object network N", 1, 19, "no such object network 'N'"),
            (
                "object network N\n host 198.18.0.1\nno object service N",
                3,
                19,
                "no such object service 'N'",
            ),
            (
                "no object thing N",
                1,
                11,
                "expected 'network' or 'service', found 'thing'",
            ),
            (
                "no object-group thing N",
                1,
                17,
                "expected 'network', 'service', 'protocol' or 'icmp-type', found 'thing'",
            ),
            ("no class-map", 1, 13, "expected class-map name"),
            (
                "object network N\n host 198.18.0.1\naccess-list A permit ip object N any\nno object network N",
                3,
                32,
                "object 'N' is not defined",
            ),
            (
                "class-map C\n match any\npolicy-map P\n class C\nno class-map C",
                4,
                8,
                "class-map 'C' is not defined",
            ),
        ]);
        // An object removed before it got a value is not reported as valueless.
        assert!(
            cfg("object network N\nno object network N")
                .objects
                .is_empty()
        );
    }
}
