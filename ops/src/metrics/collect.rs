//! A node snapshot turned into metric families: engine counters summed
//! over workers (a `worker` label only on the balance series), the node's
//! sync, Raft and policy status where it has them. Parts the node does not
//! have (no cluster, no Raft yet) are absent, never zeros pretending.

use std::collections::BTreeMap;

use rampart_dataplane::DropReason;
use rampart_dataplane::counters::{ConnProto, LinkCounts, RemoveReason, TxDrop, VerdictKind};
use rampart_dataplane::engine::fragment::FragmentStats;
use rampart_dataplane::engine::sync::{
    EventKind, HELD_WAIT_BOUNDS_US, ROLE_COPY, ROLE_DIRECTOR, ROLE_OWNER, SyncCounters,
};
use rampart_dataplane::policy::ast::ServiceScope;

use super::family::Families;
use super::specs::*;
use crate::snapshot::NodeSnapshot;

/// Reads one of a worker's I/O counters.
type IoGet = fn(&rampart_dataplane::counters::BridgeCounters) -> u64;

fn sum(it: impl Iterator<Item = u64>) -> u64 {
    it.fold(0u64, |a, b| a.saturating_add(b))
}

/// A class's `scope` label: the words after the policy-map's name in its
/// `service-policy` command (`global`, `interface inside`).
fn scope_label(scope: &ServiceScope) -> String {
    match scope {
        ServiceScope::Global => "global".to_string(),
        ServiceScope::Interface(nameif) => format!("interface {nameif}"),
    }
}

/// Fill `f` from `snap`.
pub fn fill(f: &mut Families, snap: &NodeSnapshot) {
    let st = &snap.status;
    f.gauge(&BUILD_INFO, &[env!("CARGO_PKG_VERSION")], 1.0);
    let ready = st.not_ready().is_empty();
    f.gauge(&READY, &[], f64::from(u8::from(ready)));
    f.gauge(&WORKERS, &[], snap.workers.len() as f64);
    f.gauge(
        &WORKERS_UNAVAILABLE,
        &[],
        f64::from(u8::from(snap.workers_unavailable)),
    );
    f.gauge(&POLICY_VERSION, &[], st.policy_version as f64);
    engines(f, snap);
    cluster(f, snap);
    if let Some(r) = &st.raft {
        f.gauge(&RAFT_TERM, &[], r.term as f64);
        f.gauge(&RAFT_RUNNING, &[], f64::from(u8::from(r.stopped.is_none())));
        f.gauge(&RAFT_REMOVED, &[], f64::from(u8::from(r.removed.is_some())));
        f.gauge(
            &RAFT_HAS_LEADER,
            &[],
            f64::from(u8::from(r.leader.is_some())),
        );
        if let Some(l) = r.leader {
            f.gauge(&RAFT_LEADER, &[], f64::from(l));
        }
        f.gauge(
            &RAFT_IS_LEADER,
            &[],
            f64::from(u8::from(r.leader == Some(st.node_id))),
        );
        f.gauge(&RAFT_COMMIT, &[], r.commit_index as f64);
        f.gauge(&RAFT_APPLIED, &[], r.applied_index as f64);
        f.counter(&CLUSTER_GUARDS, &["raft_rpc_refused"], r.rpcs_refused);
        f.counter(&CLUSTER_GUARDS, &["policy_refused"], r.policies_refused);
        f.counter(&CLUSTER_GUARDS, &["raft_vote_withheld"], r.votes_withheld);
        f.counter(
            &CLUSTER_GUARDS,
            &["policy_class_slots"],
            r.policy_slot_waits,
        );
    }
}

/// The data interfaces' links. Every worker has its own sockets on both
/// interfaces and sees the same changes: a change counts once (the most
/// any worker saw), and a link is down while any worker sees it so.
fn link_series(f: &mut Families, w: &[crate::snapshot::WorkerSnapshot]) {
    let names = &w[0].interfaces;
    for (i, name) in names.iter().enumerate().take(2) {
        let links = || w.iter().filter_map(|s| s.io.as_ref().map(|x| x.links[i]));
        for (event, get) in [
            ("down", (|l| l.down) as fn(&LinkCounts) -> u64),
            ("up", |l| l.up),
            ("gone", |l| l.gone),
        ] {
            let n = links().map(|l| get(&l)).max().unwrap_or(0);
            f.counter(&IO_LINK_EVENTS, &[name, event], n);
        }
        let down = links().any(|l| l.is_down);
        f.gauge(&IO_LINK_DOWN, &[name], if down { 1.0 } else { 0.0 });
    }
}

