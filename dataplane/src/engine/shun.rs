//! Shunning (docs/asa-behaviour.md §2.12): the check every IP frame
//! meets first, its counts, and the removal of the connection a shun
//! names.

use std::net::IpAddr;
use std::sync::Arc;

use super::Engine;
use super::connlog::ConnEvent;
use crate::conntrack::Entry;
use crate::counters::VerdictKind;
use crate::flow::proto;
use crate::packet::ip_addrs;
use crate::shun::{Shun, ShunScope, ShunTable};
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId, Verdict};

/// The shun list a worker runs, and what it dropped.
#[derive(Debug, Default)]
pub(super) struct Shunning {
    table: Arc<ShunTable>,
    /// Packets dropped per shun, in the table's order.
    hits: Vec<u64>,
    /// Packets dropped by any shun per ingress interface.
    per_iface: Vec<u64>,
    /// Whether any shun is in force: the packet path's one test, kept
    /// here so that it reads no further than the engine.
    any: bool,
}

impl Shunning {
    /// Whether no shun is in force (the packet path's one test then).
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        !self.any
    }

    /// Whether a shun covers `source` arriving on `ingress` in `vlan`.
    pub(super) fn covers(&self, source: IpAddr, ingress: IfaceId, vlan: u16) -> bool {
        self.table.lookup(source, ingress, vlan).is_some()
    }
}

/// Whether `e` is the connection `s` names: its two ends are the shun's
/// source and port and its other end and port, either way round, of its
/// protocol (0: any), on its VLAN when the shun has one. A protocol
/// without ports (ICMP, GRE, ESP, …) is named with ports 0, whatever its
/// entry keeps in their place (an echo flow, its identifier).
fn named(e: &Entry, s: &Shun) -> bool {
    let Some(c) = s.conn else {
        return false;
    };
    let proto = e.key.proto;
    let ports = proto::has_ports(proto);
    if !ports && (c.sport, c.dport) != (0, 0) {
        return false;
    }
    let port = |p: u16| if ports { p } else { 0 };
    let (lo, hi) = (e.key.lo, e.key.hi);
    let ends = [(lo.addr.ip(), port(lo.port)), (hi.addr.ip(), port(hi.port))];
    let (from, to) = ((s.source, c.sport), (c.dest, c.dport));
    let vlan = e.key.vlan;
    (ends == [from, to] || ends == [to, from])
        && (c.proto == 0 || c.proto == proto)
        && match s.scope {
            ShunScope::Vlan(v) => v == vlan,
            ShunScope::Any | ShunScope::Interface(_) => true,
        }
}

impl Engine {
    /// Run `table` from now on. Each shun in both the old table and this
    /// one (same source and scope) keeps its count.
    pub fn set_shuns(&mut self, table: Arc<ShunTable>) {
        let old = &self.shunning;
        let hits = table
            .shuns()
            .iter()
            .map(|s| {
                old.table
                    .shuns()
                    .iter()
                    .position(|o| o.source == s.source && o.scope == s.scope)
                    .and_then(|i| old.hits.get(i).copied())
                    .unwrap_or(0)
            })
            .collect();
        self.shunning.hits = hits;
        self.shunning.any = !table.is_empty();
        self.shunning.table = table;
    }

    /// The shun list in force.
    pub fn shuns(&self) -> &Arc<ShunTable> {
        &self.shunning.table
    }

    /// Packets each shun dropped, in the order of
    /// [`shuns`](Self::shuns)`().shuns()`.
    pub fn shun_hits(&self) -> &[u64] {
        &self.shunning.hits
    }

    /// Packets shuns dropped per ingress interface (by index; an
    /// interface past the end has dropped none).
    pub fn shun_iface_drops(&self) -> &[u64] {
        &self.shunning.per_iface
    }

    /// `clear shun statistics`: zero the counts.
    pub fn clear_shun_stats(&mut self) {
        self.shunning.hits.iter_mut().for_each(|n| *n = 0);
        self.shunning.per_iface.clear();
    }

    /// Remove the connection `shun` names (as `clear conn` does: no RST),
    /// in either direction; none when it names none. Returns how many.
    pub fn clear_shunned(&mut self, shun: &Shun) -> usize {
        if shun.conn.is_none() {
            return 0;
        }
        self.clear_conns(|e| named(e, shun))
    }

    /// The shun verdict of a frame that arrived on `ingress`, when a shun
    /// covers its source: dropped and counted.
    #[cold]
    #[inline(never)]
    pub(super) fn shun_drop(
        &mut self,
        frame: &[u8],
        ingress: IfaceId,
        now: Instant,
    ) -> Option<Verdict> {
        self.shunned(frame, ingress, 1, now)?;
        self.counters
            .count_frame(usize::from(ingress.0), VerdictKind::Drop, frame.len());
        Some(Verdict::Drop(DropReason::Shunned))
    }

    /// Whether a shun covers `frame` (standing for `frames` frames: a
    /// held datagram's fragments) that arrived on `ingress`; if so, its
    /// drops are counted (all but the per-interface frame count, which a
    /// frame that waited had on arrival) and logged. A held frame meets
    /// this again before it is judged after its wait: a shun added
    /// meanwhile covers it too.
    pub(super) fn shunned(
        &mut self,
        frame: &[u8],
        ingress: IfaceId,
        frames: u64,
        now: Instant,
    ) -> Option<()> {
        if self.shunning.is_empty() {
            return None;
        }
        let (src, dst, vlan) = ip_addrs(frame)?;
        let i = self.shunning.table.lookup(src, ingress, vlan)?;
        if let Some(n) = self.shunning.hits.get_mut(i) {
            *n = n.saturating_add(frames);
        }
        let at = usize::from(ingress.0);
        if self.shunning.per_iface.len() <= at {
            self.shunning.per_iface.resize(at + 1, 0);
        }
        self.shunning.per_iface[at] = self.shunning.per_iface[at].saturating_add(frames);
        let d = &mut self.counters.drops[DropReason::Shunned.index()];
        *d = d.saturating_add(frames);
        self.log_shunned(src, dst, ingress, now);
        Some(())
    }

    /// Syslog 401004 of a shunned packet, within the log's capacity.
    fn log_shunned(&mut self, src: IpAddr, dst: IpAddr, ingress: IfaceId, at: Instant) {
        if self.conn_log.on() {
            self.push_conn_event(ConnEvent::Shunned {
                src,
                dst,
                ingress,
                at,
            });
        }
    }
}
