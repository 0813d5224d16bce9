//! `class-map NAME`: a description and one `match` (an access-list, any
//! traffic, a port, or the default inspection traffic).

use crate::ast::*;

use super::Parser;
use super::cursor::{Cur, R};
use super::modes::{Mode, REASON_TYPED_MAP};
use super::refs::{Owner, RefKind};
use super::values::{Ops, port_match};

/// Longest class-map name (`docs/asa-behaviour.md` §2.1).
const CLASS_MAP_NAME_MAX_CHARS: usize = 40;

/// Most class-maps in a configuration (the ASA's limit, `docs/asa-behaviour.md`
/// §2.1).
pub(super) const MAX_CLASS_MAPS: usize = 255;

/// Longest class-map description the ASA takes.
const DESCRIPTION_MAX_CHARS: usize = 200;

impl Parser {
    pub(super) fn class_map(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        if c.peek() == Some("type") {
            self.ignore(c, REASON_TYPED_MAP);
            self.mode = Mode::Ignored;
            return Ok(());
        }
        let name = c.word("class-map name")?;
        if name.text == "class-default" {
            return Err(c.err_at(name.col, "class-default is reserved"));
        }
        if name.text.chars().count() > CLASS_MAP_NAME_MAX_CHARS {
            return Err(c.err_at(name.col, "class-map names are at most 40 characters"));
        }
        c.done()?;
        let i = match self.cfg.class_maps.iter().position(|m| m.name == name.text) {
            Some(i) => i,
            None if self.cfg.class_maps.len() >= MAX_CLASS_MAPS => {
                return Err(c.err_at(
                    name.col,
                    format!("a configuration holds at most {MAX_CLASS_MAPS} class-maps"),
                ));
            }
            None => {
                self.cfg.class_maps.push(ClassMap {
                    name: name.text.to_string(),
                    description: None,
                    matcher: None,
                });
                self.cfg.class_maps.len() - 1
            }
        };
        self.mode = Mode::ClassMap(i);
        Ok(())
    }

