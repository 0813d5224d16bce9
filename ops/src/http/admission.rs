//! Which connections an ops listener keeps (docs/ops.md §2).
//!
//! Two caps: connections from one source address, and connections in all.
//! When a newcomer would pass a cap, room is made by closing the oldest
//! connection under that cap whose request has not been taken up (an
//! *idle* one: no whole request head yet, or a body still coming from a
//! sender without a token; it is owed nothing) rather than refusing the
//! newcomer; only when every connection under the cap is inside a request
//! is the newcomer refused. So a peer that opens connections and sends
//! nothing, or stalls in its bodies, cannot lock out a scrape or the CLI,
//! and one source cannot hold more than its share.
//!
//! Pure: the serve loop feeds it accepts, request starts and closes, and
//! carries out what it answers (close the evicted connection, refuse the
//! newcomer). Connection ids grow with each accept, so the smallest idle
//! id is the oldest idle connection.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::refusal::Refusal;

/// The caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most connections at once, over all sources.
    pub max_connections: usize,
    /// Most connections at once from one source address.
    pub max_per_source: usize,
}

/// A connection the table keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What to do with a newly accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Serve it as `id`, after closing `evict` if given (an idle
    /// connection that made room).
    Yes {
        /// The new connection.
        id: ConnId,
        /// The idle connection to close first.
        evict: Option<ConnId>,
    },
    /// Close it at once, for this reason.
    No(Refusal),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    source: IpAddr,
    idle: bool,
}

/// The connections of one listener.
#[derive(Debug)]
pub struct Admission {
    caps: Caps,
    next: u64,
    conns: HashMap<ConnId, Entry>,
    /// Idle connections by age (oldest first), with their source.
    idle: BTreeMap<ConnId, IpAddr>,
    per_source: HashMap<IpAddr, usize>,
}

impl Admission {
    /// An empty table under `caps` (each cap at least 1).
    pub fn new(caps: Caps) -> Self {
        Admission {
            caps: Caps {
                max_connections: caps.max_connections.max(1),
                max_per_source: caps.max_per_source.max(1),
            },
            next: 0,
            conns: HashMap::new(),
            idle: BTreeMap::new(),
            per_source: HashMap::new(),
        }
    }

    /// Connections kept now.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is kept.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// A connection from `source` was accepted.
    pub fn on_accept(&mut self, source: IpAddr) -> Admit {
        let mut evict = None;
        if self.per_source.get(&source).copied().unwrap_or(0) >= self.caps.max_per_source {
            match self.oldest_idle(Some(source)) {
                Some(id) => evict = Some(id),
                None => return Admit::No(Refusal::SourceLimit),
            }
        } else if self.conns.len() >= self.caps.max_connections {
            match self.oldest_idle(None) {
                Some(id) => evict = Some(id),
                None => return Admit::No(Refusal::GlobalLimit),
            }
        }
        if let Some(e) = evict {
            self.on_closed(e);
        }
        let id = ConnId(self.next);
        self.next += 1;
        self.conns.insert(id, Entry { source, idle: true });
        self.idle.insert(id, source);
        *self.per_source.entry(source).or_insert(0) += 1;
        Admit::Yes { id, evict }
    }

    /// `id`'s request was taken up (a head with a token, or a whole
    /// request): it is no longer idle. False if the table no longer keeps
    /// it (it was evicted a moment before).
    pub fn on_request(&mut self, id: ConnId) -> bool {
        match self.conns.get_mut(&id) {
            Some(e) => {
                e.idle = false;
                self.idle.remove(&id);
                true
            }
            None => false,
        }
    }

    /// `id`'s answer is ready and owed nothing more than its writing: it
    /// may be closed to make room again (a client that does not read a
    /// large answer would otherwise hold its slot until the connection
    /// deadline). Unknown ids are ignored.
    pub fn on_answered(&mut self, id: ConnId) {
        if let Some(e) = self.conns.get_mut(&id)
            && !e.idle
        {
            e.idle = true;
            self.idle.insert(id, e.source);
        }
    }