fn engines(f: &mut Families, snap: &NodeSnapshot) {
    let w = &snap.workers;
    if w.is_empty() {
        return;
    }
    let c = |get: &dyn Fn(&crate::snapshot::WorkerSnapshot) -> u64| sum(w.iter().map(get));
    // Interfaces: the same list on every worker.
    let names = &w[0].interfaces;
    for (i, name) in names.iter().enumerate() {
        for kind in VerdictKind::ALL {
            let k = kind as usize;
            let pk = c(&|s| s.counters.ifaces.get(i).map_or(0, |x| x.packets[k]));
            let by = c(&|s| s.counters.ifaces.get(i).map_or(0, |x| x.bytes[k]));
            f.counter(&IFACE_PACKETS, &[name, kind.label()], pk);
            f.counter(&IFACE_BYTES, &[name, kind.label()], by);
        }
        let frag = |get: &dyn Fn(&FragmentStats) -> u64| c(&|s| s.fragments.get(i).map_or(0, get));
        f.counter(
            &FRAGMENT_DATAGRAMS,
            &[name, "assembled"],
            frag(&|x| x.assembled),
        );
        f.counter(&FRAGMENT_DATAGRAMS, &[name, "failed"], frag(&|x| x.failed));
        f.counter(
            &FRAGMENT_DATAGRAMS,
            &[name, "evicted"],
            frag(&|x| x.evicted),
        );
        f.counter(&FRAGMENT_OVERFLOW, &[name], frag(&|x| x.overflow));
        f.gauge(&FRAGMENT_QUEUED, &[name], frag(&|x| x.queued) as f64);
    }
    // Every worker runs the node's list; one still taking a new one
    // counts with the others' largest.
    f.gauge(
        &SHUNS,
        &[],
        w.iter().map(|s| s.shuns).max().unwrap_or(0) as f64,
    );
    for s in w {
        let worker = s.worker.to_string();
        f.counter(&WORKER_PACKETS, &[&worker], s.counters.forwarded_packets);
        f.gauge(&WORKER_ENTRIES, &[&worker], s.conns as f64);
    }
    // Every reason, zeros included: a new reason cannot ship unexported.
    for &r in DropReason::ALL {
        f.counter(&DROPS, &[r.label()], c(&|s| s.counters.dropped(r)));
    }
    f.counter(&UNTRACKED, &[], c(&|s| s.counters.untracked_passed));
    f.counter(&ICMP_RELATED, &[], c(&|s| s.counters.icmp_related_passed));
    // Entries: every inspected/bypass combination the table can hold is
    // exported, zero or not, so `rampart_conntrack_entries{mode="bypass"}`
    // exists before the first bypass flow.
    let mut entries: BTreeMap<_, u64> = BTreeMap::new();
    for s in w {
        for (k, n) in &s.entries {
            *entries.entry(*k).or_default() += n;
        }
    }
    for k in crate::snapshot::EntryKind::all() {
        entries.entry(k).or_default();
    }
    for (k, n) in &entries {
        f.gauge(&ENTRIES, &[k.protocol, k.state, k.mode], *n as f64);
    }
    f.gauge(&CAPACITY, &[], c(&|s| s.capacity) as f64);
    f.gauge(&HIGH_WATER, &[], c(&|s| s.high_water) as f64);
    for p in ConnProto::ALL {
        f.counter(
            &CREATED,
            &[p.label()],
            c(&|s| s.counters.conns_created[p as usize]),
        );
    }
    f.counter(
        &BYPASS_CREATED,
        &[],
        c(&|s| s.counters.bypass_conns_created),
    );
    for r in RemoveReason::ALL {
        f.counter(
            &REMOVED,
            &[r.label()],
            c(&|s| s.counters.conns_removed[r as usize]),
        );
    }
    // Classes by name and scope, summed over workers: each worker's
    // snapshot has already summed a class's versions and released slots
    // (`ClassTable::counts_by_class`, which `show service-policy` reads
    // too), so a class's counters never go down, and a policy-map applied
    // in two scopes is two series, as it is two bindings.
    let mut classes: BTreeMap<(&str, String), [u64; 4]> = BTreeMap::new();
    for s in w {
        for slot in &s.slots {
            let e = classes
                .entry((slot.name.as_str(), scope_label(&slot.scope)))
                .or_default();
            e[0] += slot.created;
            e[1] += slot.limit_drops;
            e[2] += slot.conns;
            e[3] += slot.embryonic;
        }
    }
    for ((name, scope), [created, limit, conns, emb]) in &classes {
        let labels = [*name, scope.as_str()];
        f.counter(&CLASS_CREATED, &labels, *created);
        f.counter(&CLASS_LIMIT, &labels, *limit);
        f.gauge(&CLASS_CONNS, &labels, *conns as f64);
        f.gauge(&CLASS_EMBRYONIC, &labels, *emb as f64);
    }
    let n = |get: fn(&rampart_dataplane::counters::NormalizerCounters) -> u64| {
        sum(w.iter().map(|s| get(&s.counters.normalizer)))
    };
    for (action, v) in [
        ("reserved_bits_seen", n(|x| x.reserved_bits_seen)),
        ("syn_data_seen", n(|x| x.syn_data_seen)),
        ("exceed_mss_seen", n(|x| x.exceed_mss_seen)),
        ("urgent_cleared", n(|x| x.urgent_cleared)),
        ("options_cleared", n(|x| x.options_cleared)),
        ("reserved_bits_cleared", n(|x| x.reserved_bits_cleared)),
        ("ttl_clamped", n(|x| x.ttl_clamped)),
        ("seq_randomized_conns", n(|x| x.seq_randomized_conns)),
        ("mss_clamped", n(|x| x.mss_clamped)),
    ] {
        f.counter(&NORMALIZER, &[action], v);
    }
    f.counter(&TCP_STALE, &[], c(&|s| s.counters.tcp_stale_passed));
    f.counter(&TCP_IGNORED, &[], c(&|s| s.counters.tcp_ignored_passed));
    f.counter(&IDLE_RESETS, &[], c(&|s| s.counters.idle_resets_sent));
    for (event, v) in [
        ("probes_sent", c(&|s| s.counters.dcd.probes_sent)),
        ("kept", c(&|s| s.counters.dcd.kept)),
        ("dead", c(&|s| s.counters.dcd.dead)),
        ("deferred", c(&|s| s.counters.dcd.probes_deferred)),
    ] {
        f.counter(&DCD, &[event], v);
    }
    for (event, v) in [
        ("syn_cookies", c(&|s| s.counters.intercept.syn_cookies)),
        ("accepted", c(&|s| s.counters.intercept.accepted)),
        ("established", c(&|s| s.counters.intercept.established)),
        ("syn_resent", c(&|s| s.counters.intercept.syn_resent)),
        ("unexpected", c(&|s| s.counters.intercept.unexpected)),
    ] {
        f.counter(&TCP_INTERCEPT, &[event], v);
    }
    f.counter(&EFFECTS_DROPPED, &[], c(&|s| s.counters.effects_dropped));
    f.counter(
        &CONN_EVENTS_DROPPED,
        &[],
        c(&|s| s.counters.conn_events_dropped),
    );
    // Every engine gets every policy: the largest count is the node's.
    let swaps = w.iter().map(|s| s.counters.policy_swaps).max().unwrap_or(0);
    f.counter(&POLICY_SWAPS, &[], swaps);
    if w.iter().any(|s| s.io.is_some()) {
        let io = |get: IoGet| sum(w.iter().filter_map(|s| s.io.as_ref().map(get)));
        f.counter(&IO_TRUNCATED, &[], io(|x| x.truncated));
        for reason in TxDrop::ALL {
            let n = sum(w
                .iter()
                .filter_map(|s| s.io.as_ref().map(|x| x.send_drops[reason as usize])));
            f.counter(&IO_SEND_FAILED, &[reason.label()], n);
        }
        link_series(f, w);
        f.counter(&IO_CSUM, &[], io(|x| x.checksums_completed));
        f.counter(&IO_GSO, &[], io(|x| x.gso_frames));
        f.counter(&IO_KERNEL_DROPS, &[], io(|x| x.kernel_rx_drops));
        f.counter(&IO_KERNEL_FROZEN, &[], io(|x| x.kernel_rx_frozen));
        f.counter(&IO_BUSY_POLLS, &[], io(|x| x.busy_polls));
        let ring: [(&str, IoGet); 9] = [
            ("bad_slot", |x| x.ring_bad_slots),
            ("bad_slot_frames", |x| x.ring_bad_frames),
            ("no_vlan_room", |x| x.ring_no_vlan_room),
            ("tx_spilled", |x| x.ring_tx_spilled),
            ("rx_copied", |x| x.ring_rx_copied),
            ("copy_missing", |x| x.ring_copy_missing),
            ("copy_stale", |x| x.ring_copy_stale),
            ("tx_kick_failed", |x| x.tx_kick_errors),
            ("tx_stalled", |x| x.tx_stalled_kicks),
        ];
        for (event, get) in ring {
            f.counter(&IO_RING, &[event], io(get));
        }
        f.counter(&WORKER_HANDOFFS, &[], io(|x| x.handoffs));
        f.counter(&WORKER_HANDOFF_DROPPED, &[], io(|x| x.handoffs_dropped));
    }
    let syncs: Vec<&SyncCounters> = w.iter().filter_map(|s| s.sync.as_ref()).collect();
    if !syncs.is_empty() {
        let sc = |get: fn(&SyncCounters) -> u64| sum(syncs.iter().map(|s| get(s)));
        for k in EventKind::ALL {
            let i = k as usize;
            f.counter(
                &SYNC_SENT,
                &[k.label()],
                sum(syncs.iter().map(|s| s.events_out[i])),
            );
            f.counter(
                &SYNC_APPLIED,
                &[k.label()],
                sum(syncs.iter().map(|s| s.events_in[i])),
            );
        }
        for (outcome, v) in [
            ("joined", sc(|s| s.joined)),
            ("superseded", sc(|s| s.superseded)),
            ("stale", sc(|s| s.stale)),
            ("rejected", sc(|s| s.rejected)),
            ("bypass_conflict", sc(|s| s.bypass_conflicts)),
            ("unknown_class", sc(|s| s.unknown_class)),
            ("table_full", sc(|s| s.table_full)),
            ("expired_on_arrival", sc(|s| s.expired_on_arrival)),
            ("clock_clamped", sc(|s| s.clock_clamped)),
            ("window_clamped", sc(|s| s.window_clamped)),
            ("echo_absorbed", sc(|s| s.echo_absorbed)),
        ] {
            f.counter(&SYNC_MERGE, &[outcome], v);
        }
        f.counter(&HELD, &[], sc(|s| s.held));
        for (outcome, v) in [
            ("released", sc(|s| s.held_released)),
            ("refused", sc(|s| s.held_refused)),
            ("expired", sc(|s| s.held_expired)),
            ("overflow", sc(|s| s.hold_overflow)),
        ] {
            f.counter(&HELD_OUTCOMES, &[outcome], v);
        }
        for (share, v) in [
            ("source", sc(|s| s.hold_source_capped)),
            ("strangers", sc(|s| s.hold_strangers_capped)),
        ] {
            f.counter(&HOLD_CAPPED, &[share], v);
        }
        f.gauge(&HELD_NOW, &[], c(&|s| s.held_now) as f64);
        let mut waits = [0u64; HELD_WAIT_BOUNDS_US.len() + 1];
        for s in &syncs {
            for (w, n) in waits.iter_mut().zip(s.held_wait) {
                *w = w.saturating_add(n);
            }
        }
        let bounds: Vec<f64> = HELD_WAIT_BOUNDS_US
            .iter()
            .map(|&us| us as f64 / 1e6)
            .collect();
        let sum_ns = sc(|s| s.held_wait_sum_ns);
        f.histogram(&HELD_WAIT, &[], &bounds, &waits, sum_ns as f64 / 1e9);
        for (role, i) in [
            ("owner", ROLE_OWNER),
            ("director", ROLE_DIRECTOR),
            ("copy", ROLE_COPY),
        ] {
            let n: u64 = syncs.iter().map(|s| s.roles[i]).sum();
            f.gauge(&ROLE_ENTRIES, &[role], n as f64);
        }
        f.counter(&DEFERRED, &[], sc(|s| s.deferred));
        for (outcome, v) in [
            ("acked", sc(|s| s.deferred_acked)),
            ("timed_out", sc(|s| s.deferred_timed_out)),
            ("overflow", sc(|s| s.defer_overflow)),
        ] {
            f.counter(&DEFERRED_OUTCOMES, &[outcome], v);
        }
        f.gauge(&DEFERRED_NOW, &[], c(&|s| s.deferred_now) as f64);
        f.counter(&BULK_FLOWS_OUT, &[], sc(|s| s.bulk_flows_out));
        f.counter(&DELETES_SUPERSEDED, &[], sc(|s| s.deletes_superseded));
        f.counter(
            &CLUSTER_GUARDS,
            &["tombstones_evicted"],
            sc(|s| s.tombstones_evicted),
        );
        for (event, v) in [
            ("sent", sc(|s| s.pulls_sent)),
            ("repeated", sc(|s| s.pulls_repeated)),
            ("answered", sc(|s| s.pulls_answered)),
            ("missed", sc(|s| s.pulls_missed)),
            ("answered_late", sc(|s| s.pulls_answered_late)),
            ("park_overflow", sc(|s| s.pulls_park_overflow)),
            ("confirmed", sc(|s| s.pulls_confirmed)),
            ("confirm_missed", sc(|s| s.confirms_missed)),
        ] {
            f.counter(&PULLS, &[event], v);
        }
    }
}

