//! Room for a new connection (docs/asa-behaviour.md §2.2), and its entry:
//! the class limits, where a SYN at a half-open limit meets TCP Intercept
//! (or, inside an authentication header, replaces the oldest half-open
//! connection); the table's bound, where a new connection
//! displaces a dead or unproven entry; and, before either refuses, entries
//! already past their timeout that still count because the sweep has not
//! reached them.
//!
//! Every step costs O(1) amortised per packet, however the table is
//! filled: victims come from the fronts of queues
//! ([`evict`](crate::conntrack::evict)), never from a walk of the table.

use super::classes::{Admission, HalfOpenOf, SlotId};
use super::{Engine, Pkt};
use crate::conntrack::entry::conn_flags;
use crate::conntrack::evict::Evictable;
use crate::conntrack::table::TableFull;
use crate::conntrack::{ConnTable, Count48, Entry, FlowId, MacRef, ProtoState};
use crate::counters::{ConnProto, RemoveReason, bump};
use crate::flow::Host;
use crate::time::Instant;
use crate::verdict::DropReason;

/// Expired entries one new connection removes from the fronts of the
/// eviction queues before a limit or a full table would refuse it; the
/// sweep removes the rest. Bounds the work of one packet after a quiet
/// spell has let many entries expire unswept.
pub const RECLAIM_BUDGET: usize = 64;

/// What a new half-open connection meets at its class's half-open limits
/// (`embryonic-conn-max`, `per-client-embryonic-max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HalfOpen {
    /// It replaces the class's (or its client's) oldest half-open
    /// connection: a SYN no cookie can answer (inside an authentication
    /// header, which the firewall cannot sign, RFC 4302). Also the mode
    /// of every connection that is not half-open, which the half-open
    /// limits do not concern.
    Replace,
    /// TCP Intercept (docs/asa-behaviour.md §2.2): it is refused as
    /// [`DropReason::TcpIntercepted`], and the caller answers the SYN
    /// with a SYN cookie in the server's place.
    Intercept,
    /// A client that answered a SYN cookie: it proved its address, and
    /// the firewall opens its connection to the server whatever the
    /// half-open counts (it still counts in them, and the connection
    /// limits still hold).
    Proven,
}

impl Engine {
    /// Admit a new connection of `client` into `class` at `now`, making
    /// room within the class's limits as [`ClassTable::admit`] says (at a
    /// half-open limit as `half_open` says), or refuse it (counted against
    /// the class).
    ///
    /// [`ClassTable::admit`]: super::classes::ClassTable::admit
    pub(super) fn admit(
        &mut self,
        class: SlotId,
        client: Host,
        embryonic: bool,
        half_open: HalfOpen,
        now: Instant,
    ) -> Result<(), DropReason> {
        // A proven client is held to the connection limits only.
        let limited = embryonic && half_open != HalfOpen::Proven;
        let mut admission = self.classes.admit(class, client, limited);
        if admission != Admission::Admit && self.reclaim_expired(Some((class, client)), now) > 0 {
            admission = self.classes.admit(class, client, limited);
        }
        let refused = match admission {
            Admission::Admit => return Ok(()),
            // TCP Intercept frees no place: a connection limit that would
            // refuse the connection refuses the SYN (no cookie the client
            // could never use).
            Admission::Replace(_) if half_open == HalfOpen::Intercept => {
                match self.classes.admit(class, client, false) {
                    Admission::Refuse(reason) => reason,
                    _ => return Err(DropReason::TcpIntercepted),
                }
            }
            Admission::Replace(of) => match self.oldest_half_open(class, client, of) {
                Some(victim) => {
                    self.remove(victim, RemoveReason::EmbryonicLimit);
                    return Ok(());
                }
                // Every half-open connection behind the count is one TCP
                // Intercept opened for a proven client, which no flood
                // replaces (or the counts disagree with the table, which
                // they should never do).
                None => of.limit(),
            },
            Admission::Refuse(reason) => reason,
        };
        self.classes.refused(class);
        Err(refused)
    }