    /// `id` closed (or was evicted); unknown ids are ignored.
    pub fn on_closed(&mut self, id: ConnId) {
        let Some(e) = self.conns.remove(&id) else {
            return;
        };
        if e.idle {
            self.idle.remove(&id);
        }
        if let Some(n) = self.per_source.get_mut(&e.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&e.source);
            }
        }
    }

    fn oldest_idle(&self, source: Option<IpAddr>) -> Option<ConnId> {
        self.idle
            .iter()
            .find(|(_, s)| source.is_none_or(|want| **s == want))
            .map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    fn table(max_connections: usize, max_per_source: usize) -> Admission {
        Admission::new(Caps {
            max_connections,
            max_per_source,
        })
    }

    fn id(a: Admit) -> ConnId {
        match a {
            Admit::Yes { id, .. } => id,
            Admit::No(r) => panic!("refused: {r:?}"),
        }
    }

    // === under the caps ===

    #[test]
    fn under_the_caps_everyone_is_admitted_without_eviction() {
        let mut t = table(4, 2);
        assert_eq!(
            t.on_accept(A),
            Admit::Yes {
                id: ConnId(0),
                evict: None
            }
        );
        assert_eq!(
            t.on_accept(B),
            Admit::Yes {
                id: ConnId(1),
                evict: None
            }
        );
        assert_eq!(t.len(), 2);
    }

    // === at the per-source cap ===

    #[test]
    fn a_source_at_its_cap_evicts_its_own_oldest_idle_connection() {
        let mut t = table(10, 2);
        let a0 = id(t.on_accept(A));
        let _b0 = id(t.on_accept(B));
        let a1 = id(t.on_accept(A));
        assert_eq!(
            t.on_accept(A),
            Admit::Yes {
                id: ConnId(3),
                evict: Some(a0)
            }
        );
        // a0 is gone, so its close later changes nothing.
        t.on_closed(a0);
        assert_eq!(t.len(), 3);
        assert!(t.on_request(a1));
        assert!(!t.on_request(a0), "an evicted connection has no request");
    }

    #[test]
    fn an_answered_connection_makes_room_again() {
        let mut t = table(10, 2);
        let a0 = id(t.on_accept(A));
        let a1 = id(t.on_accept(A));
        assert!(t.on_request(a0) && t.on_request(a1));
        assert_eq!(t.on_accept(A), Admit::No(Refusal::SourceLimit));
        t.on_answered(a1);
        t.on_answered(ConnId(99));
        assert_eq!(
            t.on_accept(A),
            Admit::Yes {
                id: ConnId(2),
                evict: Some(a1)
            }
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_source_whose_connections_are_all_busy_is_refused() {
        let mut t = table(10, 2);
        let a0 = id(t.on_accept(A));
        let a1 = id(t.on_accept(A));
        assert!(t.on_request(a0) && t.on_request(a1));
        assert_eq!(t.on_accept(A), Admit::No(Refusal::SourceLimit));
        // Another source still gets in.
        id(t.on_accept(B));
        // A close frees the slot.
        t.on_closed(a0);
        id(t.on_accept(A));
    }

    // === at the global cap ===

    #[test]
    fn at_the_global_cap_the_oldest_idle_connection_of_any_source_makes_room() {
        let mut t = table(3, 3);
        let a0 = id(t.on_accept(A));
        let b0 = id(t.on_accept(B));
        let a1 = id(t.on_accept(A));
        assert!(t.on_request(a0));
        assert_eq!(
            t.on_accept(A),
            Admit::Yes {
                id: ConnId(3),
                evict: Some(b0)
            }
        );
        assert!(t.on_request(a1));
        assert!(t.on_request(ConnId(3)));
        assert_eq!(t.on_accept(B), Admit::No(Refusal::GlobalLimit));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn many_idle_connections_from_one_source_keep_the_table_bounded() {
        let mut t = table(256, 32);
        for _ in 0..1000 {
            id(t.on_accept(A));
        }
        assert_eq!(t.len(), 32);
        // A scrape from the same source still gets in, and its request
        // runs while the flood goes on.
        let scrape = id(t.on_accept(A));
        assert!(t.on_request(scrape));
        for _ in 0..1000 {
            id(t.on_accept(A));
        }
        assert!(t.on_request(scrape), "a busy connection is never evicted");
        t.on_closed(scrape);
        assert_eq!(t.len(), 31);
    }

    #[test]
    fn closing_everything_empties_the_table() {
        let mut t = table(4, 4);
        let ids: Vec<_> = (0..4).map(|_| id(t.on_accept(A))).collect();
        for i in ids {
            t.on_closed(i);
        }
        assert!(t.is_empty());
        assert!(t.per_source.is_empty() && t.idle.is_empty());
    }
}
