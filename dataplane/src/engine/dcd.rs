//! Dead connection detection: `set connection timeout dcd [RETRY [MAX]]`
//! (docs/asa-behaviour.md §2.2).
//!
//! When an established TCP connection of such a class reaches its idle
//! timeout, the node probes its ends instead of removing it: a keep-alive
//! toward one end as if from the other ([`reset::Built::Probe`]), which a
//! live stack answers with an ACK that crosses the firewall as the
//! connection's next packet. The ends are probed one after the other, the
//! initiator first. An end's answer is a packet from it that crossed this
//! node (counted per direction), or any word of the flow from a peer: in a
//! cluster, a packet that crossed another node reaches the prober only as
//! that node's refresh of the flow (docs/sync.md §2), which does not say
//! which end sent it, so one end at a time is what lets the answers be
//! told apart. Neither depends on the nodes' clocks agreeing. An end that leaves `MAX`
//! probes, `RETRY` apart, unanswered ends the connection (with the RSTs
//! of `timeout idle … reset` when the class sets it); when both answer,
//! their answers made the connection's last-seen new, so its idle timeout
//! starts again.
//!
//! In a cluster the node that would send the idle RSTs probes (the owner,
//! or once it left a node the flow crossed); every node keeps the
//! connection past its idle timeout for as long as probing can take
//! ([`grace`]), and the prober's verdict of dead removes it everywhere.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use super::reset::{self, Built};
use super::{Effect, Engine, MAX_PENDING_EFFECTS};
use crate::conntrack::{Entry, FlowId, ProtoState, TcpState};
use crate::counters::{RemoveReason, bump};
use crate::flow::Direction;
use crate::policy::compile::ConnOptions;
use crate::sync::Incarnation;
use crate::time::Instant;

/// Most connections probed at once on one worker. One found idle beyond
/// is probed when the sweep finds it again (counted as
/// `probes_deferred`); each probed connection costs a look a second.
pub(crate) const MAX_PROBING: usize = 1 << 16;

/// How often a probed connection is looked at for its end's answer.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// In a cluster, the least time an end has to answer: an answer that
/// crossed another node reaches the prober as a refresh of the flow's
/// last-seen, sent at once after a quiet spell but up to the refresh
/// interval late after a recent one (at most 30 s,
/// `SyncConfig::refresh_max`), plus a margin for the hop.
const CLUSTER_ANSWER_TIME: Duration = Duration::from_secs(35);

/// A margin beyond the time the sweep takes to visit the whole table
/// ([`sweep_period`]), for a busy worker's late sweeps.
const SWEEP_SLACK: Duration = Duration::from_secs(60);

/// The sweep period every node assumes at least: that of the largest
/// table a node may have (50 million entries, `node.max_conns`) at the
/// default sweep budget, 306 s. Nodes of one cluster may size their
/// tables apart, and a copy must not leave before the prober (whose
/// table may be the largest) has even found the connection idle.
const CLUSTER_SWEEP_PERIOD: Duration = Duration::from_secs(306);

/// How long the sweep takes to visit every slot of a table of
/// `max_entries`, `budget` slots a sweep (`EngineConfig::sweep_budget_slots`),
/// one sweep every `SWEEP_INTERVAL`: how late after its idle timeout it
/// may find a connection.
pub(crate) fn sweep_period(max_entries: usize, budget: usize) -> Duration {
    let sweeps = max_entries.div_ceil(budget.max(1));
    super::SWEEP_INTERVAL.saturating_mul(u32::try_from(sweeps).unwrap_or(u32::MAX))
}

/// The DCD settings of `entry`'s class when they apply to it now: an
/// established (not half-closed, closing or embryonic) inspected TCP
/// connection whose idle timeout is not "never", in a class whose tcp-map
/// does not let TCP MD5 signatures (RFC 2385, kind 19) or TCP-AO (RFC
/// 5925, kind 29) through: their ends drop an unsigned probe, so a live
/// signed connection would be taken for dead (it idles out as without
/// DCD instead).
fn applies(entry: &Entry, options: &ConnOptions) -> Option<crate::policy::ast::Dcd> {
    let dcd = options.dcd?;
    match &entry.proto {
        ProtoState::Tcp(t) if t.state == TcpState::Established => {}
        _ => return None,
    }
    let signed = [19, 29]
        .into_iter()
        .any(|kind| options.tcp_normalizer.option(kind) == crate::policy::tcp_map::Action::Allow);
    (options.timeout_idle != Some(Duration::ZERO) && !signed).then_some(dcd)
}

/// How long one end has to answer: `MAX` probes `RETRY` apart, and in a
/// cluster at least [`CLUSTER_ANSWER_TIME`].
fn answer_time(dcd: &crate::policy::ast::Dcd, clustered: bool) -> Duration {
    let probes = dcd.retry_interval * u32::from(dcd.max_retries);
    if clustered {
        probes.max(CLUSTER_ANSWER_TIME)
    } else {
        probes
    }
}

