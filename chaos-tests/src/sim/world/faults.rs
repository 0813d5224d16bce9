//! Faults: striking nodes and links, the spans that excuse drops, and
//! the flows a crash may lose (docs/simulator.md).

use super::*;

impl World {
    fn open_span(&mut self, what: String, end: Option<u64>, struck: &[usize]) -> usize {
        self.log(format!("FAULT {what}"));
        self.stats.faults.push(what.clone());
        let mask = struck.iter().fold(0u64, |m, &i| m | 1 << i);
        self.spans.push((self.now, end, what, mask));
        self.spans.len() - 1
    }

    /// The nodes flow `f` involves, a bit per node index: every node its
    /// packets crossed or its path names, and the first `copies + 1`
    /// its key ranks among all nodes (its director and copies, and the
    /// node that takes over when one of them leaves).
    pub(super) fn involved(&self, f: usize) -> u64 {
        let flow = &self.flows[f];
        let placement = self.placement();
        let ranked = placement.ranked(&flow.key);
        let holders = ranked
            .iter()
            .take(placement.copies() + 1)
            .map(|&id| usize::from(id) - 1);
        flow.seen
            .iter()
            .chain(&flow.path)
            .copied()
            .chain(holders)
            .fold(0u64, |m, i| m | 1 << i)
    }

    pub(super) fn fault(&mut self, fault: Fault) {
        let n = self.nodes.len();
        let running = self.nodes.iter().filter(|x| x.running()).count();
        match fault {
            Fault::Crash(i, down) | Fault::Freeze(i, down) => {
                // Keep one node running; a fault on a stopped node is moot.
                if running < 2 || !self.nodes[i].running() {
                    return;
                }
                let crash = matches!(fault, Fault::Crash(..));
                let what = format!(
                    "{} n{i} for {} ms",
                    if crash { "crash" } else { "freeze" },
                    down.as_millis()
                );
                let until = self.now + down.as_nanos() as u64;
                if crash {
                    self.mark_at_risk(i);
                    let span = self.open_span(what, None, &[i]);
                    self.restarting.push((i, span));
                    self.nodes[i].alive = false;
                    let t = self.nodes[i].totals();
                    let tally = &mut self.tally[i];
                    tally.retired.forwarded += t.forwarded;
                    tally.retired.dropped += t.dropped;
                    tally.seen_retired.forwarded += tally.forwarded;
                    tally.seen_retired.dropped += tally.dropped;
                    tally.forwarded = 0;
                    tally.dropped = 0;
                    self.push(until, Ev::Restart(i));
                } else {
                    self.open_span(what, Some(until + SETTLE), &[i]);
                    self.nodes[i].frozen_until = Some(until);
                    self.push(until, Ev::Thaw(i));
                }
                for j in (0..n).filter(|&j| j != i) {
                    let li = self.net.index(i, j);
                    let l = &mut self.net.links[li];
                    if crash {
                        l.down_seen[l.side(i)] = true;
                        if let Some(conn) = l.conn.take() {
                            l.dead_conn = Some(conn);
                            self.push(
                                self.now + IDLE,
                                Ev::PeerDown {
                                    node: j,
                                    peer: i,
                                    conn,
                                },
                            );
                        }
                    } else if let Some(conn) = l.conn {
                        self.push(self.now + IDLE, Ev::IdleClose { link: li, conn });
                    }
                }
                self.move_paths_off(i);
            }
            Fault::Partition(a, b, d) => {
                let until = self.now + d.as_nanos() as u64;
                self.open_span(
                    format!("partition n{a}-n{b} for {} ms", d.as_millis()),
                    Some(until + SETTLE),
                    &[a, b],
                );
                let li = self.net.index(a, b);
                self.net.links[li].partitioned = true;
                // Overlapping partitions of one link end with the last.
                self.net.links[li].heal_at = self.net.links[li].heal_at.max(until);
                if let Some(conn) = self.net.links[li].conn {
                    self.push(self.now + IDLE, Ev::IdleClose { link: li, conn });
                }
                self.push(until, Ev::Heal(li));
            }
            Fault::Reset(a, b) => {
                self.open_span(format!("reset n{a}-n{b}"), Some(self.now + SETTLE), &[a, b]);
                let li = self.net.index(a, b);
                self.close_link(li);
            }
            Fault::Spike(a, b, d, extra) => {
                let until = self.now + d.as_nanos() as u64;
                self.open_span(
                    format!(
                        "delay +{} ms n{a}-n{b} for {} ms",
                        extra.as_millis(),
                        d.as_millis()
                    ),
                    Some(until + SETTLE),
                    &[a, b],
                );
                let l = self.net.link(a, b);
                l.spike = extra;
                l.spike_until = until;
            }
        }
    }

    /// Flows whose latest state no live node but the dying node `i` holds
    /// whole may be lost (a passive copy may lag, and is not counted):
    /// flows whose packets crossed `i`, and flows `i` held a whole copy
    /// of (a backup's death within a holder's failure detection time
    /// after the owner's leaves no whole copy).
    fn mark_at_risk(&mut self, i: usize) {
        let now = self.now;
        for f in 0..self.flows.len() {
            let flow = &self.flows[f];
            if flow.at_risk || !flow.kind.synced() {
                continue;
            }
            let key = flow.key;
            if !flow.seen.contains(&i) && self.nodes[i].engine.is_passive_copy(&key) != Some(false)
            {
                continue;
            }
            let Some(mine) = self.nodes[i].state_of(&key, now) else {
                continue;
            };
            let mut safe = false;
            for j in 0..self.nodes.len() {
                if j != i && self.nodes[j].alive {
                    safe |= self.nodes[j]
                        .state_of(&key, now)
                        .is_some_and(|s| same(&s, &mine))
                        && self.nodes[j].engine.is_passive_copy(&key) == Some(false);
                }
            }
            if !safe {
                self.flows[f].at_risk = true;
                self.log(format!(
                    "flow {f} at risk: n{i} dies with state no peer has"
                ));
            }
        }
    }
}
