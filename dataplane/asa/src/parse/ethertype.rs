//! EtherType access-lists: `access-list NAME ethertype {permit|deny} TYPE`,
//! their remarks, their `no` forms and the `access-group` that binds one
//! to an interface beside its extended access-list.
//!
//! Rampart passes IPv4, IPv6 and ARP and drops every other EtherType
//! (`l2-unsupported-ethertype`), so of an EtherType list it honours what
//! concerns those three: the implicit deny at its end leaves them alone,
//! an explicit `deny any` denies them (docs/asa-behaviour.md §2.7). A
//! `permit` of another EtherType is accepted and listed as ignored (its
//! frames are still dropped); an entry naming IPv4's, ARP's or IPv6's
//! EtherType by number is refused, since no source says what the ASA does
//! with one.

use std::collections::HashSet;

use crate::ast::*;

use super::Parser;
use super::access_list::{line_clause, remark};
use super::cursor::{Cur, R, Tok};

/// Keywords of non-IP frames (Cisco ASA Series Command Reference,
/// `access-list ethertype`).
const KEYWORDS: &[&str] = &[
    "bpdu",
    "eii-ipx",
    "ipx",
    "isis",
    "mpls-multicast",
    "mpls-unicast",
];

/// The named values of `dsap` (the same reference).
const DSAP_KEYWORDS: &[&str] = &["bpdu", "ipx", "isis", "raw-ipx"];

/// The smallest EtherType: a smaller value in that field is an IEEE 802.3
/// length ("any EtherType that can be identified by a 16-bit hexadecimal
/// number greater than or equal to 0x600", Cisco Security Appliance
/// Command Line Configuration Guide, "Adding an EtherType Access List").
const ETHERTYPE_MIN: u16 = 0x0600;

/// The EtherTypes Rampart passes, which the extended access-lists and an
/// explicit `deny any` govern.
const IP_ETHERTYPES: &[(u16, &str)] = &[(0x0800, "IPv4"), (0x0806, "ARP"), (0x86dd, "IPv6")];

/// Why an EtherType `permit` is listed as ignored.
pub(super) const REASON_ETHERTYPE_PERMIT: &str = "Rampart passes only IPv4, IPv6 and ARP: other EtherTypes this permits are still dropped (l2-unsupported-ethertype)";

impl Parser {
    /// Whether `name` is an EtherType access-list.
    pub(super) fn is_ethertype(&self, name: &str) -> bool {
        self.ethertype_names.find(name).is_some()
    }

    /// `access-list NAME [line N] ethertype …`, or `access-list NAME
    /// [line N] remark …` of an EtherType list; the cursor at `ethertype`
    /// or `remark`.
    pub(super) fn ethertype_line(
        &mut self,
        c: &mut Cur<'_>,
        name: Tok<'_>,
        position: Option<usize>,
    ) -> R<()> {
        let line = if c.eat("remark") {
            EthertypeLine::Remark(remark(c)?.to_string())
        } else {
            c.keyword("ethertype")?;
            let ace = ethertype_ace(c)?;
            if ace.action == Action::Permit {
                self.ignore(c, REASON_ETHERTYPE_PERMIT);
            }
            EthertypeLine::Ace(ace)
        };
        let i = match self.ethertype_names.find(name.text) {
            Some(i) => i,
            None => {
                self.cfg.ethertype_lists.push(EthertypeList {
                    name: name.text.to_string(),
                    lines: Vec::new(),
                });
                let i = self.cfg.ethertype_lists.len() - 1;
                self.ethertype_names.pushed(name.text, i);
                i
            }
        };
        let list = &mut self.cfg.ethertype_lists[i];
        // The list holds each entry once: entered again, it changes
        // nothing (as an extended ACE re-entered, docs/asa-behaviour.md
        // §2.1). Remarks are lines of their own. The list's entries are
        // kept as a set too, so that this is one lookup, not a search of
        // the list (a 20,000-entry list took seconds).
        if let EthertypeLine::Ace(ace) = &line {
            #[cfg(test)]
            count_examined(1);
            let aces = match self.ethertype_aces.get_mut(name.text) {
                Some(s) => s,
                None => self
                    .ethertype_aces
                    .entry(name.text.to_string())
                    .or_default(),
            };
            if !aces.insert(ace.clone()) {
                return Ok(());
            }
        }
        let at = position.map_or(list.lines.len(), |n| (n - 1).min(list.lines.len()));
        list.lines.insert(at, line);
        Ok(())
    }