    /// Create the entry for a packet that opens a connection, within the
    /// class's limits (at a half-open limit as `half_open` says). Policy
    /// admission is the caller's. Peers learn of an
    /// inspected entry through the sync effects; the packet's judgement
    /// reports it as opened.
    pub(super) fn create(
        &mut self,
        pkt: &Pkt,
        proto: ProtoState,
        class: SlotId,
        half_open: HalfOpen,
    ) -> Result<FlowId, DropReason> {
        let embryonic = matches!(proto, ProtoState::Tcp(t) if t.state.is_embryonic());
        let (hash, key, src_is_lo) = (pkt.hash, pkt.key, pkt.src_is_lo);
        let client = pkt.tuple.src_host();
        self.admit(class, client, embryonic, half_open, pkt.now)?;
        // ASA flag `B`: opened from the lower-security side.
        let mut flags = if self.level(pkt.ingress) < self.level(pkt.egress) {
            conn_flags::FROM_LOWER
        } else {
            0
        };
        if pkt.ah {
            flags |= conn_flags::AH;
        }
        if matches!(proto, ProtoState::Udp)
            && (pkt.tuple.src.port == 53 || pkt.tuple.dst.port == 53)
        {
            flags |= conn_flags::DNS;
        }
        let id = self.next_conn_id;
        // Ids are 32-bit as on the ASA; wrap but never hand out 0.
        self.next_conn_id = self.next_conn_id.checked_add(1).unwrap_or(1);
        let entry = Entry {
            key,
            flags: flags | conn_flags::orig_is_lo(src_is_lo),
            ingress: [pkt.ingress, pkt.egress],
            owner: self.config.node,
            class,
            id,
            seq_offset: 0,
            // 255: nothing seen yet; the first packet of each direction sets it.
            min_ttl: [u8::MAX; 2],
            macs: MacRef::default(),
            proto,
            packets: [Count48::new(1), Count48::default()],
            bytes: [Count48::new(u64::from(pkt.ip_len)), Count48::default()],
            created: match self.reopened_after.take() {
                Some(old) => pkt
                    .now
                    .max(Instant::from_nanos(old.as_nanos().saturating_add(1))),
                None => pkt.now,
            },
            last_seen: pkt.now,
        };
        let kind = match proto {
            ProtoState::Tcp(_) | ProtoState::TcpBypass => ConnProto::Tcp,
            ProtoState::Udp => ConnProto::Udp,
            ProtoState::IcmpEcho(_) => ConnProto::Icmp,
            ProtoState::Other => ConnProto::Other,
        };
        self.make_room(pkt.now);
        let flow = self
            .table
            .insert(hash, entry, pkt.macs)
            .map_err(|TableFull| DropReason::ConntrackFull)?;
        self.count_role(&entry, true);
        self.classes.opened(class, client, embryonic);
        if embryonic {
            self.note_half_open(flow);
        }
        bump(&mut self.counters.conns_created[kind as usize]);
        if self.conn_log.on() {
            let entry = *self.table.get(flow);
            self.log_built(&entry);
        }
        // The slot's sync bookkeeping starts afresh for every new entry,
        // bypass ones too: a mark left by the slot's previous entry (a
        // passive copy, say) would otherwise hold this one's packets for
        // a peer's state that never comes.
        if let Some(sync) = &mut self.sync {
            // Peers have not heard of this entry: its first event is an insert.
            sync.reset_mark(flow, Instant::ZERO);
        }
        if proto == ProtoState::TcpBypass {
            bump(&mut self.counters.bypass_conns_created);
        } else if self.sync.is_some() {
            self.sync_touch(flow, true, pkt.now);
        }
        Ok(flow)
    }

    /// The table is full (or not): make room for one more entry if it is,
    /// by removing an expired entry from a queue's front, else by evicting
    /// the entry [`ConnTable::displaceable`] names (counted as
    /// `evicted`). Leaves the table full only when every entry is
    /// established, answered, half-closed or bypass, and unexpired at the
    /// fronts.
    pub(super) fn make_room(&mut self, now: Instant) {
        if self.table.len() < self.config.max_conns {
            return;
        }
        self.reclaim_expired(None, now);
        if self.table.len() < self.config.max_conns {
            return;
        }
        if let Some(victim) = self.table.displaceable() {
            self.remove(victim, RemoveReason::Evicted);
        }
    }

    /// Remove entries already past their timeout from the fronts of the
    /// eviction queues (first the half-open queues of `of`, a class and a
    /// client, whose counts a class limit reads), at most
    /// [`RECLAIM_BUDGET`] of them. An expired entry is invisible to
    /// lookups but counts against every limit until it leaves; a queue's
    /// front is its oldest entry, and its kind's timeout is the same for
    /// every entry of a class, so the expired ones are mostly found there.
    /// Returns how many were removed.
    fn reclaim_expired(&mut self, of: Option<(SlotId, Host)>, now: Instant) -> usize {
        let mut removed = 0;
        if let Some((class, client)) = of {
            for q in [HalfOpenOf::Client, HalfOpenOf::Class] {
                while removed < RECLAIM_BUDGET
                    && let Some(flow) = self.oldest_half_open(class, client, q)
                    && self.is_expired(self.table.get(flow), now)
                {
                    self.remove(flow, RemoveReason::Timeout);
                    removed += 1;
                }
            }
        }
        for q in Evictable::ALL {
            while removed < RECLAIM_BUDGET
                && let Some(flow) = self.table.oldest(q)
                && self.is_expired(self.table.get(flow), now)
            {
                self.remove(flow, RemoveReason::Timeout);
                removed += 1;
            }
        }
        removed
    }

    /// The oldest half-open connection of `class`, or of `client` in it.
    fn oldest_half_open(&mut self, class: SlotId, client: Host, of: HalfOpenOf) -> Option<FlowId> {
        let table = &self.table;
        let client_of = (of == HalfOpenOf::Client).then_some(client);
        self.classes
            .oldest_half_open(class, client, of, |slot, flow, id| {
                half_open_in(table, flow, id, slot, client_of)
            })
    }

    /// Queue a half-open entry just created (or learned from a peer) in its
    /// class's and client's half-open queues, after
    /// [`ClassTable::opened`](super::classes::ClassTable::opened).
    pub(super) fn note_half_open(&mut self, flow: FlowId) {
        let e = self.table.get(flow);
        let (class, client, id) = (e.class, e.initiator_host(), e.id);
        let table = &self.table;
        self.classes
            .note_half_open(class, client, flow, id, |f, i| {
                half_open_in(table, f, i, class, None)
            });
    }
}

/// Whether slot `flow` still holds connection `id`, half-open, in class
/// `class` (and opened by `client`, if given).
fn half_open_in(
    table: &ConnTable,
    flow: FlowId,
    id: u32,
    class: SlotId,
    client: Option<Host>,
) -> bool {
    // A connection TCP Intercept opened belongs to a client that proved
    // its address: it is never a flood's to replace.
    table.try_get(flow).is_some_and(|e| {
        e.id == id
            && e.class == class
            && !e.intercepted()
            && e.tcp_state().is_some_and(|s| s.is_embryonic())
            && client.is_none_or(|c| e.initiator_host() == c)
    })
}
