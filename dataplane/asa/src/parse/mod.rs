//! The ASA configuration parser: a whole config text in, a [`Config`] out,
//! or every error with its line and column (a config with any error is
//! refused whole). Known but unenforced ASA commands are listed as ignored.
//!
//! Lines are commands; `interface`, `object`, `object-group`, `class-map`
//! and `policy-map` (and ` class` inside a policy-map) open a mode. A line
//! belongs to the open mode when its first word is one of the mode's
//! sub-commands; indentation is not required — configurations get pasted
//! with all kinds of whitespace — and a line whose first word is a
//! top-level command returns to the top level, as on the ASA CLI, unless
//! it is indented and the open mode has a sub-command of that name (` ip`
//! in an interface). Blocks of ASA features Rampart does not implement
//! (`crypto`, `webvpn`, `call-home`, `policy-map type inspect`, …) are
//! ignored with their indented sub-lines, an indented ` timeout` among
//! them (`aaa-server … host`, `sla monitor`).
//!
//! Names of objects, groups, lists and the like are resolved once the
//! whole text is read, so a reference may come before its definition (a
//! `name` for an address is the exception: it stands for the address
//! where it is used, so it comes first, module `names`); a dangling or
//! mistyped reference is reported at the referring word. A reference whose line a later `no` removed is not
//! checked, so a pasted session may remove a line and then its object.
//!
//! Edits follow ASA configuration mode: a second `class-map`, `policy-map`,
//! `object-group` or `interface` block re-enters the first; a second
//! `object network NAME` gives it a new value; a repeated `set connection`
//! option overrides; a new class goes before `class-default`; an identical
//! group member is kept once; an ACE entered again changes the entry where
//! it stands (`inactive` and `log`) instead of adding a line; an
//! access-list whose last line is removed is gone. Choices beyond the ASA: an object without a value is refused (it
//! would match nothing, or everything for a service object); `log disable`
//! is kept as no `log`; `set connection decrement-ttl` is ignored (Rampart
//! is a bridge); an `icmp-type` group after `icmp6` and a service group
//! in an entry's ICMP type position are refused (docs/asa-behaviour.md
//! §2.1).
//!
//! The parser is split by command: `cursor` cuts a line into words,
//! `modes` decides which open mode a line belongs to and dispatches it, one
//! module per command family handles its lines (`interface`, `objects`,
//! `groups`, `access_list` and `ace`, `access_group`, `class_map`,
//! `policy_map`, `service_policy`, `timeouts`, `fragment`, `sysopt`,
//! `time_range` (with `clock`), `names` (`names`, `name`, and a name
//! where an address is written), and
//! `no` for the top-level removals),
//! `values` parses the literals they share, and `resolve` checks every
//! reference once the last line is read. The errors are in `error`.

mod access_group;
mod access_list;
mod ace;
mod ace_identity;
mod ace_index;
mod capture;
mod class_map;
mod cursor;
mod error;
mod ethertype;
mod fragment;
mod groups;
mod icmp_types;
mod interface;
mod member_sets;
mod modes;
mod name_index;
mod names;
mod no;
mod objects;
mod policy_map;
mod refs;
mod resolve;
mod service_policy;
mod sysopt;
mod tcp_map;
#[cfg(test)]
mod test_support;
mod time_range;
mod timeouts;
mod values;

use std::collections::{HashMap, HashSet};

use crate::ast::Config;

use cursor::{Cur, Tok};
use modes::Mode;
use objects::Valueless;
use refs::{Owner, RefKind};
use resolve::Ref;

pub use ace_identity::same_ace;
pub use capture::*;
pub use error::{ParseError, ParseErrors};
pub use refs::{group_name, object_name};
pub use tcp_map::REASON_MAP_WITH_BYPASS;

/// A line accepted but not enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredLine {
    /// Line, from 1.
    pub line: usize,
    /// The line as written, without surrounding whitespace.
    pub text: String,
    /// Why it has no effect.
    pub reason: &'static str,
}

/// A parsed configuration and the lines it ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The configuration.
    pub config: Config,
    /// Lines accepted without effect, in line order.
    pub ignored: Vec<IgnoredLine>,
    /// Where each access-list entry of `config` was written.
    pub entries: EntryPlaces,
}

