//! `access-list NAME [line N] …`: an extended access-list's remarks and
//! ACEs in order, with `line N` inserting; an ACE entered again changes the
//! entry already there (`inactive` and `log`) instead of adding one, and
//! one that differs from an entry only by its `time-range` is refused;
//! `ethertype` lists are the `ethertype` module's, `standard` and
//! `webtype` access-lists are ignored.

use crate::ast::*;

use super::ace_identity::identity;
use super::cursor::{Cur, R, Tok};
use super::refs::{Owner, acl_line_key};
use super::{ParseError, Parser};

/// Longest ACL remark; the ASA refuses longer ones (Capirca cuts to this).
const REMARK_MAX_CHARS: usize = 100;

impl Parser {
    pub(super) fn access_list(&mut self, c: &mut Cur<'_>, name: Tok<'_>) -> R<()> {
        let position = if c.eat("line") {
            Some(line_number(c)?)
        } else {
            None
        };
        if c.peek() == Some("ethertype")
            || (c.peek() == Some("remark") && self.is_ethertype(name.text))
        {
            if self.other_acls.contains_key(name.text) {
                return Err(c.err(format!(
                    "access-list '{}' is not an ethertype access-list",
                    name.text
                )));
            }
            self.take_remarks_only_list(c, name.text, true)?;
            return self.ethertype_line(c, name, position);
        }
        if let Some(kind) = c.peek().filter(|w| matches!(*w, "standard" | "webtype")) {
            if self.is_ethertype(name.text) {
                return Err(c.err(format!(
                    "access-list '{}' is an ethertype access-list",
                    name.text
                )));
            }
            self.take_remarks_only_list(c, name.text, false)?;
            let reason = match kind {
                "standard" => {
                    "standard access-lists serve routing and VPN features Rampart does not implement"
                }
                _ => "webtype access-lists serve clientless VPN, which Rampart does not implement",
            };
            self.other_acls.insert(name.text.to_string(), reason);
            self.ignore(c, reason);
            return Ok(());
        }
        if (self.other_acls.contains_key(name.text) || self.is_ethertype(name.text))
            && c.peek() != Some("remark")
        {
            return Err(c.err(format!(
                "access-list '{}' is not an extended access-list",
                name.text
            )));
        }
        let refs_before = self.refs.len();
        let place = (c.line, c.col());
        let line = if c.eat("remark") {
            AclLine::Remark(remark(c)?.to_string())
        } else {
            c.eat("extended");
            AclLine::Ace(self.ace(c)?)
        };
        self.own(refs_before, &Owner::Keyed(acl_line_key(name.text, &line)));
        if let Some(reason) = self.other_acls.get(name.text) {
            // A remark of an ignored access-list.
            self.ignore(c, reason);
            return Ok(());
        }
        let i = match self.acl_position(name.text) {
            Some(i) => i,
            None => {
                self.cfg.access_lists.push(AccessList {
                    name: name.text.to_string(),
                    lines: Vec::new(),
                });
                let i = self.cfg.access_lists.len() - 1;
                self.acl_names.pushed(name.text, i);
                i
            }
        };
        let acl = &mut self.cfg.access_lists[i];
        // An ACE the list already has is that entry entered again: the ASA
        // keeps one ACE per match and re-entering it sets its options where
        // it stands ("Disables an ACE. To reenable it, enter the entire ACE
        // without the inactive keyword", Cisco ASA Series Command Reference,
        // `access-list extended`). Appending it instead would leave the
        // first copy deciding: an `inactive` re-entry would disable nothing.
        // A `line N` on the re-entry does not move the entry (Rampart's
        // choice, docs/asa-behaviour.md §2.1); an exact duplicate changes
        // nothing. Remarks are not ACEs: each one is a line of its own.
        // The entry is found by its identity in the index (`ace_index`),
        // not by comparing it with every earlier ACE.
        let key = match &line {
            AclLine::Ace(new) => Some(identity(new)),
            AclLine::Remark(_) => None,
        };
        if let (AclLine::Ace(new), Some(key)) = (&line, &key)
            && let Some(i) = self.aces.find(&acl.name, key)
            && let Some(AclLine::Ace(old)) = acl.lines.get_mut(i)
        {
            // The same entry with another time-range (or one with none and
            // one with some) is refused: what the ASA does with it is not
            // documented, and either guess can widen the policy. Replacing
            // drops the first window of a deny (the permit after it passes
            // in that window); keeping the first drops the second's
            // (docs/asa-behaviour.md §2.10).
            if old.time_range != new.time_range {
                let was = self.entries.place(&acl.name, i + 1);
                return Err(time_range_conflict(c, &acl.name, old, new, was));
            }
            old.inactive = new.inactive;
            old.log = new.log;
            return Ok(());
        }
        // `line N` inserts before the current Nth line (remarks count); a
        // number past the end appends.
        let before = acl.lines.len();
        let at = position.map_or(before, |n| (n - 1).min(before));
        acl.lines.insert(at, line);
        self.aces.inserted(&acl.name, at, before, key);
        let places = self.entries.0.entry(acl.name.clone()).or_default();
        places.insert(at.min(places.len()), place);
        Ok(())
    }

