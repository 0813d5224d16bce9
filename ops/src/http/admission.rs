//! Which connections an ops listener keeps (docs/ops.md §2).
//!
//! Two caps: connections from one source address, and connections in all.
//! When a newcomer would pass a cap, room is made by closing the oldest
//! connection under that cap whose request has not been taken up (an
//! *idle* one: no whole request head yet, a body still coming from a
//! sender without the admin token, or an answer already made for one; it
//! is owed nothing) rather than refusing the newcomer, but never one
//! younger than [`Caps::min_evict_age_ms`]: a connection is idle until its
//! head is in, the operator's too, so without that a local user opening
//! connections in a loop would close the operator's before its head
//! arrived; with it, a newcomer that finds only young idle connections is
//! refused, and such a flood mostly refuses itself. A connection that has
//! sent nothing at all is spared only [`Caps::silent_grace_ms`]: a client
//! sends its first byte at once (the CLI within its owner lookup), so a
//! flood of connections that never send does not hold a cap for the whole
//! minimum age. When every
//! connection under the cap is inside a request, the newcomer may still
//! take one of a few *reserved* slots, which only a request with the admin
//! token may use: anyone else's request there is refused on its head. Only
//! when those are taken too is the newcomer refused. So a peer that opens
//! connections and sends nothing, stalls in its bodies, or keeps requests
//! in flight cannot lock the operator out, and one source cannot hold more
//! than its share.
//!
//! A source is whom a connection counts under ([`Source`]): a socket of
//! this host counts under its owner's uid (the serve loop asks the kernel,
//! `crate::sock_diag`), since a local user may connect from any of
//! 127.0.0.0/8, `::1` or the host's other addresses, and each would
//! otherwise have a cap of its own, while two local users (the attacker
//! and the operator's Prometheus) must not share one; a loopback peer
//! whose owner could not be told counts with every other such; a remote
//! peer counts under its IPv4 address or its IPv6 /64, since one host may
//! take as many addresses of its /64 as it likes.
//!
//! The table also counts the bytes of answers made and not yet gone
//! (`hold_answer`): an answer stays in memory until its reader takes it or
//! its connection closes, and readers who do not read must not make the
//! node hold answers without bound. When the answers to requests without
//! the admin token fill their bound, the oldest of them whose reader has
//! left it unread for [`Caps::answer_grace_ms`] is closed to make room
//! rather than refusing the new request: otherwise a few answers never
//! read would refuse everyone else's reads until the connection deadline.
//!
//! Pure: the serve loop feeds it accepts, request starts, answers and
//! closes, and carries out what it answers (close the evicted connection,
//! refuse the newcomer or a request). Connection ids grow with each
//! accept, so the smallest idle id is the oldest idle connection.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::refusal::Refusal;

/// The caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most connections at once, over all sources (reserved slots aside).
    pub max_connections: usize,
    /// Most connections at once from one source address (reserved slots
    /// aside).
    pub max_per_source: usize,
    /// Slots beyond the caps that only requests with the admin token may
    /// use (0: none, as on the metrics listener, where nobody has one).
    pub reserved: usize,
    /// Most bytes of answers held at once for requests without the admin
    /// token; beyond, such a request is refused (once no unread answer can
    /// be closed to make room).
    pub max_answer_bytes: usize,
    /// How long an answer is left to its reader before it may be closed to
    /// make room for another's.
    pub answer_grace_ms: u64,
    /// How long a connection is kept at least before it may be closed to
    /// make room: the time a client has to send its head (the CLI first
    /// looks up who owns the socket it reached, `crate::sock_owner`).
    pub min_evict_age_ms: u64,
    /// How long a connection that has sent no byte yet is kept at least
    /// before it may be closed to make room (below the minimum age: a
    /// client sends at once, the CLI right after its owner lookup).
    pub silent_grace_ms: u64,
}

/// Whom a connection counts under for the per-source cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A peer on another host: its IPv4 address, or its IPv6 address with
    /// the interface identifier cleared (the /64).
    Remote(IpAddr),
    /// A socket of this host, by its owner's uid.
    LocalUser(u32),
    /// A loopback peer whose owner could not be told: all are one.
    Loopback,
}