/// Where the text wrote each line of each access-list, so that an error
/// found after parsing (compiling for a node, its bounds) can name a line
/// and column as the parser's own errors do. The AST keeps no positions:
/// `line N` and `no access-list` move and remove entries, so the places
/// are kept beside it, edited alike.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryPlaces(HashMap<String, Vec<(usize, usize)>>);

impl EntryPlaces {
    /// Line and column (from 1) where entry `entry` (from 1, remarks
    /// counted, as `line N` numbers them) of access-list `acl` begins.
    pub fn place(&self, acl: &str, entry: usize) -> Option<(usize, usize)> {
        self.0.get(acl)?.get(entry.checked_sub(1)?).copied()
    }
}

/// The parser's state from line to line; each command family adds its
/// methods in its own module.
#[derive(Debug)]
struct Parser {
    cfg: Config,
    ignored: Vec<IgnoredLine>,
    errors: Vec<ParseError>,
    refs: Vec<Ref>,
    mode: Mode,
    /// Objects opened but not yet given a value.
    valueless: Vec<Valueless>,
    /// ACL names of lines with errors, so references to them are not
    /// reported a second time.
    broken_acls: HashSet<String>,
    /// ACLs of kinds Rampart ignores (`standard`, `webtype`).
    other_acls: HashMap<String, &'static str>,
    /// Interfaces (by hardware name) in a bridge group, and where their
    /// `bridge-group` line was.
    bridge_members: HashMap<String, (usize, usize)>,
    /// Interfaces (by hardware name) set `management-only`, and where.
    management_only_at: HashMap<String, (usize, usize)>,
    /// Where each access-list line was written.
    entries: EntryPlaces,
    /// Where each ACE stands in its access-list, by identity.
    aces: ace_index::AceIndex,
    /// Where each extended access-list stands, by name.
    acl_names: name_index::NameIndex,
    /// Where each object-group stands, by name.
    group_names: name_index::NameIndex,
    /// Where each EtherType access-list stands, by name.
    ethertype_names: name_index::NameIndex,
    /// The members of each object-group, by group name.
    member_sets: member_sets::MemberSets,
    /// The entries of each EtherType access-list, by list name.
    ethertype_aces: HashMap<String, HashSet<crate::ast::EthertypeAce>>,
    /// The `name` lines by name and by address.
    names: names::NameTable,
    /// Settings of tcp-maps Rampart cannot honour, refused once the whole
    /// text is read if a class applies their map.
    unhonoured: Vec<tcp_map::Unhonoured>,
    /// Whether anything was removed or replaced: only then can a
    /// reference's construct be gone (checking costs a scan per reference).
    edited: bool,
}

/// Parse a whole configuration.
pub fn parse_config(text: &str) -> Result<Parsed, ParseErrors> {
    let mut p = Parser {
        cfg: Config::default(),
        ignored: Vec::new(),
        errors: Vec::new(),
        refs: Vec::new(),
        mode: Mode::Top,
        valueless: Vec::new(),
        broken_acls: HashSet::new(),
        unhonoured: Vec::new(),
        other_acls: HashMap::new(),
        bridge_members: HashMap::new(),
        management_only_at: HashMap::new(),
        entries: EntryPlaces::default(),
        aces: ace_index::AceIndex::default(),
        acl_names: name_index::NameIndex::default(),
        group_names: name_index::NameIndex::default(),
        ethertype_names: name_index::NameIndex::default(),
        member_sets: member_sets::MemberSets::default(),
        ethertype_aces: HashMap::new(),
        names: names::NameTable::default(),
        edited: false,
    };
    for (n, raw) in text.lines().enumerate() {
        if let Some(e) = unprintable(n + 1, raw) {
            p.errors.push(e);
            continue;
        }
        let mut c = Cur::new(n + 1, raw);
        let Some(first) = c.peek() else { continue };
        if first.starts_with('!') || first.starts_with(':') {
            continue;
        }
        let refs_before = p.refs.len();
        if let Err(e) = p.line(&mut c) {
            // A broken line's references would only repeat its error.
            p.refs.truncate(refs_before);
            p.errors.push(e);
        }
    }
    p.finish();
    if p.errors.is_empty() {
        Ok(Parsed {
            config: p.cfg,
            ignored: p.ignored,
            entries: p.entries,
        })
    } else {
        p.errors.sort_by_key(|e| (e.line, e.column));
        Err(ParseErrors(p.errors))
    }
}

/// Longest line taken (characters): far beyond any ASA command, short
/// enough that an error quoting a line stays readable.
const MAX_LINE_CHARS: usize = 4096;