    /// Before a line of another kind (`ethertype`, `standard`, `webtype`)
    /// for `name`: an extended list of that name is an error, unless it
    /// holds only remarks, which `show running-config` prints before the
    /// entries they describe and which made it an extended list before
    /// the first entry said its kind. Its remarks go to the EtherType
    /// list (`keep`), or with the ignored list.
    fn take_remarks_only_list(&mut self, c: &Cur<'_>, name: &str, keep: bool) -> R<()> {
        let Some(i) = self.acl_position(name) else {
            return Ok(());
        };
        let remarks: Option<Vec<EthertypeLine>> = self.cfg.access_lists[i]
            .lines
            .iter()
            .map(|l| match l {
                AclLine::Remark(t) => Some(EthertypeLine::Remark(t.clone())),
                AclLine::Ace(_) => None,
            })
            .collect();
        let Some(remarks) = remarks else {
            return Err(c.err(format!("access-list '{name}' is an extended access-list")));
        };
        self.remove_acl(i);
        if keep {
            self.cfg.ethertype_lists.push(EthertypeList {
                name: name.to_string(),
                lines: remarks,
            });
            let at = self.cfg.ethertype_lists.len() - 1;
            self.ethertype_names.pushed(name, at);
        }
        Ok(())
    }
}

/// How an ACE names its time-range in a message.
pub(super) fn time_range_words(ace: &Ace) -> String {
    match &ace.time_range {
        Some(n) => format!("time-range {n}"),
        None => "no time-range".to_string(),
    }
}

/// The column of an ACE's `time-range` option on line `c`, else the end
/// of the line (where one would go).
pub(super) fn time_range_col(c: &Cur<'_>) -> usize {
    c.last_col_of("time-range").unwrap_or_else(|| c.end_col())
}

/// The error for an ACE that is an entry the list has but for its
/// time-range; `was` is where that entry was written.
fn time_range_conflict(
    c: &Cur<'_>,
    acl: &str,
    old: &Ace,
    new: &Ace,
    was: Option<(usize, usize)>,
) -> ParseError {
    let at = was.map_or_else(String::new, |(line, _)| format!(" (line {line})"));
    c.err_at(
        time_range_col(c),
        format!(
            "access-list '{acl}' has this entry with {}{at}; an entry that differs only by its \
             time-range ({} here) is refused, as what the ASA does with it is not documented: \
             write two entries that differ otherwise, or remove the first with \
             `no access-list {acl} ...` before entering this one",
            time_range_words(old),
            time_range_words(new),
        ),
    )
}

impl Parser {
    /// The index of extended access-list `name` in `Config::access_lists`.
    pub(super) fn acl_position(&self, name: &str) -> Option<usize> {
        self.acl_names.find(name)
    }

    /// Remove the extended access-list at `i`, with its entries' places
    /// and indexes.
    pub(super) fn remove_acl(&mut self, i: usize) {
        let acl = self.cfg.access_lists.remove(i);
        self.entries.0.remove(&acl.name);
        self.aces.dropped(&acl.name);
        self.acl_names.removed(&acl.name, i);
    }
}

