//! A copy of what one worker's engine counts, taken between two batches and
//! read by the metrics collector at scrape time: the packet path keeps plain
//! counters and never touches the registry, so a scrape costs each worker one
//! copy between batches and nothing per packet.

use std::collections::BTreeMap;

use rampart_dataplane::conntrack::entry::conn_flags;
use rampart_dataplane::conntrack::{ProtoState, TcpState};
use rampart_dataplane::counters::BridgeCounters;
use rampart_dataplane::counters::Counters;
use rampart_dataplane::engine::sync::SyncCounters;

use crate::model::NodeStatus;
use crate::pool::WorkerView;

/// Conntrack entries by protocol, state and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKind {
    /// `tcp`, `udp`, `icmp`.
    pub protocol: &'static str,
    /// TCP: the state (`established`, …); bypass TCP: `none` (no state
    /// kept); UDP and ICMP: `replied` or `unreplied`.
    pub state: &'static str,
    /// `bypass` or `inspected`.
    pub mode: &'static str,
}

impl EntryKind {
    /// Every kind the table can hold, so each series exists from the start.
    pub fn all() -> Vec<EntryKind> {
        let mut v: Vec<EntryKind> = TcpState::ALL
            .iter()
            .filter(|&&s| s != TcpState::None)
            .map(|&s| EntryKind {
                protocol: "tcp",
                state: tcp_state_label(s),
                mode: "inspected",
            })
            .collect();
        v.push(EntryKind {
            protocol: "tcp",
            state: "none",
            mode: "bypass",
        });
        for protocol in ["udp", "icmp"] {
            for state in ["replied", "unreplied"] {
                v.push(EntryKind {
                    protocol,
                    state,
                    mode: "inspected",
                });
            }
        }
        v
    }
}

/// A class slot's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSnapshot {
    /// `policy-map/class` or `default`.
    pub name: String,
    /// Live connections.
    pub conns: u64,
    /// Live embryonic connections.
    pub embryonic: u64,
    /// Connections created.
    pub created: u64,
    /// Refused by the slot's limits.
    pub limit_drops: u64,
}

/// One worker's counters.
#[derive(Debug, Clone)]
pub struct WorkerSnapshot {
    /// Worker index.
    pub worker: usize,
    /// Interface nameifs, by `IfaceId`.
    pub interfaces: Vec<String>,
    /// The engine's counters.
    pub counters: Counters,
    /// Sync counters, if the engine syncs.
    pub sync: Option<SyncCounters>,
    /// I/O counters, if the worker does packet I/O.
    pub io: Option<BridgeCounters>,
    /// Entries in use.
    pub conns: u64,
    /// High-water mark.
    pub high_water: u64,
    /// Table capacity.
    pub capacity: u64,
    /// Live entries by kind (expired entries the sweep has not reached
    /// yet are left out).
    pub entries: BTreeMap<EntryKind, u64>,
    /// Class slots.
    pub slots: Vec<SlotSnapshot>,
    /// Packets held for peers' state now.
    pub held_now: u64,
    /// Packets deferred for peers' acknowledgements now.
    pub deferred_now: u64,
    /// Whether the engine forwards (its first bulk sync is done).
    pub ready: bool,
}

fn tcp_state_label(s: TcpState) -> &'static str {
    match s {
        TcpState::None => "none",
        TcpState::SynSent => "syn_sent",
        TcpState::SynRecv => "syn_recv",
        TcpState::Established => "established",
        TcpState::FinWait => "fin_wait",
        TcpState::CloseWait => "close_wait",
        TcpState::LastAck => "last_ack",
        TcpState::TimeWait => "time_wait",
        TcpState::Close => "close",
        TcpState::SynSent2 => "syn_sent2",
    }
}

impl WorkerSnapshot {
    /// Take the snapshot. Walks the connection table once (the entry
    /// breakdown), so it costs time proportional to the table: call it at
    /// scrape time, not per packet.
    pub fn take(w: &WorkerView<'_>) -> Self {
        let engine = &*w.engine;
        let mut entries = BTreeMap::new();
        for (_, e) in engine.table().iter() {
            if engine.is_expired(e, w.now) {
                continue;
            }
            let replied = if e.flags & conn_flags::REPLIED != 0 {
                "replied"
            } else {
                "unreplied"
            };
            let kind = match &e.proto {
                ProtoState::Tcp(t) => EntryKind {
                    protocol: "tcp",
                    state: tcp_state_label(t.state),
                    mode: "inspected",
                },
                ProtoState::TcpBypass => EntryKind {
                    protocol: "tcp",
                    state: "none",
                    mode: "bypass",
                },
                ProtoState::Udp => EntryKind {
                    protocol: "udp",
                    state: replied,
                    mode: "inspected",
                },
                ProtoState::IcmpEcho => EntryKind {
                    protocol: "icmp",
                    state: replied,
                    mode: "inspected",
                },
            };
            *entries.entry(kind).or_insert(0u64) += 1;
        }
        let slots = engine
            .classes()
            .iter()
            .map(|(_, s)| SlotSnapshot {
                name: s.name.clone(),
                conns: u64::from(s.conns),
                embryonic: u64::from(s.embryonic),
                created: s.created,
                limit_drops: s.limit_drops,
            })
            .collect();
        WorkerSnapshot {
            worker: w.worker,
            interfaces: engine
                .config()
                .interfaces
                .iter()
                .map(|i| i.nameif.clone())
                .collect(),
            counters: engine.counters().clone(),
            sync: engine.sync_counters().cloned(),
            io: w.io.copied(),
            conns: engine.table().len() as u64,
            high_water: engine.table().high_water() as u64,
            capacity: engine.table().max_entries() as u64,
            entries,
            slots,
            held_now: engine.sync_backlog().0 as u64,
            deferred_now: engine.sync_backlog().1 as u64,
            ready: engine.is_ready(),
        }
    }
}

/// Everything a scrape exports.
#[derive(Debug, Clone, Default)]
pub struct NodeSnapshot {
    /// Each worker's counters (empty if the workers did not answer).
    pub workers: Vec<WorkerSnapshot>,
    /// The node's own status.
    pub status: NodeStatus,
    /// The workers did not answer in time.
    pub workers_unavailable: bool,
}