/// The length of the prefix an IPv6 peer is counted by: a host forms its
/// addresses from its /64 and a 64-bit interface identifier of its own
/// choosing (RFC 4291 §2.5.1; RFC 8981, temporary addresses), so any one
/// host may hold as many addresses of its /64 as it likes.
pub const IPV6_SOURCE_PREFIX: u8 = 64;

impl Source {
    /// The source of a connection from `peer`, whose socket `owner` holds
    /// when it is a socket of this host (`None`: on another host, or not
    /// told).
    pub fn of(peer: IpAddr, owner: Option<u32>) -> Source {
        let peer = peer.to_canonical();
        match (owner, peer) {
            (Some(uid), _) => Source::LocalUser(uid),
            (None, ip) if ip.is_loopback() => Source::Loopback,
            (None, IpAddr::V4(_)) => Source::Remote(peer),
            (None, IpAddr::V6(a)) => {
                let mask = u128::MAX << (128 - u32::from(IPV6_SOURCE_PREFIX));
                Source::Remote(IpAddr::V6((u128::from(a) & mask).into()))
            }
        }
    }
}

impl From<IpAddr> for Source {
    /// A peer whose owner is not known.
    fn from(peer: IpAddr) -> Source {
        Source::of(peer, None)
    }
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
    source: Source,
    accepted: Instant,
    idle: bool,
    /// It has sent a byte (until then, it is spared only the silent
    /// grace).
    heard: bool,
    /// In a reserved slot, taken when this cap was full: only a request
    /// with the admin token is served there.
    reserved: Option<Refusal>,
    /// Bytes of its answer held.
    answer: usize,
    /// Its answer counts against [`Caps::max_answer_bytes`].
    capped: bool,
    /// When its answer was made, for a request without the admin token.
    answered: Option<Instant>,
}

/// The connections of one listener.
#[derive(Debug)]
pub struct Admission {
    caps: Caps,
    next: u64,
    conns: HashMap<ConnId, Entry>,
    /// Idle connections by age (oldest first), with their source.
    idle: BTreeMap<ConnId, Source>,
    /// Connections per source, reserved slots aside.
    per_source: HashMap<Source, usize>,
    reserved_in_use: usize,
    answer_bytes: usize,
    /// Of which for requests without the admin token.
    capped_bytes: usize,
}