fn cluster(f: &mut Families, snap: &NodeSnapshot) {
    let st = &snap.status;
    for p in &st.peers {
        let id = p.id.to_string();
        let peer = id.as_str();
        f.counter(&SYNC_PEER_SENT, &[peer], p.events_sent);
        f.counter(&SYNC_PEER_RECEIVED, &[peer], p.events_received);
        f.counter(&SYNC_PEER_BYTES_OUT, &[peer], p.bytes_out);
        f.counter(&SYNC_PEER_BYTES_IN, &[peer], p.bytes_in);
        f.gauge(&SYNC_UNACKED, &[peer], p.unacked_events as f64);
        for state in ["up", "down", "syncing"] {
            f.gauge(
                &PEER_STATE,
                &[peer, state],
                f64::from(u8::from(p.state == state)),
            );
        }
        f.gauge(&PEER_UP, &[peer], f64::from(u8::from(p.state == "up")));
        let l = &p.link;
        for (dir, datagrams, bytes) in [
            ("out", l.datagrams_out, l.bytes_out),
            ("in", l.datagrams_in, l.bytes_in),
        ] {
            f.counter(&LINK_DATAGRAMS, &[peer, dir], datagrams);
            f.counter(&LINK_BYTES, &[peer, dir], bytes);
        }
        f.counter(&LINK_LOST, &[peer], l.lost_packets);
        f.counter(&LINK_CONGESTION, &[peer], l.congestion_events);
        f.gauge(&LINK_RTT, &[peer], l.rtt_us as f64 / 1e6);
        let bounds: Vec<f64> = p.lag_bounds_us.iter().map(|&us| us as f64 / 1e6).collect();
        f.histogram(
            &SYNC_LAG,
            &[peer],
            &bounds,
            &p.lag_buckets,
            p.lag_sum_ns as f64 / 1e9,
        );
    }
    if let Some(s) = &st.sync {
        f.counter(&SYNC_BYTES_OUT, &[], s.bytes_out);
        f.counter(&SYNC_BYTES_IN, &[], s.bytes_in);
        f.counter(&BULK_RUNS, &["completed"], s.bulk_completed);
        f.counter(&BULK_RUNS, &["failed"], s.bulk_failed);
        f.counter(&BULK_REQUESTED, &[], s.bulk_requested);
        f.counter(&BULK_SERVED, &[], s.bulk_served);
        f.counter(&BULK_FLOWS, &[], s.bulk_flows_received);
        f.gauge(&BULK_LAST, &[], s.last_bulk_ms as f64 / 1e3);
        f.counter(&SYNC_GAPS, &[], s.gaps);
        f.counter(&SYNC_MALFORMED, &[], s.malformed);
        f.counter(&SYNC_RESENT, &[], s.batches_resent);
        for (event, v) in ["sent", "resent", "received"].iter().zip(s.datagrams) {
            f.counter(&SYNC_DATAGRAMS, &[event], v);
        }
        f.counter(&PULL_FORWARDS, &[], s.pulls_forwarded);
        f.counter(&REBALANCE, &["walks"], s.rebalances);
        f.counter(&REBALANCE, &["flows_sent"], s.rebalance_flows_sent);
        f.counter(&UNPLACED, &[], s.events_unplaced);
        for (limit, v) in &s.guards {
            f.counter(&CLUSTER_GUARDS, &[limit.as_str()], *v);
        }
        for (event, v) in &s.connects {
            f.counter(&CLUSTER_CONNECTS, &[event.as_str()], *v);
        }
        for (what, v) in &s.losses {
            f.counter(&SYNC_LOST, &[what.as_str()], *v);
        }
        for (reason, v) in &s.frames_refused {
            f.counter(&SYNC_FRAMES_REFUSED, &[reason.as_str()], *v);
        }
        for (reason, v) in &s.states_refused {
            f.counter(&SYNC_STATES_REFUSED, &[reason.as_str()], *v);
        }
        for (event, v) in &s.bulk_events {
            f.counter(&BULK_EVENTS, &[event.as_str()], *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::WorkerView;
    use crate::snapshot::WorkerSnapshot;
    use prometheus::Encoder as _;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::counters::BridgeCounters;
    use rampart_dataplane::{Engine, EngineConfig, Instant};

    /// One snapshot per worker, each of a fresh engine with `io` as its
    /// I/O counters.
    fn worker_snapshots(io: &[BridgeCounters]) -> Vec<WorkerSnapshot> {
        io.iter()
            .enumerate()
            .map(|(worker, io)| {
                let mut engine = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]))
                    .expect("engine");
                WorkerSnapshot::take(&WorkerView {
                    engine: &mut engine,
                    io: Some(io),
                    now: Instant::from_secs(1),
                    worker,
                })
            })
            .collect()
    }

    /// The text exposition of `snap`.
    fn text(snap: &NodeSnapshot) -> String {
        let mut f = Families::default();
        fill(&mut f, snap);
        let mut buf = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&f.into_vec(), &mut buf)
            .expect("valid families");
        String::from_utf8(buf).expect("utf-8")
    }

    /// Counters a review found kept and never exported: the tombstone
    /// limit's evictions (SECURITY.md names it as the limit's only sign)
    /// and TCP segments passed without checks.
    #[test]
    fn tombstone_evictions_and_unchecked_tcp_passes_are_exported() {
        let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
        cfg.sync = Some(rampart_dataplane::engine::sync::SyncConfig::default());
        let mut engine = Engine::new(cfg).expect("engine");
        let snap = WorkerSnapshot::take(&WorkerView {
            engine: &mut engine,
            io: None,
            now: Instant::from_secs(1),
            worker: 0,
        });
        let t = text(&NodeSnapshot {
            workers: vec![snap],
            ..NodeSnapshot::default()
        });
        let v = |name, labels: &[(&str, &str)]| super::super::text::sample(&t, name, labels);
        assert_eq!(
            v(
                "rampart_cluster_guard_total",
                &[("limit", "tombstones_evicted")]
            ),
            Some(0.0)
        );
        assert_eq!(
            v("rampart_tcp_ignored_passed_packets_total", &[]),
            Some(0.0)
        );
    }

    /// The MSS clamp (`sysopt connection tcpmss`, 1380 by default) counts
    /// each SYN it rewrote, summed over the workers, among the normalizer's
    /// actions.
    #[test]
    fn mss_clamps_are_exported_among_the_normalizer_actions() {
        use rampart_dataplane::packet::PacketMeta;
        use rampart_dataplane::trace::{TcpModel, v4_pair};
        let now = Instant::from_secs(1);
        let mut snaps = Vec::new();
        for worker in 0..2 {
            let mut engine =
                Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).expect("engine");
            let (c, s) = v4_pair(40_000 + worker as u16, 80);
            let mut m = TcpModel::new(c, s, [1, 2], [65_535, 65_535], [None, None]);
            let syn = m.syn();
            let mut f = m.frame(&syn);
            engine.process(&mut f, PacketMeta::default(), c.iface, now);
            snaps.push(WorkerSnapshot::take(&WorkerView {
                engine: &mut engine,
                io: None,
                now,
                worker,
            }));
        }
        let t = text(&NodeSnapshot {
            workers: snaps,
            ..NodeSnapshot::default()
        });
        let v = |action| {
            super::super::text::sample(
                &t,
                "rampart_tcp_normalizer_actions_total",
                &[("action", action)],
            )
        };
        assert_eq!(v("mss_clamped"), Some(2.0));
        assert_eq!(v("options_cleared"), Some(0.0));
    }

    /// Fragment reassembly per interface: a datagram assembled, one that
    /// failed (overlap), one waiting, summed over the workers.
    #[test]
    fn fragment_reassembly_is_exported_per_interface() {
        use rampart_dataplane::packet::PacketMeta;
        use rampart_dataplane::trace::{fragment_at, fragment_frame, udp_frame, v4_pair};
        let now = Instant::from_secs(1);
        let (c, s) = v4_pair(40_000, 5_000);
        let whole = udp_frame(&c, &s, &[9; 3_000]);
        let mut snaps = Vec::new();
        for worker in 0..2 {
            let mut engine =
                Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).expect("engine");
            let mut send = |mut f: Vec<u8>| {
                engine.process(&mut f, PacketMeta::default(), c.iface, now);
            };
            for f in fragment_frame(&whole, 1_480, 1) {
                send(f);
            }
            send(fragment_at(&whole, 34, &[0; 16], 0, true, 2));
            send(fragment_at(&whole, 34, &[0; 16], 8, true, 2));
            send(fragment_frame(&whole, 1_480, 3).remove(0));
            snaps.push(WorkerSnapshot::take(&WorkerView {
                engine: &mut engine,
                io: None,
                now,
                worker,
            }));
        }
        let t = text(&NodeSnapshot {
            workers: snaps,
            ..NodeSnapshot::default()
        });
        let v = |name, labels: &[(&str, &str)]| super::super::text::sample(&t, name, labels);
        let datagrams = "rampart_fragment_datagrams_total";
        let inside = ("interface", "inside");
        assert_eq!(v(datagrams, &[inside, ("outcome", "assembled")]), Some(2.0));
        assert_eq!(v(datagrams, &[inside, ("outcome", "failed")]), Some(2.0));
        assert_eq!(v("rampart_fragment_queued_fragments", &[inside]), Some(4.0));
        assert_eq!(v("rampart_fragment_overflow_total", &[inside]), Some(0.0));
        let outside = ("interface", "outside");
        assert_eq!(
            v(datagrams, &[outside, ("outcome", "assembled")]),
            Some(0.0)
        );
    }

    /// A GRE flow counts under `protocol="other"`, created and by entry
    /// kind, replied once its peer answered; the series exist from the
    /// start.
    #[test]
    fn other_ip_protocols_are_counted_as_other() {
        use rampart_dataplane::packet::PacketMeta;
        use rampart_dataplane::trace::{ip_frame, v4_pair};
        let mut engine =
            Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).expect("engine");
        let now = Instant::from_secs(1);
        let text_now = |engine: &mut Engine| {
            let snap = WorkerSnapshot::take(&WorkerView {
                engine,
                io: None,
                now,
                worker: 0,
            });
            text(&NodeSnapshot {
                workers: vec![snap],
                ..NodeSnapshot::default()
            })
        };
        let other = |t: &str, state| {
            let entries = super::super::text::sample(
                t,
                "rampart_conntrack_entries",
                &[
                    ("protocol", "other"),
                    ("state", state),
                    ("mode", "inspected"),
                ],
            );
            let created = super::super::text::sample(
                t,
                "rampart_connections_created_total",
                &[("protocol", "other")],
            );
            (entries, created)
        };
        let t = text_now(&mut engine);
        assert_eq!(other(&t, "replied"), (Some(0.0), Some(0.0)));
        let (c, s) = v4_pair(0, 0);
        let gre = [0, 0, 0x08, 0];
        for (from, to) in [(&c, &s), (&s, &c)] {
            let v = engine.process(
                &mut ip_frame(from, to, 47, &gre),
                PacketMeta::default(),
                from.iface,
                now,
            );
            assert!(
                matches!(v, rampart_dataplane::Verdict::Forward { .. }),
                "{v:?}"
            );
        }
        let t = text_now(&mut engine);
        assert_eq!(other(&t, "replied"), (Some(1.0), Some(1.0)));
        assert_eq!(other(&t, "unreplied").0, Some(0.0));
    }

    /// The shuns in force, and their drops under the reason `shunned`.
    #[test]
    fn shuns_in_force_and_their_drops_are_exported() {
        use rampart_dataplane::packet::PacketMeta;
        use rampart_dataplane::shun::{Shun, ShunScope, ShunTable};
        use rampart_dataplane::trace::{udp_frame, v4_pair};
        let mut engine =
            Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).expect("engine");
        let now = Instant::from_secs(1);
        let (c, s) = v4_pair(5000, 53);
        engine.set_shuns(std::sync::Arc::new(ShunTable::new(vec![Shun {
            source: c.ip,
            conn: None,
            scope: ShunScope::Any,
        }])));
        for _ in 0..2 {
            engine.process(
                &mut udp_frame(&c, &s, b"q"),
                PacketMeta::default(),
                c.iface,
                now,
            );
        }
        let snap = WorkerSnapshot::take(&WorkerView {
            engine: &mut engine,
            io: None,
            now,
            worker: 0,
        });
        let t = text(&NodeSnapshot {
            workers: vec![snap],
            ..NodeSnapshot::default()
        });
        let v = |name, labels: &[(&str, &str)]| super::super::text::sample(&t, name, labels);
        assert_eq!(v("rampart_shuns", &[]), Some(1.0));
        assert_eq!(
            v("rampart_drops_total", &[("reason", "shunned")]),
            Some(2.0)
        );
    }

    #[test]
    fn io_and_ring_counters_are_summed_over_workers() {
        let io = [
            BridgeCounters {
                kernel_rx_drops: 3,
                busy_polls: 10,
                ring_bad_slots: 1,
                ring_bad_frames: 4,
                ring_tx_spilled: 2,
                ring_rx_copied: 5,
                ..BridgeCounters::default()
            },
            BridgeCounters {
                kernel_rx_drops: 4,
                kernel_rx_frozen: 1,
                send_drops: {
                    let mut d = [0; rampart_dataplane::counters::TxDrop::COUNT];
                    d[rampart_dataplane::counters::TxDrop::RingFull as usize] = 6;
                    d
                },
                ring_copy_stale: 3,
                ring_rx_copied: 1,
                ring_copy_missing: 1,
                ring_no_vlan_room: 2,
                handoffs: 9,
                handoffs_dropped: 2,
                ..BridgeCounters::default()
            },
        ];
        let workers = worker_snapshots(&io);
        let t = text(&NodeSnapshot {
            workers,
            ..NodeSnapshot::default()
        });
        let v = |name, labels: &[(&str, &str)]| super::super::text::sample(&t, name, labels);
        assert_eq!(v("rampart_io_kernel_rx_drops_total", &[]), Some(7.0));
        assert_eq!(v("rampart_io_kernel_rx_ring_frozen_total", &[]), Some(1.0));
        assert_eq!(v("rampart_io_busy_polls_total", &[]), Some(10.0));
        assert_eq!(v("rampart_worker_handoffs_total", &[]), Some(9.0));
        assert_eq!(v("rampart_worker_handoff_dropped_total", &[]), Some(2.0));
        // A frame not sent counts once, by reason, and not as a ring event.
        assert_eq!(
            v("rampart_io_send_failures_total", &[("reason", "ring_full")]),
            Some(6.0)
        );
        assert_eq!(
            v("rampart_io_ring_events_total", &[("event", "tx_ring_full")]),
            None
        );
        for (event, want) in [
            ("bad_slot", 1.0),
            ("bad_slot_frames", 4.0),
            ("no_vlan_room", 2.0),
            ("copy_stale", 3.0),
            ("tx_spilled", 2.0),
            ("rx_copied", 6.0),
            ("copy_missing", 1.0),
        ] {
            assert_eq!(
                v("rampart_io_ring_events_total", &[("event", event)]),
                Some(want),
                "{event}"
            );
        }
    }

    #[test]
    fn a_link_change_counts_once_and_a_link_is_down_while_any_worker_sees_it() {
        use rampart_dataplane::counters::LinkCounts;
        let seen = |down, up, is_down| BridgeCounters {
            links: [
                LinkCounts {
                    down,
                    up,
                    gone: 0,
                    is_down,
                },
                LinkCounts::default(),
            ],
            ..BridgeCounters::default()
        };
        let io = [seen(2, 1, true), seen(2, 2, false)];
        let workers = worker_snapshots(&io);
        let inside = workers[0].interfaces[0].clone();
        let outside = workers[0].interfaces[1].clone();
        let t = text(&NodeSnapshot {
            workers,
            ..NodeSnapshot::default()
        });
        let v = |name, labels: &[(&str, &str)]| super::super::text::sample(&t, name, labels);
        let ev = |iface: &str, event| {
            v(
                "rampart_io_link_events_total",
                &[("interface", iface), ("event", event)],
            )
        };
        assert_eq!(ev(&inside, "down"), Some(2.0), "not 4: each worker saw it");
        assert_eq!(ev(&inside, "up"), Some(2.0));
        assert_eq!(ev(&outside, "down"), Some(0.0));
        assert_eq!(
            v("rampart_io_link_down", &[("interface", &inside)]),
            Some(1.0)
        );
        assert_eq!(
            v("rampart_io_link_down", &[("interface", &outside)]),
            Some(0.0)
        );
    }

    /// `rampart_class_connections_created_total{class}` of one engine.
    fn class_created(engine: &mut Engine) -> Option<f64> {
        let w = WorkerSnapshot::take(&WorkerView {
            engine,
            io: None,
            now: Instant::from_secs(10),
            worker: 0,
        });
        let t = text(&NodeSnapshot {
            workers: vec![w],
            ..NodeSnapshot::default()
        });
        super::super::text::sample(
            &t,
            "rampart_class_connections_created_total",
            &[("class", "p/web")],
        )
    }

    /// A policy that changes a class's options gives it a new slot; when
    /// the old slot's last connection leaves, its counts stay in the
    /// class's counter (they once left with it: the counter went down,
    /// which Prometheus reads as a restart).
    #[test]
    fn class_counters_do_not_go_down_when_an_old_slot_is_released() {
        use rampart_dataplane::packet::PacketMeta;
        use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
        let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(1), [9; 4])).expect("engine");
        let interfaces = eng.config().interfaces.clone();
        let policy = |max: u32| {
            let text = format!(
                "class-map web\n match port tcp eq 80\npolicy-map p\n class web\n  set connection conn-max {max}\nservice-policy p global\n"
            );
            let cfg = rampart_dataplane::policy::parse::parse_config(&text)
                .expect("parses")
                .config;
            std::sync::Arc::new(
                rampart_dataplane::policy::compile::compile(&cfg, &interfaces).expect("compiles"),
            )
        };
        eng.set_policy(policy(100)).expect("room");
        for port in 0..3u16 {
            let (c, s) = v4_pair(40_000 + port, 80);
            let mut m = TcpModel::new(c, s, [1, 2], [64_240, 65_160], [Some(7), Some(7)]);
            let syn = m.syn();
            let mut f = m.frame(&syn);
            eng.process(
                &mut f,
                PacketMeta::default(),
                m.iface(Side::Client),
                Instant::from_secs(5),
            );
        }
        let before = class_created(&mut eng);
        assert_eq!(before, Some(3.0));
        eng.set_policy(policy(200)).expect("room");
        assert_eq!(class_created(&mut eng), before);
        eng.clear_conns(|_| true);
        assert_eq!(class_created(&mut eng), before, "the old slot is gone");
    }
}