    pub(super) fn class_map_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("'match' or 'description'")?;
        match (cmd.text, negate) {
            ("description", false) => {
                let Some((text, col)) = c.rest() else {
                    return Err(c.expected("description text"));
                };
                if text.chars().count() > DESCRIPTION_MAX_CHARS {
                    return Err(c.err_at(col, "descriptions are at most 200 characters"));
                }
                self.cfg.class_maps[i].description = Some(text.to_string());
            }
            ("description", true) => {
                c.rest();
                self.cfg.class_maps[i].description = None;
            }
            ("match", false) => {
                if self.cfg.class_maps[i].matcher.is_some() {
                    // One match per class-map (`docs/asa-behaviour.md` §2.1).
                    return Err(c.err_at(cmd.col, "a class-map takes one match command"));
                }
                let at = self.refs.len();
                let m = self.class_match(c)?;
                c.done()?;
                let owner = Owner::ClassMatch {
                    class_map: self.cfg.class_maps[i].name.clone(),
                    matcher: m.clone(),
                };
                self.own(at, &owner);
                self.cfg.class_maps[i].matcher = Some(m);
            }
            _ => {
                let at = self.refs.len();
                let m = self.class_match(c);
                self.refs.truncate(at);
                let m = m?;
                c.done()?;
                let map = &mut self.cfg.class_maps[i];
                if map.matcher.as_ref() != Some(&m) {
                    return Err(c.err_at(
                        cmd.col,
                        format!("no such match in class-map '{}'", map.name),
                    ));
                }
                map.matcher = None;
            }
        }
        Ok(())
    }

    fn class_match(&mut self, c: &mut Cur<'_>) -> R<ClassMatch> {
        let t = c.word("match criterion")?;
        match t.text {
            "access-list" => {
                let n = c.word("access-list name")?;
                self.reference(c, RefKind::Acl, n);
                Ok(ClassMatch::AccessList(n.text.to_string()))
            }
            "any" => Ok(ClassMatch::Any),
            "default-inspection-traffic" => Ok(ClassMatch::DefaultInspectionTraffic),
            "port" => {
                let p = match c.next().map(|t| t.text) {
                    Some("tcp") => PortProtocol::Tcp,
                    Some("udp") => PortProtocol::Udp,
                    Some(_) => {
                        c.back();
                        return Err(c.expected("'tcp' or 'udp'"));
                    }
                    None => return Err(c.expected("'tcp' or 'udp'")),
                };
                Ok(ClassMatch::Port(p, port_match(c, p.into(), Ops::EqRange)?))
            }
            other => Err(c.err_at(t.col, format!("match {other} is not supported"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;

    #[test]
    fn class_maps() {
        let c = cfg(
            "access-list A permit tcp any any\nclass-map C1\n description  web  servers \n match access-list A\nclass-map C2\n match port tcp eq www\nclass-map C3\n match port udp range 5000 5100\nclass-map C4\n match any\nclass-map inspection_default\n match default-inspection-traffic\nclass-map C1\n no description",
        );
        assert_eq!(
            c.class_maps,
            vec![
                ClassMap {
                    name: "C1".into(),
                    description: None,
                    matcher: Some(ClassMatch::AccessList("A".into())),
                },
                ClassMap {
                    name: "C2".into(),
                    description: None,
                    matcher: Some(ClassMatch::Port(PortProtocol::Tcp, PortMatch::Eq(80))),
                },
                ClassMap {
                    name: "C3".into(),
                    description: None,
                    matcher: Some(ClassMatch::Port(
                        PortProtocol::Udp,
                        PortMatch::Range(5000, 5100)
                    )),
                },
                ClassMap {
                    name: "C4".into(),
                    description: None,
                    matcher: Some(ClassMatch::Any),
                },
                ClassMap {
                    name: "inspection_default".into(),
                    description: None,
                    matcher: Some(ClassMatch::DefaultInspectionTraffic),
                },
            ]
        );
        assert_eq!(
            cfg("class-map C\n description  web  servers ").class_maps[0].description,
            Some("web  servers".into())
        );
        // Re-entering edits: the match can be replaced after `no match`.
        let c = cfg("class-map C\n match any\nclass-map C\n no match any\n match port tcp eq 22");
        assert_eq!(
            c.class_maps[0].matcher,
            Some(ClassMatch::Port(PortProtocol::Tcp, PortMatch::Eq(22)))
        );
        let forty = "c".repeat(40);
        assert_eq!(cfg(&format!("class-map {forty}")).class_maps[0].name, forty);
        assert!(cfg("class-map C\nno class-map C").class_maps.is_empty());
    }

    #[test]
    fn class_map_errors() {
        let long = format!("class-map {}", "c".repeat(41));
        let long_description = format!("class-map C\n description {}", "d".repeat(201));
        check_errors(&[
            ("class-map", 1, 10, "expected class-map name"),
            (
                "class-map class-default",
                1,
                11,
                "class-default is reserved",
            ),
            (&long, 1, 11, "class-map names are at most 40 characters"),
            (
                "class-map C D",
                1,
                13,
                "unexpected 'D' after end of command",
            ),
            (
                "class-map C\n match any\n match port tcp eq 80",
                3,
                2,
                "a class-map takes one match command",
            ),
            ("class-map C\n match", 2, 7, "expected match criterion"),
            (
                "class-map C\n match dscp af41",
                2,
                8,
                "match dscp is not supported",
            ),
            (
                "class-map C\n match tunnel-group VPN",
                2,
                8,
                "match tunnel-group is not supported",
            ),
            (
                "class-map C\n match port sctp eq 1",
                2,
                13,
                "expected 'tcp' or 'udp', found 'sctp'",
            ),
            (
                "class-map C\n match port tcp lt 80",
                2,
                17,
                "expected 'eq' or 'range', found 'lt'",
            ),
            (
                "class-map C\n match port udp eq www2",
                2,
                20,
                "invalid port 'www2' for udp",
            ),
            (
                "class-map C\n match any extra",
                2,
                12,
                "unexpected 'extra' after end of command",
            ),
            (
                "class-map C\n description",
                2,
                13,
                "expected description text",
            ),
            (
                &long_description,
                2,
                14,
                "descriptions are at most 200 characters",
            ),
            (
                "class-map C\n match access-list NOPE",
                2,
                20,
                "access-list 'NOPE' is not defined",
            ),
            (
                "class-map C\n no match any",
                2,
                5,
                "no such match in class-map 'C'",
            ),
            (
                "class-map C\n match any\n no match port tcp eq 80",
                3,
                5,
                "no such match in class-map 'C'",
            ),
            (
                "class-map C\n mtach any",
                2,
                2,
                "unknown class-map command 'mtach'",
            ),
            ("no class-map C", 1, 14, "no such class-map 'C'"),
        ]);
        // Sub-lines of a refused class-map are not errors of their own.
        assert_eq!(
            errs("class-map class-default\n description x\n match any"),
            vec![(1, 11, "class-default is reserved".to_string())]
        );
    }
}