impl Admission {
    /// An empty table under `caps` (each cap at least 1).
    pub fn new(caps: Caps) -> Self {
        Admission {
            caps: Caps {
                max_connections: caps.max_connections.max(1),
                max_per_source: caps.max_per_source.max(1),
                ..caps
            },
            next: 0,
            conns: HashMap::new(),
            idle: BTreeMap::new(),
            per_source: HashMap::new(),
            reserved_in_use: 0,
            answer_bytes: 0,
            capped_bytes: 0,
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

    /// The cap a newcomer from `source` would pass, if any.
    fn cap_hit(&self, source: Source) -> Option<Refusal> {
        if self.per_source.get(&source).copied().unwrap_or(0) >= self.caps.max_per_source {
            Some(Refusal::SourceLimit)
        } else if self.conns.len() - self.reserved_in_use >= self.caps.max_connections {
            Some(Refusal::GlobalLimit)
        } else {
            None
        }
    }

    /// A connection from `source` was accepted at `now`.
    pub fn on_accept(&mut self, source: Source, now: Instant) -> Admit {
        let mut evict = None;
        if let Some(cap) = self.cap_hit(source) {
            let scope = (cap == Refusal::SourceLimit).then_some(source);
            if let Some(id) = self.oldest_idle(scope, now) {
                self.on_closed(id);
                evict = Some(id);
            }
        }
        // Still no room (every connection under the cap is busy or too
        // young to close, or the one evicted was itself in a reserved
        // slot): a reserved slot.
        let reserved = match self.cap_hit(source) {
            None => None,
            Some(cap) if self.reserved_in_use < self.caps.reserved => Some(cap),
            Some(cap) => return Admit::No(cap),
        };
        let id = ConnId(self.next);
        self.next += 1;
        self.conns.insert(
            id,
            Entry {
                source,
                accepted: now,
                idle: true,
                heard: false,
                reserved,
                answer: 0,
                capped: false,
                answered: None,
            },
        );
        self.idle.insert(id, source);
        if reserved.is_some() {
            self.reserved_in_use += 1;
        } else {
            *self.per_source.entry(source).or_insert(0) += 1;
        }
        Admit::Yes { id, evict }
    }

    /// The cap that was full when `id` took a reserved slot: its request
    /// is served only with the admin token. `None` for a connection in an
    /// ordinary slot (or one no longer kept).
    pub fn reserved_for(&self, id: ConnId) -> Option<Refusal> {
        self.conns.get(&id).and_then(|e| e.reserved)
    }

    /// `id` sent its first byte: from now on it is spared the minimum age,
    /// not only the silent grace. Unknown ids are ignored.
    pub fn on_heard(&mut self, id: ConnId) {
        if let Some(e) = self.conns.get_mut(&id) {
            e.heard = true;
        }
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

    /// `id`'s answer to a request without the admin token is ready (at
    /// `now`) and owed nothing more than its writing: it may be closed to
    /// make room again (a client that does not read a large answer would
    /// otherwise hold its slot until the connection deadline), and once
    /// its answer is older than the grace, to make room for another
    /// answer. Unknown ids are ignored.
    pub fn on_answered(&mut self, id: ConnId, now: Instant) {
        if let Some(e) = self.conns.get_mut(&id)
            && !e.idle
        {
            e.idle = true;
            e.answered = Some(now);
            self.idle.insert(id, e.source);
        }
    }

    /// Reserved slots in use now.
    pub fn reserved_in_use(&self) -> usize {
        self.reserved_in_use
    }

    /// Bytes of answers held now (made, their connections not yet closed).
    pub fn answer_bytes(&self) -> usize {
        self.answer_bytes
    }

    /// Whether a request without the admin token is refused now, before
    /// its answer is made: the answers held for such requests fill the
    /// bound and none of them can be closed yet.
    pub fn answers_full(&self, now: Instant) -> bool {
        self.capped_bytes >= self.caps.max_answer_bytes && self.unread(now).is_empty()
    }

    /// Connections holding an answer to a request without the admin token
    /// that their reader has left unread past the grace, oldest first,
    /// with the bytes each holds.
    fn unread(&self, now: Instant) -> Vec<(ConnId, usize)> {
        let grace = Duration::from_millis(self.caps.answer_grace_ms);
        let mut v: Vec<(ConnId, usize)> = self
            .conns
            .iter()
            .filter(|(_, e)| {
                e.capped
                    && e.answer > 0
                    && e.answered
                        .is_some_and(|t| now.saturating_duration_since(t) >= grace)
            })
            .map(|(id, e)| (*id, e.answer))
            .collect();
        v.sort_unstable();
        v
    }

    /// Hold `bytes` of `id`'s answer until it closes. An answer to a
    /// request without the admin token (`capped`) that would take the
    /// listener past its bound first has the oldest unread answers past
    /// the grace closed to make room; the connections closed are answered
    /// (`Some`), and the serve loop closes them. When that is not room
    /// enough, nothing is closed and the answer is refused (`None`), not
    /// held. The admin token's answers are always held. `None` too for an
    /// id no longer kept.
    pub fn hold_answer(
        &mut self,
        id: ConnId,
        bytes: usize,
        capped: bool,
        now: Instant,
    ) -> Option<Vec<ConnId>> {
        if !self.conns.contains_key(&id) {
            return None;
        }
        let mut closed = Vec::new();
        let cap = self.caps.max_answer_bytes;
        let mut held = self.capped_bytes.saturating_add(bytes);
        if capped && held > cap {
            // Never the asking connection itself (a keep-alive one whose
            // earlier answer still counts): closing it would leave it open
            // and uncounted.
            for (old, its) in self.unread(now).into_iter().filter(|&(c, _)| c != id) {
                if held <= cap {
                    break;
                }
                closed.push(old);
                held -= its;
            }
            if held > cap {
                return None;
            }
            for &old in &closed {
                self.on_closed(old);
            }
        }
        let e = self.conns.get_mut(&id)?;
        e.answer = e.answer.saturating_add(bytes);
        e.capped |= capped;
        self.answer_bytes = self.answer_bytes.saturating_add(bytes);
        if capped {
            self.capped_bytes = self.capped_bytes.saturating_add(bytes);
        }
        Some(closed)
    }

    /// `id` closed (or was evicted); unknown ids are ignored.
    pub fn on_closed(&mut self, id: ConnId) {
        let Some(e) = self.conns.remove(&id) else {
            return;
        };
        if e.idle {
            self.idle.remove(&id);
        }
        self.answer_bytes -= e.answer;
        if e.capped {
            self.capped_bytes -= e.answer;
        }
        if e.reserved.is_some() {
            self.reserved_in_use -= 1;
        } else if let Some(n) = self.per_source.get_mut(&e.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&e.source);
            }
        }
    }

    /// The oldest idle connection (of `source`, if given) old enough to
    /// be closed at `now`: past the minimum age, or past the silent grace
    /// without a byte sent.
    fn oldest_idle(&self, source: Option<Source>, now: Instant) -> Option<ConnId> {
        let min_age = Duration::from_millis(self.caps.min_evict_age_ms);
        let silent_grace = Duration::from_millis(self.caps.silent_grace_ms);
        self.idle
            .iter()
            .filter(|(_, s)| source.is_none_or(|want| **s == want))
            .map(|(id, _)| *id)
            .find(|id| {
                self.conns.get(id).is_some_and(|e| {
                    let age = now.saturating_duration_since(e.accepted);
                    age >= min_age || (!e.heard && age >= silent_grace)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Source = Source::Loopback;
    const B: Source = Source::Remote(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    fn from(ip: &str) -> Source {
        Source::from(ip.parse::<IpAddr>().unwrap())
    }

    fn table(max_connections: usize, max_per_source: usize) -> Admission {
        with_reserve(max_connections, max_per_source, 0)
    }

    fn with_reserve(max_connections: usize, max_per_source: usize, reserved: usize) -> Admission {
        Admission::new(Caps {
            max_connections,
            max_per_source,
            reserved,
            max_answer_bytes: 1000,
            min_evict_age_ms: 0,
            silent_grace_ms: 0,
            answer_grace_ms: 1000,
        })
    }

    fn now() -> Instant {
        Instant::now()
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
            t.on_accept(A, now()),
            Admit::Yes {
                id: ConnId(0),
                evict: None
            }
        );
        assert_eq!(
            t.on_accept(B, now()),
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
        let a0 = id(t.on_accept(A, now()));
        let _b0 = id(t.on_accept(B, now()));
        let a1 = id(t.on_accept(A, now()));
        assert_eq!(
            t.on_accept(A, now()),
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
        let a0 = id(t.on_accept(A, now()));
        let a1 = id(t.on_accept(A, now()));
        assert!(t.on_request(a0) && t.on_request(a1));
        assert_eq!(t.on_accept(A, now()), Admit::No(Refusal::SourceLimit));
        t.on_answered(a1, now());
        t.on_answered(ConnId(99), now());
        assert_eq!(
            t.on_accept(A, now()),
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
        let a0 = id(t.on_accept(A, now()));
        let a1 = id(t.on_accept(A, now()));
        assert!(t.on_request(a0) && t.on_request(a1));
        assert_eq!(t.on_accept(A, now()), Admit::No(Refusal::SourceLimit));
        // Another source still gets in.
        id(t.on_accept(B, now()));
        // A close frees the slot.
        t.on_closed(a0);
        id(t.on_accept(A, now()));
    }

    // === at the global cap ===

    #[test]
    fn at_the_global_cap_the_oldest_idle_connection_of_any_source_makes_room() {
        let mut t = table(3, 3);
        let a0 = id(t.on_accept(A, now()));
        let b0 = id(t.on_accept(B, now()));
        let a1 = id(t.on_accept(A, now()));
        assert!(t.on_request(a0));
        assert_eq!(
            t.on_accept(A, now()),
            Admit::Yes {
                id: ConnId(3),
                evict: Some(b0)
            }
        );
        assert!(t.on_request(a1));
        assert!(t.on_request(ConnId(3)));
        assert_eq!(t.on_accept(B, now()), Admit::No(Refusal::GlobalLimit));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn many_idle_connections_from_one_source_keep_the_table_bounded() {
        let mut t = table(256, 32);
        for _ in 0..1000 {
            id(t.on_accept(A, now()));
        }
        assert_eq!(t.len(), 32);
        // A scrape from the same source still gets in, and its request
        // runs while the flood goes on.
        let scrape = id(t.on_accept(A, now()));
        assert!(t.on_request(scrape));
        for _ in 0..1000 {
            id(t.on_accept(A, now()));
        }
        assert!(t.on_request(scrape), "a busy connection is never evicted");
        t.on_closed(scrape);
        assert_eq!(t.len(), 31);
    }

    /// A local user holds every ordinary slot of loopback with requests in
    /// progress and opens connections in a loop: the operator's
    /// connection, idle until its head is in, is not closed for theirs
    /// while it is younger than the minimum age, and the loop's newcomers
    /// are refused instead. Before, each newcomer closed the oldest idle
    /// connection, reserved slots included, and eight of the loop's closed
    /// the operator's before its head arrived. (Every connection here has
    /// sent a byte of its head: the silent grace does not apply.)
    #[test]
    fn a_young_idle_connection_is_not_closed_to_make_room() {
        let mut t = Admission::new(Caps {
            max_connections: 256,
            max_per_source: 32,
            reserved: 8,
            max_answer_bytes: 1000,
            min_evict_age_ms: 500,
            silent_grace_ms: 150,
            answer_grace_ms: 1000,
        });
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for _ in 0..32 {
            let busy = id(t.on_accept(A, t0));
            assert!(t.on_request(busy));
        }
        let operator = id(t.on_accept(A, t0));
        t.on_heard(operator);
        let mut refused = 0;
        for i in 0..1000 {
            match t.on_accept(A, at(i / 4)) {
                Admit::Yes { id, evict } => {
                    assert_eq!(evict, None, "at {} ms", i / 4);
                    t.on_heard(id);
                }
                Admit::No(r) => {
                    assert_eq!(r, Refusal::SourceLimit);
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, 1000 - 7, "the loop took the 7 reserved slots left");
        // Its head arrives (within the minimum age): taken up, kept.
        assert!(t.on_request(operator));
        // Past the minimum age the loop's idle connections make room again.
        match t.on_accept(A, at(600)) {
            Admit::Yes { evict: Some(e), .. } => assert_ne!(e, operator),
            other => panic!("expected an eviction, got {other:?}"),
        }
    }

    /// A connection that has sent nothing is spared only the silent
    /// grace: past it, a newcomer closes it to make room, while one that
    /// has sent a byte is kept until the minimum age. Before, a flood of
    /// connections that never send, each closed and opened again just
    /// under the minimum age, held its cap against every newcomer.
    #[test]
    fn a_silent_connection_makes_room_after_the_grace() {
        let mut t = Admission::new(Caps {
            max_connections: 256,
            max_per_source: 3,
            reserved: 0,
            max_answer_bytes: 1000,
            min_evict_age_ms: 500,
            silent_grace_ms: 150,
            answer_grace_ms: 1000,
        });
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let s0 = id(t.on_accept(A, at(0)));
        let s1 = id(t.on_accept(A, at(10)));
        let heard = id(t.on_accept(A, at(0)));
        t.on_heard(heard);
        t.on_heard(ConnId(99));
        assert_eq!(t.on_accept(A, at(149)), Admit::No(Refusal::SourceLimit));
        let evicts = |a: Admit| match a {
            Admit::Yes { evict, .. } => evict,
            Admit::No(r) => panic!("refused: {r:?}"),
        };
        assert_eq!(evicts(t.on_accept(A, at(150))), Some(s0));
        assert_eq!(evicts(t.on_accept(A, at(160))), Some(s1));
        // Left: the one that sent a byte (290 ms old) and two silent ones
        // younger than the grace.
        assert_eq!(t.on_accept(A, at(290)), Admit::No(Refusal::SourceLimit));
        assert_eq!(evicts(t.on_accept(A, at(450))), Some(ConnId(3)));
        assert!(t.on_request(heard), "it sent a byte: kept");
    }

    #[test]
    fn closing_everything_empties_the_table() {
        let mut t = table(4, 4);
        let ids: Vec<_> = (0..4).map(|_| id(t.on_accept(A, now()))).collect();
        for i in ids {
            t.on_closed(i);
        }
        assert!(t.is_empty());
        assert!(t.per_source.is_empty() && t.idle.is_empty());
    }

    // === loopback, reserved slots, answers ===

    /// A local user may connect from any of 127.0.0.0/8: every such
    /// address is one source, so the per-source cap binds them all (it
    /// once let each of 127.0.0.2, .3, ... hold a cap of its own).
    #[test]
    fn every_loopback_address_is_one_source() {
        let mut t = table(100, 2);
        for ip in ["127.0.0.2", "127.0.0.3"] {
            let a = id(t.on_accept(from(ip), now()));
            assert!(t.on_request(a));
        }
        for ip in ["127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(
                t.on_accept(from(ip), now()),
                Admit::No(Refusal::SourceLimit),
                "{ip}"
            );
        }
        id(t.on_accept(B, now()));
    }

    /// One host may take any number of addresses of its IPv6 /64: they
    /// are one source, so nine of them hold one cap, not nine (before,
    /// each address was a source and nine held the metrics listener's
    /// slots against a scrape from a tenth address). Another /64 is
    /// another source; IPv4 addresses stay one each.
    #[test]
    fn the_addresses_of_one_ipv6_64_are_one_source() {
        let mut t = table(100, 2);
        for ip in ["2001:db8:0:1::2", "2001:db8:0:1:ffff::9"] {
            let a = id(t.on_accept(from(ip), now()));
            assert!(t.on_request(a));
        }
        for ip in ["2001:db8:0:1::3", "2001:db8:0:1:8000::1"] {
            assert_eq!(
                t.on_accept(from(ip), now()),
                Admit::No(Refusal::SourceLimit),
                "{ip}"
            );
        }
        id(t.on_accept(from("2001:db8:0:2::2"), now()));
        id(t.on_accept(from("198.18.0.1"), now()));
        id(t.on_accept(from("198.18.0.2"), now()));
        assert_eq!(
            from("2001:db8:0:1:abcd::1"),
            Source::Remote("2001:db8:0:1::".parse().unwrap())
        );
    }

    /// A socket of this host counts under its owner, whatever address it
    /// connects from: one local user's flood fills its own cap, and
    /// another user (the operator's Prometheus) still gets in. Before,
    /// every local connection was the one loopback source, and a local
    /// user's 32 young connections refused every local scrape.
    #[test]
    fn local_sockets_count_under_their_owners() {
        let mut t = table(100, 2);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lan: IpAddr = "198.18.0.1".parse().unwrap();
        for ip in [lo, lan] {
            let a = id(t.on_accept(Source::of(ip, Some(1000)), now()));
            assert!(t.on_request(a));
        }
        for ip in [
            lo,
            "127.0.0.9".parse().unwrap(),
            "::1".parse().unwrap(),
            lan,
        ] {
            assert_eq!(
                t.on_accept(Source::of(ip, Some(1000)), now()),
                Admit::No(Refusal::SourceLimit),
                "{ip}"
            );
        }
        id(t.on_accept(Source::of(lo, Some(1001)), now()));
        id(t.on_accept(Source::of(lo, None), now()));
    }

    /// When every ordinary slot is inside a request, a newcomer takes a
    /// reserved slot (to be served only with the admin token), and only
    /// when those are taken too is it refused.
    #[test]
    fn busy_slots_leave_the_reserved_ones_for_the_admin_token() {
        let mut t = with_reserve(10, 2, 1);
        let a0 = id(t.on_accept(A, now()));
        let a1 = id(t.on_accept(A, now()));
        assert!(t.on_request(a0) && t.on_request(a1));
        assert_eq!(t.reserved_for(a0), None);
        let r = id(t.on_accept(A, now()));
        assert_eq!(t.reserved_for(r), Some(Refusal::SourceLimit));
        assert!(t.on_request(r));
        assert_eq!(t.on_accept(A, now()), Admit::No(Refusal::SourceLimit));
        // An idle connection in a reserved slot makes room like any other.
        t.on_closed(r);
        let r2 = id(t.on_accept(A, now()));
        assert_eq!(
            t.on_accept(A, now()),
            Admit::Yes {
                id: ConnId(4),
                evict: Some(r2)
            }
        );
        assert_eq!(t.reserved_for(ConnId(4)), Some(Refusal::SourceLimit));
        // Freed ordinary slots are ordinary again.
        t.on_closed(a0);
        let a2 = id(t.on_accept(A, now()));
        assert_eq!(t.reserved_for(a2), None);
        for c in [a1, a2, ConnId(4)] {
            t.on_closed(c);
        }
        assert!(t.is_empty() && t.per_source.is_empty());
        assert_eq!(t.reserved_in_use, 0);
    }

    #[test]
    fn answers_without_the_admin_token_are_bounded_in_bytes() {
        let mut t = table(10, 10);
        let t0 = now();
        let a = id(t.on_accept(A, t0));
        let b = id(t.on_accept(A, t0));
        let c = id(t.on_accept(A, t0));
        assert_eq!(t.hold_answer(a, 600, true, t0), Some(vec![]));
        t.on_answered(a, t0);
        assert!(!t.answers_full(t0));
        assert_eq!(t.hold_answer(b, 600, true, t0), None, "past the bound");
        // The operator's answer is held whatever the others hold, and
        // counts in all but not against their bound.
        assert_eq!(t.hold_answer(c, 600, false, t0), Some(vec![]));
        assert_eq!(t.answer_bytes(), 1200);
        assert!(!t.answers_full(t0));
        t.on_closed(a);
        t.on_closed(c);
        assert_eq!(t.answer_bytes(), 0);
        assert_eq!(t.hold_answer(b, 1000, true, t0), Some(vec![]));
        t.on_answered(b, t0);
        assert!(t.answers_full(t0));
        assert_eq!(t.hold_answer(ConnId(99), 1, false, t0), None);
    }

    /// A connection whose own earlier answer is past the grace asks to
    /// hold another: it is never the one closed to make room (it would
    /// stay open, uncounted by the caps).
    #[test]
    fn a_connection_never_closes_itself_to_make_room() {
        let mut t = table(10, 10);
        let t0 = now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let c = id(t.on_accept(A, at(0)));
        assert!(t.on_request(c));
        assert_eq!(t.hold_answer(c, 900, true, at(0)), Some(vec![]));
        t.on_answered(c, at(0));
        assert!(t.on_request(c));
        assert_eq!(
            t.hold_answer(c, 400, true, at(2_000)),
            None,
            "refused, not closed"
        );
        assert!(t.on_request(c), "still kept");
        assert_eq!(t.answer_bytes(), 900);
    }

    /// Answers never read fill the bound: a new answer first closes the
    /// oldest of them left unread past the grace (oldest first, only as
    /// many as it needs), and is refused, closing nothing, while they are
    /// younger. Before, every request without the admin token was refused
    /// until the unread ones met the connection deadline (120 s).
    #[test]
    fn unread_answers_past_the_grace_are_closed_to_make_room() {
        let mut t = table(10, 10);
        let t0 = now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let unread: Vec<ConnId> = (0..3)
            .map(|i| {
                let c = id(t.on_accept(A, at(i)));
                assert!(t.on_request(c));
                assert_eq!(t.hold_answer(c, 300, true, at(i)), Some(vec![]));
                t.on_answered(c, at(i));
                c
            })
            .collect();
        let reader = id(t.on_accept(A, at(500)));
        assert!(t.on_request(reader));
        assert!(!t.answers_full(at(500)));
        // 900 held, 400 more: all three are younger than the grace.
        assert_eq!(t.hold_answer(reader, 400, true, at(500)), None);
        t.hold_answer(reader, 100, true, at(500)).unwrap();
        t.on_answered(reader, at(500));
        assert!(t.answers_full(at(999)));
        let late = id(t.on_accept(A, at(1001)));
        assert!(t.on_request(late));
        // Now the first is past the grace; the read one does not count.
        assert!(!t.answers_full(at(1001)));
        assert_eq!(
            t.hold_answer(late, 250, true, at(1001)),
            Some(vec![unread[0]])
        );
        assert_eq!(t.answer_bytes(), 950);
        assert!(!t.on_request(unread[0]), "closed");
        // The operator's answers are never closed for others'.
        let op = id(t.on_accept(A, at(0)));
        assert!(t.on_request(op));
        t.hold_answer(op, 5000, false, at(0)).unwrap();
        let next = id(t.on_accept(A, at(5000)));
        assert!(t.on_request(next));
        assert_eq!(
            t.hold_answer(next, 400, true, at(5000)),
            Some(vec![unread[1], unread[2]])
        );
        assert!(t.on_request(op));
    }
}