/// `line N` of an access-list (N ≥ 1).
pub(super) fn line_number(c: &mut Cur<'_>) -> R<usize> {
    let t = c.word("line number")?;
    match t.text.parse::<usize>() {
        Ok(0) => Err(c.err_at(t.col, "line numbers start at 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(c.err_at(t.col, format!("invalid line number '{}'", t.text))),
    }
}

/// An optional `line N` of a `no access-list`: the number and the column
/// it stands at.
pub(super) fn line_clause(c: &mut Cur<'_>) -> R<Option<(usize, usize)>> {
    if !c.eat("line") {
        return Ok(None);
    }
    let col = c.col();
    Ok(Some((line_number(c)?, col)))
}

/// The text of an ACL remark: the rest of the line, verbatim.
pub(super) fn remark<'a>(c: &mut Cur<'a>) -> R<&'a str> {
    let Some((text, col)) = c.rest() else {
        return Err(c.expected("remark text"));
    };
    let n = text.chars().count();
    if n > REMARK_MAX_CHARS {
        return Err(c.err_at(
            col,
            format!("remarks are at most 100 characters, this one has {n}"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::test_support::*;

    #[test]
    fn seed_lines() {
        let c = cfg(
            "access-list tcp_bypass permit ip any 198.18.2.0 255.255.255.0\naccess-list tcp_bypass extended permit ip 198.18.2.0 255.255.255.0 any",
        );
        let net = AddrSpec::V4Net(v4("198.18.2.0"), v4("255.255.255.0"));
        assert_eq!(
            c.access_lists,
            vec![AccessList {
                name: "tcp_bypass".into(),
                lines: vec![
                    AclLine::Ace(permit_ip(AddrSpec::Any, net.clone())),
                    AclLine::Ace(permit_ip(net, AddrSpec::Any)),
                ],
            }]
        );
    }

    #[test]
    fn remarks_and_line_numbers() {
        let c = cfg(
            "access-list A permit ip any host 198.18.0.1\naccess-list A remark   spaced   remark text  \naccess-list A line 1 remark first\naccess-list A line 3 extended deny ip any any\naccess-list A line 99 remark last",
        );
        let lines = &c.access_lists[0].lines;
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], AclLine::Remark("first".into()));
        assert!(matches!(&lines[1], AclLine::Ace(a) if a.action == Action::Permit));
        assert!(matches!(&lines[2], AclLine::Ace(a) if a.action == Action::Deny));
        assert_eq!(lines[3], AclLine::Remark("spaced   remark text".into()));
        assert_eq!(lines[4], AclLine::Remark("last".into()));
        let hundred = "x".repeat(100);
        assert_eq!(
            cfg(&format!("access-list A remark {hundred}")).access_lists[0].lines[0],
            AclLine::Remark(hundred)
        );
    }

    /// Entries keep the line and column they were written at through
    /// `line N` insertions and `no` removals.
    #[test]
    fn entries_keep_their_places() {
        let p = parsed(
            "access-list A permit ip any host 198.18.0.1\n\
             access-list A remark second\n\
             access-list A line 1 extended deny ip any any\n\
             access-list B permit ip any any\n\
             no access-list A remark second\n\
             access-list A line 99 permit tcp any any\n\
             no access-list B permit ip any any\n",
        );
        let at = |acl: &str, entry: usize| p.entries.place(acl, entry);
        assert_eq!(at("A", 1), Some((3, 22)));
        assert_eq!(at("A", 2), Some((1, 15)));
        assert_eq!(at("A", 3), Some((6, 23)));
        assert_eq!(at("A", 4), None);
        assert_eq!(at("A", 0), None);
        assert_eq!(at("B", 1), None);
    }

    #[test]
    fn other_access_list_kinds_are_ignored() {
        let text = "access-list S standard permit 198.18.0.0 255.255.0.0\naccess-list W webtype permit url http://198.18.0.1/*\naccess-group S in interface inside\naccess-list S remark routing\nno access-list S standard permit 198.18.0.0 255.255.0.0";
        let p = parsed(text);
        assert_eq!(p.config, Config::default());
        assert_eq!(p.ignored.len(), 5);
        assert_eq!(
            p.ignored[0].reason,
            "standard access-lists serve routing and VPN features Rampart does not implement"
        );
        // Remarks before the first entry made an extended list of them;
        // the entry says the list is another kind.
        let p = parsed("access-list S remark routing\naccess-list S standard permit any");
        assert_eq!(p.config, Config::default());
        check_errors(&[
            (
                "access-list S standard permit any\naccess-list S extended permit ip any any",
                2,
                15,
                "access-list 'S' is not an extended access-list",
            ),
            (
                "access-list S extended permit ip any any\naccess-list S standard permit any",
                2,
                15,
                "access-list 'S' is an extended access-list",
            ),
            (
                "access-list S standard permit any\nclass-map C\n match access-list S",
                3,
                20,
                "access-list 'S' is not an extended access-list",
            ),
        ]);
    }
}