    /// `no access-list NAME [[line N] (ethertype ACE | remark TEXT)]` of
    /// an EtherType list: the whole list, or the line named (by its place
    /// too with `line N`). A list whose last entry goes is gone, its
    /// remarks with it: remarks alone do not say a list's kind, and would
    /// read back as an extended list (which, bound by the access-group,
    /// would deny all IP).
    pub(super) fn no_ethertype_line(&mut self, c: &mut Cur<'_>, name: Tok<'_>) -> R<()> {
        let Some(li) = self.ethertype_names.find(name.text) else {
            return Err(c.err_at(name.col, format!("no such access-list '{}'", name.text)));
        };
        if c.peek().is_none() {
            self.cfg.ethertype_lists.remove(li);
            self.ethertype_names.removed(name.text, li);
            self.ethertype_aces.remove(name.text);
            return Ok(());
        }
        let number = line_clause(c)?;
        let col = c.col();
        let line = if c.eat("remark") {
            EthertypeLine::Remark(remark(c)?.to_string())
        } else {
            c.keyword("ethertype")?;
            EthertypeLine::Ace(ethertype_ace(c)?)
        };
        let lines = &mut self.cfg.ethertype_lists[li].lines;
        let k = match number {
            Some((n, at)) => {
                if lines.get(n - 1) != Some(&line) {
                    return Err(c.err_at(
                        at,
                        format!("line {n} of access-list '{}' is not this entry", name.text),
                    ));
                }
                n - 1
            }
            None => lines.iter().position(|l| *l == line).ok_or_else(|| {
                c.err_at(col, format!("no such line in access-list '{}'", name.text))
            })?,
        };
        // Removing from the list moves the lines after it, as finding the
        // line did: a removal is a pass over the list either way.
        lines.remove(k);
        #[cfg(test)]
        count_examined(1);
        let aces = self.ethertype_aces.get_mut(name.text);
        if let (EthertypeLine::Ace(ace), Some(aces)) = (&line, aces) {
            aces.remove(ace);
        }
        if self
            .ethertype_aces
            .get(name.text)
            .is_none_or(HashSet::is_empty)
        {
            self.cfg.ethertype_lists.remove(li);
            self.ethertype_names.removed(name.text, li);
            self.ethertype_aces.remove(name.text);
        }
        Ok(())
    }
}

/// `{permit|deny} TYPE` after `ethertype`, to the end of the line.
fn ethertype_ace(c: &mut Cur<'_>) -> R<EthertypeAce> {
    let action = match c.peek() {
        Some("permit") => Action::Permit,
        Some("deny") => Action::Deny,
        _ => return Err(c.expected("'permit' or 'deny'")),
    };
    c.next();
    let t = c.word("EtherType")?;
    let ethertype = match t.text {
        "any" => Ethertype::Any,
        k if KEYWORDS.contains(&k) => Ethertype::Keyword(k.to_string()),
        "dsap" => {
            let v = c.word("DSAP value")?;
            let known = DSAP_KEYWORDS.contains(&v.text)
                || hex(v.text).is_some_and(|n| n <= u32::from(u8::MAX));
            if !known {
                return Err(c.err_at(
                    v.col,
                    format!(
                        "invalid DSAP '{}', expected a byte in hex or bpdu, ipx, isis, raw-ipx",
                        v.text
                    ),
                ));
            }
            Ethertype::Dsap(v.text.to_ascii_lowercase())
        }
        w => {
            let Some(n) = hex(w).and_then(|n| u16::try_from(n).ok()) else {
                return Err(c.err_at(t.col, format!("unknown EtherType '{w}'")));
            };
            if n < ETHERTYPE_MIN {
                return Err(c.err_at(
                    t.col,
                    format!("EtherType {n:x} is below 600: such a value is an 802.3 length"),
                ));
            }
            if let Some((_, what)) = IP_ETHERTYPES.iter().find(|(v, _)| *v == n) {
                return Err(c.err_at(
                    t.col,
                    format!(
                        "EtherType {n:x} ({what}) is not supported: IPv4, IPv6 and ARP are \
                         governed by the extended access-lists and an explicit 'deny any'"
                    ),
                ));
            }
            Ethertype::Number(n)
        }
    };
    c.done()?;
    Ok(EthertypeAce { action, ethertype })
}