/// Longest word (characters): the longest ASA name, an access-list's, is
/// 241 characters; remarks and descriptions are shorter still.
const MAX_WORD_CHARS: usize = 241;

/// A line the parser refuses before reading it: too long, a word longer
/// than any name, or a character that would reach an operator's terminal
/// as a control sequence (C0 and C1 controls other than tab, DEL) or
/// reorder what they read (bidirectional formatting characters, Unicode
/// Standard Annex 9). Errors and `show running-config` print names as
/// written, so such text is stopped here, at its line and column.
fn unprintable(line: usize, raw: &str) -> Option<ParseError> {
    let err = |column: usize, message: String| ParseError {
        line,
        column,
        message,
    };
    let mut word = 0usize;
    for (i, ch) in raw.chars().enumerate() {
        let column = i + 1;
        if column > MAX_LINE_CHARS {
            return Some(err(
                column,
                format!("line longer than {MAX_LINE_CHARS} characters"),
            ));
        }
        let bidi = matches!(ch, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (ch.is_control() && ch != '\t') || bidi {
            let kind = if bidi {
                "bidirectional formatting"
            } else {
                "control"
            };
            return Some(err(
                column,
                format!("{kind} character U+{:04X} is not allowed", u32::from(ch)),
            ));
        }
        word = if ch.is_whitespace() { 0 } else { word + 1 };
        if word > MAX_WORD_CHARS {
            return Some(err(
                column - MAX_WORD_CHARS,
                format!("word longer than {MAX_WORD_CHARS} characters (the longest ASA name)"),
            ));
        }
    }
    None
}

impl Parser {
    fn ignore(&mut self, c: &Cur<'_>, reason: &'static str) {
        self.ignored.push(IgnoredLine {
            line: c.line,
            text: c.raw.trim().to_string(),
            reason,
        });
    }

    fn reference(&mut self, c: &Cur<'_>, kind: RefKind, t: Tok<'_>) {
        self.refs.push(Ref {
            kind,
            name: t.text.to_string(),
            line: c.line,
            col: t.col,
            owner: Owner::Always,
        });
    }

    /// Give the references made since `from` their construct.
    fn own(&mut self, from: usize, owner: &Owner) {
        for r in &mut self.refs[from..] {
            r.owner = owner.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::test_support::*;

    /// Names once could be megabytes of escape sequences that errors and
    /// `show running-config` printed raw.
    #[test]
    fn control_characters_long_words_and_long_lines_are_refused_where_they_are() {
        let long_name = "N".repeat(242);
        let long_line = format!("access-list A remark {}", "x ".repeat(2100));
        let esc = "object network A\u{1b}]0;pwned\u{7}\n host 198.18.0.1";
        let bidi = "access-list A\u{202e}B permit ip any any";
        let cases: [(&str, usize, usize, &str); 5] = [
            (esc, 1, 17, "control character U+001B is not allowed"),
            (
                "access-list A permit ip any any\r\u{0}",
                1,
                32,
                "control character U+000D is not allowed",
            ),
            (
                bidi,
                1,
                14,
                "bidirectional formatting character U+202E is not allowed",
            ),
            (
                &format!("object network {long_name}\n host 198.18.0.1"),
                1,
                16,
                "word longer than 241 characters (the longest ASA name)",
            ),
            (&long_line, 1, 4097, "line longer than 4096 characters"),
        ];
        for (text, line, col, msg) in cases {
            let e = errs(text);
            assert_eq!(e.first(), Some(&(line, col, msg.to_string())), "{e:?}");
        }
        // Tabs are whitespace, and a 241-character name is fine.
        let ok = format!("object network {}\n\thost 198.18.0.1", "N".repeat(241));
        assert_eq!(cfg(&ok).objects.len(), 1);
    }

    #[test]
    fn every_error_is_reported_in_line_order() {
        let e = errs(
            "access-list A permit\nbogus\naccess-list B permit ip any any\naccess-list C deny tcp any\naccess-group NOPE in interface x",
        );
        assert_eq!(
            e,
            vec![
                (1, 21, "expected protocol".to_string()),
                (2, 1, "unknown command 'bogus'".to_string()),
                (4, 27, "expected port or destination address".to_string()),
                (5, 14, "access-list 'NOPE' is not defined".to_string()),
            ]
        );
    }
}