/// How long past its idle timeout every node keeps an entry DCD may be
/// probing: both ends' answer time (as in a cluster, so that every node,
/// clustered or not, keeps it alike) and the sweep's lateness
/// (`sweep`: [`sweep_period`] of this node's table, asked only of an
/// entry DCD applies to: this is on the packet path). Zero for an entry
/// DCD does not apply to.
pub(crate) fn grace(
    entry: &Entry,
    options: &ConnOptions,
    sweep: impl FnOnce() -> Duration,
) -> Duration {
    applies(entry, options).map_or(Duration::ZERO, |d| {
        // Two ends' answer times, and the wait between them after
        // several probes to the first (`settle`).
        (3 * answer_time(&d, true))
            .saturating_add(sweep().max(CLUSTER_SWEEP_PERIOD))
            .saturating_add(SWEEP_SLACK)
    })
}

/// One connection being probed.
#[derive(Debug, Clone, Copy)]
struct Probe {
    /// Which connection (a slot another connection took is not it).
    inc: Incarnation,
    /// The end being probed.
    end: Direction,
    /// Packets from that end that crossed this node when its probing
    /// began: one more is its answer.
    packets: u64,
    /// A peer told of the flow since this end's probing began: a packet
    /// crossed another node (the answer, in a cluster).
    heard: bool,
    /// Probes sent to this end (queued for the shell: one the effects
    /// queue had no room for is tried again, never counted).
    sent: u8,
    /// When the next probe is due (for the responder's end after the
    /// initiator's, the first may wait: [`Engine::look_at`]).
    next_probe: Instant,
    /// When the last probe left.
    last_probe: Instant,
    /// When an unanswered end is declared dead.
    gives_up: Instant,
    /// When it is next looked at (a heap item of another time is stale).
    look: Instant,
}

/// The connections a worker probes.
#[derive(Debug, Default)]
pub(crate) struct Probing {
    probes: HashMap<u32, Probe>,
    looks: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Idle entries the last sweep found (slots), to start probing.
    pub(super) found: Vec<FlowId>,
}

impl Engine {
    /// Connections this engine's dead connection detection probes now.
    pub fn dcd_probing(&self) -> usize {
        self.dcd.probes.len()
    }

    /// How long this engine's sweep takes to visit its whole table
    /// ([`sweep_period`]).
    pub(super) fn sweep_period(&self) -> Duration {
        sweep_period(self.table.max_entries(), self.config.sweep_budget_slots)
    }

    /// A peer told of the flow in slot `id` (any event of its incarnation,
    /// whatever the clocks say): for a probed connection, the answer of
    /// the end being probed when it crossed another node.
    pub(super) fn dcd_heard(&mut self, id: FlowId) {
        // Every applied event and served pull asks: nothing is hashed
        // while nothing is probed.
        if self.dcd.probes.is_empty() {
            return;
        }
        if let Some(p) = self.dcd.probes.get_mut(&id.0) {
            p.heard = true;
        }
    }

    /// Whether the sweep should hand `entry` to DCD: it reached its idle
    /// timeout, and DCD applies to it.
    pub(super) fn dcd_due(
        entry: &Entry,
        options: &ConnOptions,
        timeout: Duration,
        now: Instant,
    ) -> bool {
        applies(entry, options).is_some() && now >= entry.last_seen + timeout
    }

    /// Start probing what the sweep found idle, then look at the probed
    /// connections whose time came.
    pub(super) fn run_dcd(&mut self, now: Instant) {
        let mut found = std::mem::take(&mut self.dcd.found);
        for id in found.drain(..) {
            self.start_probing(id, now);
        }
        self.dcd.found = found;
        while let Some(&Reverse((at, slot))) = self.dcd.looks.peek() {
            if at > now {
                break;
            }
            self.dcd.looks.pop();
            match self.dcd.probes.get(&slot) {
                Some(p) if p.look == at => self.look_at(FlowId(slot), now),
                _ => {}
            }
        }
    }

    fn start_probing(&mut self, id: FlowId, now: Instant) {
        let Some(entry) = self.table.try_get(id) else {
            return;
        };
        let inc = entry.incarnation();
        if self.dcd.probes.get(&id.0).is_some_and(|p| p.inc == inc) {
            return;
        }
        let options = &self.classes.get(entry.class).options;
        let Some(dcd) = applies(entry, options) else {
            return;
        };
        if !self.may_probe(entry) {
            return;
        }
        if self.dcd.probes.len() >= MAX_PROBING {
            bump(&mut self.counters.dcd.probes_deferred);
            return;
        }
        let gives_up = now + answer_time(&dcd, self.sync.is_some());
        let mut p = Probe {
            inc,
            end: Direction::Orig,
            packets: entry.packets[Direction::Orig.index()].get(),
            heard: false,
            sent: 0,
            next_probe: now,
            last_probe: now,
            gives_up,
            look: now,
        };
        self.probe(id, &mut p, dcd.retry_interval, now);
        self.schedule(id, p, now);
    }