/// A hexadecimal number, with or without `0x`, of at most 8 digits.
fn hex(w: &str) -> Option<u32> {
    let digits = w
        .strip_prefix("0x")
        .or_else(|| w.strip_prefix("0X"))
        .unwrap_or(w);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
thread_local! {
    /// How many lines this thread's checks of EtherType lists examined
    /// (one per check), for the test that shows a line costs a bounded
    /// number.
    static EXAMINED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn count_examined(n: usize) {
    EXAMINED.with(|c| c.set(c.get() + n));
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;

    use super::REASON_ETHERTYPE_PERMIT;

    fn deny_any() -> EthertypeLine {
        EthertypeLine::Ace(EthertypeAce {
            action: Action::Deny,
            ethertype: Ethertype::Any,
        })
    }

    /// An entry entered again, and the list's last entry removed, are
    /// found in a bounded number of steps, however long the list: each
    /// line used to be compared with every line there, so 300 entries
    /// cost about 45,000. Counted, not timed. The sets follow removals:
    /// an entry removed and entered again is back, at the end.
    #[test]
    fn each_line_is_checked_in_a_bounded_number_of_steps() {
        let e = |i: usize| format!("ethertype deny {:x}", 0x0900 + i);
        let mut text = String::from("access-list F remark gone with its entry\n");
        text += "access-list F ethertype deny any\n";
        for i in 0..300 {
            text += &format!("access-list E {}\n", e(i));
        }
        for i in 0..100 {
            text += &format!("access-list E {}\n", e(i));
            text += &format!("no access-list E {}\n", e(i + 100));
        }
        for i in 150..200 {
            text += &format!("access-list E {}\n", e(i));
        }
        text += "no access-list F ethertype deny any\n";
        let lines = 2 + 300 + 200 + 50 + 1;
        let before = super::EXAMINED.with(std::cell::Cell::get);
        let c = cfg(&text);
        let examined = super::EXAMINED.with(std::cell::Cell::get) - before;
        assert!(
            examined <= 2 * lines,
            "{examined} examined for {lines} lines"
        );
        assert_eq!(c.ethertype_lists.len(), 1);
        let want: Vec<_> = (0..100)
            .chain(200..300)
            .chain(150..200)
            .map(|i| {
                EthertypeLine::Ace(EthertypeAce {
                    action: Action::Deny,
                    ethertype: Ethertype::Number(0x0900 + i),
                })
            })
            .collect();
        assert_eq!(c.ethertype_lists[0].lines, want);
    }

    #[test]
    fn ethertype_lists_are_kept_and_bound() {
        let text = "access-list E remark spanning tree\n\
                    access-list E ethertype permit bpdu\n\
                    access-list E ethertype deny any\n\
                    access-list E ethertype deny any\n\
                    access-list E line 2 ethertype deny 8037\n\
                    access-list E ethertype permit dsap 0x42\n\
                    access-list A extended permit ip any any\n\
                    access-group A in interface inside\n\
                    access-group E in interface inside\n";
        let p = parsed(text);
        let c = &p.config;
        assert_eq!(
            c.ethertype_lists,
            vec![EthertypeList {
                name: "E".into(),
                lines: vec![
                    EthertypeLine::Remark("spanning tree".into()),
                    EthertypeLine::Ace(EthertypeAce {
                        action: Action::Deny,
                        ethertype: Ethertype::Number(0x8037),
                    }),
                    EthertypeLine::Ace(EthertypeAce {
                        action: Action::Permit,
                        ethertype: Ethertype::Keyword("bpdu".into()),
                    }),
                    deny_any(),
                    EthertypeLine::Ace(EthertypeAce {
                        action: Action::Permit,
                        ethertype: Ethertype::Dsap("0x42".into()),
                    }),
                ],
            }]
        );
        assert!(c.ethertype_lists[0].denies_ip());
        // One access-group of each kind per interface.
        let group = |acl: &str| AccessGroup {
            acl: acl.into(),
            interface: "inside".into(),
        };
        assert_eq!(c.access_groups, vec![group("A")]);
        assert_eq!(c.ethertype_groups, vec![group("E")]);
        // The permits are listed as not honoured.
        assert_eq!(
            ignored(text),
            vec![(2, REASON_ETHERTYPE_PERMIT), (6, REASON_ETHERTYPE_PERMIT)]
        );
        // It prints back as it parses.
        let shown = crate::render::render(c);
        assert!(
            shown.contains("access-list E ethertype deny 8037\n"),
            "{shown}"
        );
        assert!(
            shown.contains("access-group E in interface inside\n"),
            "{shown}"
        );
        assert_eq!(cfg(&shown), *c);
    }

    /// Only an explicit `deny any` denies IP and ARP: the implicit deny
    /// does not, nor does a `deny any` after a `permit any`.
    #[test]
    fn only_an_explicit_deny_any_first_denies_ip() {
        for (lines, denies) in [
            ("access-list E ethertype deny any", true),
            (
                "access-list E ethertype permit bpdu\naccess-list E ethertype deny any",
                true,
            ),
            ("access-list E ethertype permit bpdu", false),
            (
                "access-list E ethertype deny bpdu\naccess-list E ethertype deny ipx",
                false,
            ),
            (
                "access-list E ethertype permit any\naccess-list E ethertype deny any",
                false,
            ),
            (
                "access-list E ethertype deny any\nno access-list E ethertype deny any\naccess-list E ethertype permit ipx",
                false,
            ),
        ] {
            let c = cfg(lines);
            assert_eq!(c.ethertype_lists[0].denies_ip(), denies, "{lines}");
        }
    }

    #[test]
    fn ethertype_no_forms() {
        let base = "access-list E remark r\naccess-list E ethertype deny any\naccess-group E in interface inside\n";
        let c = cfg(&format!(
            "{base}access-list E ethertype deny ipx\nno access-list E remark r\nno access-list E ethertype deny any"
        ));
        assert_eq!(c.ethertype_groups.len(), 1);
        assert_eq!(
            c.ethertype_lists[0].lines,
            vec![EthertypeLine::Ace(EthertypeAce {
                action: Action::Deny,
                ethertype: Ethertype::Keyword("ipx".into()),
            })]
        );
        // With its last entry the list goes, remarks and all.
        let c = cfg(&format!(
            "{base}no access-group E in interface inside\nno access-list E line 2 ethertype deny any"
        ));
        assert!(c.ethertype_lists.is_empty());
        assert!(
            cfg(&format!(
                "{base}no access-group E in interface inside\nno access-list E"
            ))
            .ethertype_lists
            .is_empty()
        );
        check_errors(&[
            (
                &format!("{base}no access-list E ethertype deny bpdu"),
                4,
                18,
                "no such line in access-list 'E'",
            ),
            (
                &format!("{base}no access-list E line 1 ethertype deny any"),
                4,
                23,
                "line 1 of access-list 'E' is not this entry",
            ),
            // The list an access-group binds cannot go before it.
            (
                &format!("{base}no access-list E"),
                3,
                14,
                "access-list 'E' is not defined",
            ),
            (
                &format!("{base}no access-list E ethertype deny any"),
                3,
                14,
                "access-list 'E' is not defined",
            ),
            (
                &format!("{base}no access-group E in interface outside"),
                4,
                17,
                "no such access-group 'E' in interface outside",
            ),
        ]);
    }

    #[test]
    fn ethertype_errors() {
        check_errors(&[
            (
                "access-list E ethertype deny 800",
                1,
                30,
                "EtherType 800 (IPv4) is not supported: IPv4, IPv6 and ARP are governed by the extended access-lists and an explicit 'deny any'",
            ),
            (
                "access-list E ethertype permit 0x86DD",
                1,
                32,
                "EtherType 86dd (IPv6) is not supported: IPv4, IPv6 and ARP are governed by the extended access-lists and an explicit 'deny any'",
            ),
            (
                "access-list E ethertype deny 0806",
                1,
                30,
                "EtherType 806 (ARP) is not supported: IPv4, IPv6 and ARP are governed by the extended access-lists and an explicit 'deny any'",
            ),
            (
                "access-list E ethertype deny 5ff",
                1,
                30,
                "EtherType 5ff is below 600: such a value is an 802.3 length",
            ),
            (
                "access-list E ethertype deny appletalk",
                1,
                30,
                "unknown EtherType 'appletalk'",
            ),
            (
                "access-list E ethertype deny 10000",
                1,
                30,
                "unknown EtherType '10000'",
            ),
            (
                "access-list E ethertype deny dsap 100",
                1,
                35,
                "invalid DSAP '100', expected a byte in hex or bpdu, ipx, isis, raw-ipx",
            ),
            (
                "access-list E ethertype block any",
                1,
                25,
                "expected 'permit' or 'deny', found 'block'",
            ),
            (
                "access-list E ethertype deny any log",
                1,
                34,
                "unexpected 'log' after end of command",
            ),
            ("access-list E ethertype deny", 1, 29, "expected EtherType"),
            (
                "access-list E ethertype deny any\naccess-list E extended permit ip any any",
                2,
                15,
                "access-list 'E' is not an extended access-list",
            ),
            (
                "access-list E extended permit ip any any\naccess-list E ethertype deny any",
                2,
                15,
                "access-list 'E' is an extended access-list",
            ),
            (
                "access-list E ethertype deny any\naccess-list E standard permit any",
                2,
                15,
                "access-list 'E' is an ethertype access-list",
            ),
            (
                "access-list E ethertype deny any\nclass-map C\n match access-list E",
                3,
                20,
                "access-list 'E' is not an extended access-list",
            ),
            (
                "interface G0\n nameif inside\naccess-list E ethertype deny any\naccess-group E in interface outside",
                4,
                29,
                "no interface has nameif 'outside'",
            ),
        ]);
    }
}
