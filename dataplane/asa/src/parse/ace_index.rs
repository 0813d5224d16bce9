//! Where each ACE of each access-list stands, by its identity
//! ([`identity`]), so that an ACE entered again and a `no access-list`
//! naming one find their entry with one lookup. Comparing each new ACE
//! with every earlier one made a 1 MiB policy of one access-list take 23
//! seconds to parse (`cargo bench -p rampart-asa --bench parse`).
//!
//! The index follows the list: `line N` insertions and removals before
//! the end move the entries after them, as they move the lines.

use std::collections::HashMap;

use crate::ast::Ace;

#[cfg(doc)]
use super::ace_identity::identity;

/// The ACEs of each access-list: identity to place (from 0, remarks
/// counted, as in `AccessList::lines`).
#[derive(Debug, Default)]
pub(super) struct AceIndex(HashMap<String, HashMap<Ace, usize>>);

impl AceIndex {
    /// The place of the ACE of `acl` that is the entry `key` names.
    pub(super) fn find(&self, acl: &str, key: &Ace) -> Option<usize> {
        self.0.get(acl)?.get(key).copied()
    }

    /// A line went in at `at` of `acl`, which held `before` lines; `key`
    /// is its identity if it is an ACE (not already in the list).
    pub(super) fn inserted(&mut self, acl: &str, at: usize, before: usize, key: Option<Ace>) {
        let places = match self.0.get_mut(acl) {
            Some(p) => p,
            None => self.0.entry(acl.to_string()).or_default(),
        };
        // Appending moves nothing; `line N` before the end moves every
        // line after it, as `Vec::insert` does.
        if at < before {
            for p in places.values_mut().filter(|p| **p >= at) {
                *p += 1;
            }
        }
        if let Some(key) = key {
            places.insert(key, at);
        }
    }

    /// Line `at` of `acl` is gone; `key` is its identity if it was an ACE;
    /// `after` lines are left.
    pub(super) fn removed(&mut self, acl: &str, at: usize, after: usize, key: Option<&Ace>) {
        let Some(places) = self.0.get_mut(acl) else {
            return;
        };
        if let Some(key) = key {
            places.remove(key);
        }
        if at < after {
            for p in places.values_mut().filter(|p| **p > at) {
                *p -= 1;
            }
        }
    }

    /// Access-list `acl` is gone.
    pub(super) fn dropped(&mut self, acl: &str) {
        self.0.remove(acl);
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::AclLine;
    use crate::parse::ace_identity::identities_computed;
    use crate::parse::test_support::*;

    /// An ACE's identity is computed once for its line, however long the
    /// list: each line used to be compared with every earlier ACE, two
    /// identities per comparison, so 400 lines cost about 160,000. Counted,
    /// not timed (the bench `parse` has the times).
    #[test]
    fn each_line_computes_its_identity_a_bounded_number_of_times() {
        let mut text = String::from("object network O\n host 198.18.0.1\n");
        for i in 1..=200 {
            text += &format!("access-list A permit tcp object O object O eq {i}\n");
        }
        for i in 1..=100 {
            text += &format!("access-list A line 1 permit tcp object O any eq {i}\n");
            text += &format!("access-list A permit tcp object O object O eq {i} inactive\n");
        }
        for i in 1..=50 {
            text += &format!("no access-list A permit tcp object O object O eq {i}\n");
        }
        let lines = 200 + 200 + 50;
        let before = identities_computed();
        let c = cfg(&text);
        let computed = identities_computed() - before;
        assert_eq!(c.access_lists[0].lines.len(), 250);
        // The line's own key, the one its references are owned by, and
        // the one the final check of references takes.
        assert!(
            computed <= 3 * lines,
            "{computed} identities for {lines} lines"
        );
        // The index followed the inserts and removals: the re-entries set
        // `inactive` on their own entries, the removals took theirs.
        let inactive = |l: &AclLine| matches!(l, AclLine::Ace(a) if a.inactive);
        assert_eq!(
            c.access_lists[0]
                .lines
                .iter()
                .filter(|l| inactive(l))
                .count(),
            50
        );
        assert!(c.access_lists[0].lines[..100].iter().all(|l| !inactive(l)));
        assert!(c.access_lists[0].lines[100..150].iter().all(inactive));
    }
}
