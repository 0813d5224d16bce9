//! Where in a configuration's text a [`CompileError`] lies: the parser
//! gives every error of its own a line and column, but compiling for a
//! node (its interfaces, the bounds on expansion) works on the parsed
//! configuration, which keeps no positions. This finds the first line that
//! names what the error is about, so a refusal still says where to look.

use std::collections::HashMap;

use super::compile::{CompileError, Place};
use super::parse_config;

/// Line and column (both from 1) of the first place in `text` that names
/// what `e` is about: for a bound passed ([`CompileError::TooLarge`]), the
/// access-list entry or class-map that passed it.
pub fn locate(text: &str, e: &CompileError) -> Option<(usize, usize)> {
    if let CompileError::TooLarge {
        place: Place::AclEntry { acl, entry },
    }
    | CompileError::TooManySubtables { acl, entry }
    | CompileError::TooManyRangeChecks { acl, entry } = e
    {
        // `line N` and `no` forms move entries: only the parser knows
        // where one was written. The text parsed once already, so this
        // second pass (on the error's path only) succeeds alike.
        return parse_config(text).ok()?.entries.place(acl, *entry);
    }
    if let CompileError::ManagementOnly(name) = e {
        return management_only_place(text, name);
    }
    text.lines().enumerate().find_map(|(i, line)| {
        let words: Vec<(usize, &str)> = words(line).collect();
        let word = |k: usize| words.get(k).map_or("", |w| w.1);
        let is = |k: usize, kw: &str| word(k).eq_ignore_ascii_case(kw);
        let at = |k: usize, name: &str| (word(k) == name).then(|| (i + 1, words[k].0));
        match e {
            CompileError::UnknownInterface(name) | CompileError::SecurityLevel(name) => {
                if is(0, "access-group") && is(3, "interface") {
                    at(4, name)
                } else if is(0, "service-policy") && is(2, "interface") {
                    at(3, name)
                } else if is(0, "nameif") {
                    at(1, name)
                } else if is(0, "fragment") {
                    // `fragment size|chain|timeout N IF`.
                    at(3, name)
                } else {
                    None
                }
            }
            CompileError::TooDeep { name } => {
                if is(0, "object-group") {
                    at(2, name)
                } else {
                    None
                }
            }
            // A reference (not the definition: its first word is the kind).
            CompileError::Undefined { kind, name } => {
                if is(0, kind) {
                    None
                } else {
                    (1..words.len()).find_map(|k| at(k, name))
                }
            }
            CompileError::TooLarge {
                place: Place::ClassMap(name),
            } => (is(0, "class-map")).then(|| at(1, name)).flatten(),
            CompileError::TooLarge { .. }
            | CompileError::TooManySubtables { .. }
            | CompileError::TooManyRangeChecks { .. }
            | CompileError::ManagementOnly(_) => None,
        }
    })
}

/// The `management-only` line of the interface whose nameif is `name`
/// (its block entered once or more), else its `nameif` line. The text
/// parsed, so `management-only` and `nameif` appear only inside blocks.
fn management_only_place(text: &str, name: &str) -> Option<(usize, usize)> {
    type Place = Option<(usize, usize)>;
    let mut blocks: HashMap<&str, (Place, Place)> = HashMap::new();
    let mut current = None;
    for (i, line) in text.lines().enumerate() {
        let words: Vec<(usize, &str)> = words(line).collect();
        let word = |k: usize| words.get(k).map_or("", |w| w.1);
        if word(0) == "interface" {
            current = words.get(1).map(|w| w.1);
            continue;
        }
        let Some(block) = current.map(|hw| blocks.entry(hw).or_default()) else {
            continue;
        };
        match (word(0), word(1)) {
            ("nameif", n) if n == name => block.0 = Some((i + 1, words[1].0)),
            ("management-only", _) => block.1 = Some((i + 1, words[0].0)),
            ("no", "management-only") => block.1 = None,
            _ => {}
        }
    }
    let (nameif, management_only) = blocks.into_values().find(|b| b.0.is_some())?;
    management_only.or(nameif)
}

/// `e` as the parser words its errors: `line L, column C: …` when it has a
/// place in `text`.
pub fn describe(text: &str, e: &CompileError) -> String {
    match locate(text, e) {
        Some((line, column)) => format!("line {line}, column {column}: {e}"),
        None => e.to_string(),
    }
}

/// The words of a line with their columns (in characters, from 1, as the
/// parser counts them).
fn words(line: &str) -> impl Iterator<Item = (usize, &str)> {
    line.split_ascii_whitespace().map(move |w| {
        // `w` is a subslice of `line`: its byte offset starts it.
        let offset = w.as_ptr() as usize - line.as_ptr() as usize;
        (line[..offset].chars().count() + 1, w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_placed_at_the_first_line_naming_its_subject() {
        let text = "interface G0\n nameif inside\n security-level 100\n\
                    access-list A extended permit ip any any\n\
                    access-group A in interface nosuch\n\
                    service-policy P interface dmz\n";
        assert_eq!(
            locate(text, &CompileError::UnknownInterface("nosuch".into())),
            Some((5, 29))
        );
        assert_eq!(
            locate(text, &CompileError::UnknownInterface("dmz".into())),
            Some((6, 28))
        );
        assert_eq!(
            locate(text, &CompileError::SecurityLevel("inside".into())),
            Some((2, 9))
        );
        let deep = "object-group network G1\n group-object G0\n";
        assert_eq!(
            locate(deep, &CompileError::TooDeep { name: "G1".into() }),
            Some((1, 22))
        );
        let undefined =
            "access-list B extended permit ip any any\naccess-group B in interface outside\n";
        assert_eq!(
            locate(
                undefined,
                &CompileError::Undefined {
                    kind: "access-list",
                    name: "B".into()
                }
            ),
            Some((2, 14))
        );
        let class = "class-map C\n match port tcp range 1 65534\n";
        assert_eq!(
            locate(
                class,
                &CompileError::TooLarge {
                    place: Place::ClassMap("C".into())
                }
            ),
            Some((1, 11))
        );
        // Columns count characters, as the parser's do.
        assert_eq!(
            locate(
                "service-policy P interface dmz ! é\naccess-group A in interface é é",
                &CompileError::UnknownInterface("é".into())
            ),
            Some((2, 29))
        );
        let management = "interface G0\n nameif inside\ninterface M0\n nameif mgmt\ninterface M0\n security-level 100\n management-only\n";
        assert_eq!(
            locate(management, &CompileError::ManagementOnly("mgmt".into())),
            Some((7, 2))
        );
        assert_eq!(
            locate(
                "interface M0\n management-only\n no management-only\n nameif mgmt",
                &CompileError::ManagementOnly("mgmt".into())
            ),
            Some((4, 9))
        );
        assert_eq!(
            describe(text, &CompileError::UnknownInterface("dmz".into())),
            "line 6, column 28: interface 'dmz' is not one of this node's interfaces"
        );
    }
}