    /// Send the probed end its next probe. Only a probe handed to the
    /// shell counts: one the effects queue has no room for (many
    /// connections idled out at once), or toward a shut interface, is
    /// tried again at the next look, and an end is never found dead on
    /// probes that did not leave.
    fn probe(&mut self, id: FlowId, p: &mut Probe, retry: Duration, now: Instant) {
        let entry = self.table.get(id);
        let ProtoState::Tcp(t) = &entry.proto else {
            return;
        };
        let egress = entry.ingress[p.end.index()];
        if self.policy.is_shut(egress) {
            return;
        }
        if self.effects.len() >= MAX_PENDING_EFFECTS {
            // Not lost: tried again at the next look.
            bump(&mut self.counters.dcd.probes_deferred);
            return;
        }
        let frame = reset::frame(entry, self.table.macs_of(entry), t, p.end, Built::Probe);
        if p.sent == 0 {
            // This end's probing begins: what answers it comes after.
            p.heard = false;
            p.packets = entry.packets[p.end.index()].get();
        }
        p.sent = p.sent.saturating_add(1);
        p.last_probe = now;
        p.next_probe = now + retry;
        p.gives_up = p.gives_up.max(p.next_probe);
        bump(&mut self.counters.dcd.probes_sent);
        let end = p.end;
        self.classes.count_dcd(entry.class, |c| match end {
            Direction::Orig => bump(&mut c.client_probes),
            Direction::Reply => bump(&mut c.server_probes),
        });
        self.effects.push_back(Effect::Transmit { egress, frame });
    }

    fn schedule(&mut self, id: FlowId, mut p: Probe, now: Instant) {
        p.look = (now + LOOK_EVERY).min(if p.next_probe > now {
            p.next_probe
        } else {
            p.gives_up
        });
        if p.look <= now {
            p.look = now + LOOK_EVERY;
        }
        self.dcd.looks.push(Reverse((p.look, id.0)));
        self.dcd.probes.insert(id.0, p);
    }

    /// Look at a probed connection: its end answered, or is due another
    /// probe, or is dead.
    fn look_at(&mut self, id: FlowId, now: Instant) {
        let Some(mut p) = self.dcd.probes.remove(&id.0) else {
            return;
        };
        let Some(entry) = self.table.try_get(id) else {
            return;
        };
        let options = &self.classes.get(entry.class).options;
        // Closed, reset, taken by another connection, its class no longer
        // probes, or this node is no longer the one that probes (its
        // owner came back): no more probing.
        let Some(dcd) = applies(entry, options).filter(|_| entry.incarnation() == p.inc) else {
            return;
        };
        if !self.may_probe(entry) {
            return;
        }
        let answered = p.heard || entry.packets[p.end.index()].get() > p.packets;
        if p.sent > 0 && answered {
            // This end answered (or sent: the connection is not idle).
            match p.end {
                Direction::Orig => {
                    // In a cluster an answer to an earlier probe of the
                    // initiator may still come as a peer's refresh, which
                    // says not whose it is, up to the refresh interval
                    // late: after several probes, the responder's turn
                    // waits that long past the last (none can then answer
                    // for it).
                    let settle = if self.sync.is_some() && p.sent > 1 {
                        p.last_probe + CLUSTER_ANSWER_TIME
                    } else {
                        now
                    };
                    p.end = Direction::Reply;
                    p.sent = 0;
                    p.next_probe = settle.max(now);
                    p.gives_up = p.next_probe + answer_time(&dcd, self.sync.is_some());
                    if p.next_probe <= now {
                        self.probe(id, &mut p, dcd.retry_interval, now);
                    }
                    self.schedule(id, p, now);
                }
                // Both answered: their answers made the connection's
                // last-seen new, and its idle timeout runs again.
                Direction::Reply => bump(&mut self.counters.dcd.kept),
            }
            return;
        }
        if now >= p.next_probe && p.sent < dcd.max_retries {
            self.probe(id, &mut p, dcd.retry_interval, now);
        } else if p.sent > 0
            && p.sent >= dcd.max_retries
            && now >= p.gives_up
            && now >= p.next_probe
        {
            bump(&mut self.counters.dcd.dead);
            self.classes
                .count_dcd(entry.class, |c| bump(&mut c.expired));
            self.remove(id, RemoveReason::DeadConnection);
            return;
        }
        self.schedule(id, p, now);
    }
}
