//! Where each extended access-list stands in `Config::access_lists`, by
//! name, so that a line finds its list with one lookup. A scan of the
//! lists for every line made a policy of 20,000 one-entry access-lists
//! take seconds to parse (`cargo bench -p rampart-asa --bench parse`).
//!
//! Lists are appended and removed, never reordered: a removal moves the
//! lists after it down one, as `Vec::remove` does. Removals are rare (a
//! `no access-list`, a list's last line removed), so that costs a pass
//! over the names.

use std::collections::HashMap;

/// Access-list name to its index in `Config::access_lists`.
#[derive(Debug, Default)]
pub(super) struct AclNames(HashMap<String, usize>);

impl AclNames {
    /// The index of access-list `name`.
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        #[cfg(test)]
        LOOKUPS.with(|n| n.set(n.get() + 1));
        self.0.get(name).copied()
    }

    /// Access-list `name` was appended at `at`.
    pub(super) fn pushed(&mut self, name: &str, at: usize) {
        self.0.insert(name.to_string(), at);
    }

    /// Access-list `name`, at `at`, was removed.
    pub(super) fn removed(&mut self, name: &str, at: usize) {
        self.0.remove(name);
        for i in self.0.values_mut().filter(|i| **i > at) {
            *i -= 1;
        }
    }
}

#[cfg(test)]
thread_local! {
    /// How many access-lists this thread's lookups examined (one per
    /// lookup), for the tests that show a line costs a bounded number.
    static LOOKUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many access-lists this thread's lookups have examined so far.
#[cfg(test)]
pub(super) fn lists_examined() -> usize {
    LOOKUPS.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::lists_examined;
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
        let before = lists_examined();
        let c = cfg(&text);
        let examined = lists_examined() - before;
        assert!(
            examined <= 2 * lines,
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
}
