//! The members of each object-group as a set, so that the member entered
//! again (which the ASA keeps once) is found with one lookup. Searching
//! the group's member list for every new member made a group of 20,000
//! members take seconds to parse (`cargo bench -p rampart-asa --bench
//! parse`).
//!
//! A group's set holds exactly its `members`: a member added goes in, one
//! removed with `no` comes out, and `no object-group` drops the set.
//! Group names are unique whatever the kind (`object_group` refuses a
//! name of another kind), so the set is found by name.

use std::collections::{HashMap, HashSet};

use super::refs::Stored;

/// Group name to the members it holds.
#[derive(Debug, Default)]
pub(super) struct MemberSets(HashMap<String, HashSet<Stored>>);

impl MemberSets {
    /// Whether group `group` holds `m`.
    pub(super) fn contains(&self, group: &str, m: &Stored) -> bool {
        #[cfg(test)]
        LOOKUPS.with(|n| n.set(n.get() + 1));
        self.0.get(group).is_some_and(|s| s.contains(m))
    }

    /// `m` was added to group `group`.
    pub(super) fn added(&mut self, group: &str, m: Stored) {
        match self.0.get_mut(group) {
            Some(s) => s.insert(m),
            None => self.0.entry(group.to_string()).or_default().insert(m),
        };
    }

    /// `m` was removed from group `group`; false if the group lacked it.
    pub(super) fn removed(&mut self, group: &str, m: &Stored) -> bool {
        self.0.get_mut(group).is_some_and(|s| s.remove(m))
    }

    /// Group `group` is gone.
    pub(super) fn dropped(&mut self, group: &str) {
        self.0.remove(group);
    }
}

#[cfg(test)]
thread_local! {
    /// How many members this thread's membership checks examined (one
    /// per check), for the test that shows a member costs a bounded number.
    static LOOKUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many members this thread's membership checks have examined so far.
#[cfg(test)]
pub(super) fn members_examined() -> usize {
    LOOKUPS.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::members_examined;
    use crate::ast::*;
    use crate::parse::test_support::*;

    fn host(i: usize) -> NetworkMember {
        let ip = std::net::Ipv4Addr::new(198, 18, (i / 256) as u8, (i % 256) as u8);
        NetworkMember::Address(NetworkValue::Host(ip.into()))
    }

    /// A member line checks for its identical member in a bounded number
    /// of steps, however big the group: each used to be compared with
    /// every member already there, so 300 members cost about 45,000.
    /// Counted, not timed (the bench `parse` has the times). The sets
    /// follow removals: a member removed and entered again is back, at
    /// the end, and a group removed and made again starts empty.
    #[test]
    fn each_member_is_checked_in_a_bounded_number_of_steps() {
        let h = |i: usize| format!(" network-object host 198.18.{}.{}\n", i / 256, i % 256);
        let mut text = String::from("object-group network N\n");
        for i in 0..300 {
            text += &h(i);
        }
        text += "object-group network M\n";
        for i in 0..100 {
            text += &h(i);
        }
        text += "object-group network N\n";
        for i in 0..100 {
            text += &h(i); // entered again: kept once
            text += &format!(" no{}", h(i + 100));
        }
        for i in 150..200 {
            text += &h(i); // removed above, back at the end
        }
        text += "no object-group network M\nobject-group network M\n";
        text += &h(0);
        text += &h(0);
        text += "object-group service S\n";
        for p in 1..=100 {
            text += &format!(" service-object tcp-udp destination eq {p}\n");
            text += &format!(" service-object tcp destination eq {p}\n");
        }
        let lines = 1 + 300 + 1 + 100 + 1 + 200 + 50 + 2 + 2 + 1 + 200;
        let before = members_examined();
        let c = cfg(&text);
        let examined = members_examined() - before;
        assert!(
            examined <= 2 * lines,
            "{examined} examined for {lines} lines"
        );
        let ObjectGroup::Network { members, .. } = &c.object_groups[0] else {
            panic!("{:?}", c.object_groups[0]);
        };
        let want: Vec<_> = (0..100).chain(200..300).chain(150..200).map(host).collect();
        assert_eq!(*members, want);
        let ObjectGroup::Service { members, .. } = &c.object_groups[2] else {
            panic!("{:?}", c.object_groups[2]);
        };
        assert_eq!(members.len(), 200);
        let ObjectGroup::Network { name, members } = &c.object_groups[1] else {
            panic!("{:?}", c.object_groups[1]);
        };
        assert_eq!((name.as_str(), members.clone()), ("M", vec![host(0)]));
    }
}
