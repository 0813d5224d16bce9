//! Where each named item stands in its list of the configuration, by
//! name, so that a line finds it with one lookup: the extended
//! access-lists in `Config::access_lists`, the object-groups in
//! `Config::object_groups`. A scan of the lists for every line made a
//! policy of 20,000 one-entry access-lists take seconds to parse, and one
//! of 20,000 object-groups each named by an access-list line 0.8 s
//! (`cargo bench -p rampart-asa --bench parse`).
//!
//! Items are appended and removed, never reordered: a removal moves the
//! items after it down one, as `Vec::remove` does. Removals are rare (a
//! `no access-list`, a list's last line removed, a `no object-group`), so
//! that costs a pass over the names.

use std::collections::HashMap;

/// A name to its item's index in its list.
#[derive(Debug, Default)]
pub(super) struct NameIndex(HashMap<String, usize>);

impl NameIndex {
    /// The index of the item named `name`.
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        #[cfg(test)]
        LOOKUPS.with(|n| n.set(n.get() + 1));
        self.0.get(name).copied()
    }

    /// Item `name` was appended at `at`.
    pub(super) fn pushed(&mut self, name: &str, at: usize) {
        self.0.insert(name.to_string(), at);
    }

    /// Item `name`, at `at`, was removed.
    pub(super) fn removed(&mut self, name: &str, at: usize) {
        self.0.remove(name);
        for i in self.0.values_mut().filter(|i| **i > at) {
            *i -= 1;
        }
    }
}

#[cfg(test)]
thread_local! {
    /// How many items this thread's lookups examined (one per lookup),
    /// for the tests that show a line costs a bounded number.
    static LOOKUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many items this thread's lookups have examined so far.
#[cfg(test)]
pub(super) fn items_examined() -> usize {
    LOOKUPS.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::items_examined;
    use crate::parse::test_support::*;

    /// A line finds its access-list by one lookup, however many lists
    /// there are: each line used to scan the lists before it, so 300
    /// one-entry lists cost about 45,000 examined. Counted, not timed (the
    /// bench `parse` has the times). Removals, whole lists and a list's
    /// last line, keep the lookups right for the lists after them.
    #[test]
    fn each_line_finds_its_access_list_in_a_bounded_number_of_steps() {
        let mut text = String::from("access-list E remark kept\n");
        for i in 0..300 {
            text += &format!("access-list A{i} permit tcp any any eq {}\n", i + 1);
        }
        text += "access-list E ethertype deny any\n";
        for i in (0..300).step_by(3) {
            text += &format!("no access-list A{i}\n");
            let j = i + 1;
            text += &format!("no access-list A{j} permit tcp any any eq {}\n", j + 1);
        }
        for i in (2..300).step_by(3) {
            text += &format!("access-list A{i} line 1 remark second of A{i}\n");
        }
        let lines = 1 + 300 + 1 + 200 + 100;
        let before = items_examined();
        let c = cfg(&text);
        let examined = items_examined() - before;
        // A few lookups a line (the extended and the EtherType lists' indexes).
        assert!(
            examined <= 3 * lines,
            "{examined} examined for {lines} lines"
        );
        assert_eq!(c.access_lists.len(), 100);
        assert_eq!(c.ethertype_lists.len(), 1);
        assert_eq!(c.ethertype_lists[0].lines.len(), 2);
        for (k, acl) in c.access_lists.iter().enumerate() {
            let i = 3 * k + 2;
            assert_eq!(acl.name, format!("A{i}"));
            assert_eq!(
                acl.lines[0],
                crate::ast::AclLine::Remark(format!("second of A{i}"))
            );
            assert_eq!(acl.lines.len(), 2);
        }
    }

    /// Object-groups too: opening one, naming one in an access-list line
    /// (as a protocol, service or port group, where each line scanned the
    /// groups: 20,000 groups each named by a line took 0.8 s against 24
    /// ms for 2,000), and removing one cost a bounded number of lookups,
    /// and the groups after a removed one are still found.
    #[test]
    fn object_groups_are_found_in_a_bounded_number_of_steps() {
        let mut text = String::new();
        for i in 0..300 {
            text += &format!(
                "object-group network G{i}\n network-object host 198.18.0.{}\n",
                i % 250 + 1
            );
            text += &format!("object-group service P{i} tcp\n port-object eq {}\n", i + 1);
        }
        for i in (0..300).step_by(2) {
            text += &format!("no object-group network G{i}\n");
        }
        for i in (1..300).step_by(2) {
            text += &format!("object-group network G{i}\n network-object host 198.18.1.1\n");
            text += &format!(
                "access-list A extended permit tcp object-group G{i} object-group P{i} any\n"
            );
        }
        let lines = 300 * 4 + 150 + 150 * 3;
        let before = items_examined();
        let c = cfg(&text);
        let examined = items_examined() - before;
        assert!(
            examined <= 3 * lines,
            "{examined} examined for {lines} lines"
        );
        // And the groups are found through the index (a scan counts
        // nothing here): every opening and removal at least.
        assert!(examined >= 600 + 150 + 150, "{examined} lookups");
        assert_eq!(c.object_groups.len(), 450);
        let network = |g: &crate::ast::ObjectGroup| match g {
            crate::ast::ObjectGroup::Network { name, members } => {
                Some((name.clone(), members.len()))
            }
            _ => None,
        };
        let kept: Vec<_> = c.object_groups.iter().filter_map(network).collect();
        assert_eq!(kept.len(), 150);
        assert!(kept.iter().all(|(_, n)| *n == 2), "{kept:?}");
        assert_eq!(c.access_lists[0].lines.len(), 150);
    }

    /// And EtherType access-lists: each line finds its list by a lookup,
    /// and the lists after a removed one are still found.
    #[test]
    fn ethertype_lists_are_found_in_a_bounded_number_of_steps() {
        let mut text = String::new();
        for i in 0..300 {
            text += &format!("access-list E{i} ethertype deny {:x}\n", 0x0900 + i);
        }
        for i in (0..300).step_by(2) {
            text += &format!("no access-list E{i}\n");
        }
        for i in (1..300).step_by(2) {
            text += &format!("access-list E{i} ethertype deny {:x}\n", 0x1900 + i);
        }
        let lines = 300 + 150 + 150;
        let before = items_examined();
        let c = cfg(&text);
        let examined = items_examined() - before;
        assert!(
            examined <= 4 * lines,
            "{examined} examined for {lines} lines"
        );
        assert!(examined >= lines, "{examined} lookups");
        assert_eq!(c.ethertype_lists.len(), 150);
        for (k, l) in c.ethertype_lists.iter().enumerate() {
            assert_eq!(l.name, format!("E{}", 2 * k + 1));
            assert_eq!(l.lines.len(), 2, "{l:?}");
        }
    }
}
