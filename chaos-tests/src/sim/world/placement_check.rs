//! The placement invariant at quiescence (docs/sync.md §13).

use std::collections::BTreeMap;

use rampart_dataplane::conntrack::TcpState;
use rampart_dataplane::sync::{FlowState, SyncProto};

use super::{Ordered, World, masked};

impl World {
    /// Where flows live at quiescence (docs/sync.md §13): of the live
    /// incarnation of each flow, at least `copies` nodes (or every node,
    /// if fewer) hold the whole merged state; the nodes on the flow's
    /// current path that hold a whole copy of it hold exactly that; its
    /// director holds it. A passive copy may hold an older state (it was
    /// made for pulls, or its node was on the path before the path moved):
    /// a packet on it waits for a pull before it is judged.
    pub(super) fn check_placement(
        &mut self,
        tables: &[BTreeMap<Ordered, (FlowState, u64, u64)>],
        settled: impl Fn(&Ordered) -> bool,
    ) {
        let placement = self.placement();
        let copies = placement.copies().min(self.nodes.len());
        // The latest flow on each key gives its current path. A flow a
        // fault overlapped may leave a node on its path with an older
        // whole copy (a change it missed while cut off, or a newer
        // incarnation raced in): the next packet that copy fails waits
        // and pulls, so only undisturbed flows are held to this.
        let mut path: BTreeMap<Ordered, Option<[usize; 2]>> = BTreeMap::new();
        for f in &self.flows {
            let disturbed = self
                .spans
                .iter()
                .any(|(s, e, _, _)| e.is_none_or(|e| e >= f.started) && *s <= self.now);
            path.insert(Ordered::of(&f.key), (!disturbed).then_some(f.path));
        }
        let keys: std::collections::BTreeSet<Ordered> =
            tables.iter().flat_map(|t| t.keys().copied()).collect();
        for k in keys.into_iter().filter(|k| settled(k)) {
            let held: Vec<(usize, FlowState)> = tables
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.get(&k).map(|(s, _, _)| (i, *s)))
                .collect();
            let Some(inc) = held.iter().map(|(_, s)| s.inc).max() else {
                continue;
            };
            let mut merged: Option<FlowState> = None;
            for (_, s) in held.iter().filter(|(_, s)| s.inc == inc) {
                match &mut merged {
                    Some(m) => m.join(s),
                    None => merged = Some(*s),
                }
            }
            let merged = masked(&merged.expect("one at least"));
            // A connection that is over may linger on nodes that never
            // heard of a newer one on its tuple: its entry is short-lived
            // and a packet on it waits for a pull (docs/sync.md §13).
            if matches!(merged.proto, SyncProto::Tcp(t) if matches!(t.state, TcpState::TimeWait | TcpState::Close))
            {
                continue;
            }
            let full: Vec<usize> = held
                .iter()
                .filter(|(i, s)| {
                    masked(s) == merged
                        && self.nodes[*i].engine.is_passive_copy(&s.key) == Some(false)
                })
                .map(|(i, _)| *i)
                .collect();
            if full.len() < copies {
                let others: Vec<String> = held
                    .iter()
                    .filter(|(i, _)| !full.contains(i))
                    .map(|(i, s)| {
                        let kind = match self.nodes[*i].engine.is_passive_copy(&s.key) {
                            Some(true) => "passive",
                            _ => "whole",
                        };
                        let same = if masked(s) == merged { "same" } else { "other" };
                        format!("n{i} {kind} {same}")
                    })
                    .collect();
                self.violations.push(format!(
                    "{merged:?} is held whole by {} node(s) ({full:?}), not {copies} (also: {others:?})",
                    full.len()
                ));
            }
            for &i in path.get(&k).copied().flatten().iter().flatten() {
                if let Some((_, s)) = held.iter().find(|(n, _)| *n == i)
                    && s.inc == inc
                    && masked(s) != merged
                    && self.nodes[i].engine.is_passive_copy(&s.key) == Some(false)
                {
                    self.violations.push(format!(
                        "n{i}, on the path of {:?}, holds {s:?}, not the merged {merged:?}",
                        merged.key
                    ));
                }
            }
            let director = placement.director(&merged.key).map(|d| usize::from(d) - 1);
            if let Some(d) = director
                && !held.iter().any(|(n, s)| *n == d && s.inc == inc)
            {
                self.violations.push(format!(
                    "n{d}, the director of {:?}, does not hold it",
                    merged.key
                ));
            }
        }
    }
}
