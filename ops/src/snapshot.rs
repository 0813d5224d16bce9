//! A copy of what one worker's engine counts, taken between two batches and
//! read by the metrics collector at scrape time: the packet path keeps plain
//! counters and never touches the registry, so a scrape costs each worker one
//! copy between batches and nothing per packet.

use std::collections::BTreeMap;

use rampart_dataplane::conntrack::TcpState;
use rampart_dataplane::counters::BridgeCounters;
use rampart_dataplane::counters::Counters;
use rampart_dataplane::engine::sync::SyncCounters;
use rampart_dataplane::policy::ast::ServiceScope;

use crate::model::NodeStatus;
use crate::pool::WorkerView;

/// Conntrack entries by protocol, state and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKind {
    /// `tcp`, `udp`, `icmp`, or `other` (any other IP protocol: GRE,
    /// ESP, SCTP, …).
    pub protocol: &'static str,
    /// TCP: the state (`established`, …); bypass TCP: `none` (no state
    /// kept); UDP, ICMP and other protocols: `replied` or `unreplied`.
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
        for protocol in ["udp", "icmp", "other"] {
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

/// A class's counters on one worker, over its slots
/// (`ClassTable::counts_by_class`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSnapshot {
    /// `policy-map/class` or `default`.
    pub name: String,
    /// Where its policy-map is applied (`default`: global).
    pub scope: ServiceScope,
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
    /// Entries by kind, as the table holds them (an entry past its
    /// timeout counts until the sweep removes it).
    pub entries: BTreeMap<EntryKind, u64>,
    /// Each class's counters, its versions' slots and released slots
    /// summed, by class name and scope.
    pub slots: Vec<SlotSnapshot>,
    /// Packets held for peers' state now.
    pub held_now: u64,
    /// Packets deferred for peers' acknowledgements now.
    pub deferred_now: u64,
    /// Whether the engine forwards (its first bulk sync is done).
    pub ready: bool,
    /// Fragment reassembly, by `IfaceId` (`show fragment`'s counters).
    pub fragments: Vec<rampart_dataplane::engine::fragment::FragmentStats>,
    /// Shuns in force on this worker (docs/asa-behaviour.md §2.12).
    pub shuns: u64,
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

/// The labels of an entry kind (`rampart_dataplane::conntrack::table::kind_of`).
fn kind_label(i: usize) -> EntryKind {
    let (protocol, state, mode) = match i {
        0..=9 => ("tcp", tcp_state_label(TcpState::ALL[i]), "inspected"),
        10 => ("tcp", "none", "bypass"),
        11 => ("udp", "replied", "inspected"),
        12 => ("udp", "unreplied", "inspected"),
        13 => ("icmp", "replied", "inspected"),
        14 => ("icmp", "unreplied", "inspected"),
        15 => ("other", "replied", "inspected"),
        16 => ("other", "unreplied", "inspected"),
        // `KIND_COUNT` kinds: none past 16.
        _ => ("other", "unreplied", "inspected"),
    };
    EntryKind {
        protocol,
        state,
        mode,
    }
}

impl WorkerSnapshot {
    /// Take the snapshot: counters only, never a walk of the connection
    /// table (the engine keeps its entries by kind as they come, change
    /// and go), so a scrape costs a worker the same pause whatever its
    /// table holds.
    pub fn take(w: &WorkerView<'_>) -> Self {
        let engine = &*w.engine;
        let mut entries = BTreeMap::new();
        for (i, &n) in engine.table().kind_counts().iter().enumerate() {
            if n > 0 {
                entries.insert(kind_label(i), n);
            }
        }
        // By class, over its versions and released slots (the sum `show
        // service-policy` reads too): a class whose options change gets a
        // new slot, and the exported totals never go down when the old
        // one is released.
        let slots = engine
            .classes()
            .counts_by_class()
            .into_iter()
            .map(|((name, scope), c)| SlotSnapshot {
                name: name.to_string(),
                scope: scope.clone(),
                conns: c.conns,
                embryonic: c.embryonic,
                created: c.created,
                limit_drops: c.limit_drops,
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
            fragments: engine.fragment_stats(),
            shuns: engine.shuns().shuns().len() as u64,
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

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::trace::{Side, TcpModel, udp_frame, v4_pair};
    use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant};

    /// Worker 0's scrape of `engine`, without I/O counters.
    fn take(engine: &mut Engine, now: Instant) -> WorkerSnapshot {
        WorkerSnapshot::take(&WorkerView {
            engine,
            io: None,
            now,
            worker: 0,
        })
    }

    /// A scrape reads counters: it does not walk the connection table (it
    /// once walked every worker's table on the packet thread, 1M entries
    /// per scrape), and what it reports equals a walk.
    #[test]
    fn a_snapshot_reads_counters_and_never_walks_the_table() {
        let mut engine =
            Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).expect("engine");
        let now = Instant::from_secs(100);
        for port in 0..20_000u16 {
            let (c, s) = v4_pair(10_000 + port % 40_000, 53);
            let mut f = udp_frame(&c, &s, b"q");
            engine.process(&mut f, PacketMeta::default(), IfaceId(0), now);
        }
        for port in 0..100u16 {
            let (c, s) = v4_pair(50_000 + port, 80);
            let mut m = TcpModel::new(c, s, [1, 2], [65535, 65535], [None, None]);
            let syn = m.syn();
            let mut f = m.frame(&syn);
            engine.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now);
        }
        let walks = engine.table().walks();
        let snap = take(&mut engine, now);
        assert_eq!(engine.table().walks(), walks, "the scrape walked the table");
        let kind = |protocol, state| EntryKind {
            protocol,
            state,
            mode: "inspected",
        };
        assert_eq!(snap.entries.get(&kind("udp", "unreplied")), Some(&20_000));
        assert_eq!(snap.entries.get(&kind("tcp", "syn_sent")), Some(&100));
        assert_eq!(
            snap.entries.values().sum::<u64>(),
            engine.table().len() as u64
        );
    }

    /// Issue 16's acceptance: a scrape of a worker that holds a million
    /// entries reads the same counters as one of an empty worker and
    /// walks nothing (its cost does not grow with the table: measured in
    /// `cargo bench -p rampart-ops --bench scrape`).
    #[test]
    fn a_scrape_of_a_million_entries_walks_nothing() {
        let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
        cfg.max_conns = 1_100_000;
        let mut engine = Engine::new(cfg).expect("engine");
        let now = Instant::from_secs(100);
        rampart_dataplane::trace::fill_udp_flows(&mut engine, 1_000_000, now);
        assert_eq!(engine.table().len(), 1_000_000);
        let walks = engine.table().walks();
        let snap = take(&mut engine, now);
        assert_eq!(engine.table().walks(), walks, "the scrape walked the table");
        assert_eq!(snap.conns, 1_000_000);
        assert_eq!(snap.entries.values().sum::<u64>(), 1_000_000);
    }
}
