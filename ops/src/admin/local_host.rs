//! `show local-host` over the workers (docs/asa-behaviour.md §3.5): the
//! walk `show conn` takes, slice by slice on every worker, within the same
//! budget and turn ([`super::walk`]), counting each slice's hosts on its
//! worker ([`hosts_in`]) and merging them here, bounded ([`HostTally`]).
//! The hosts' connections come in the same walk, unless the hosts are
//! chosen by their counts (`connection tcp 100`), known only once it ends:
//! then a second walk takes the chosen hosts' connections.

use std::sync::Arc;

use super::{Admin, walk};
use crate::backend::{LocalHostQuery, OpsError};
use crate::pool::EnginePool;
use crate::show_conn::{ConnFilter, collect_rows_in, collect_rows_where};
use crate::show_local_host::{HostTally, LocalHosts, host_keys, hosts_in};

impl<P: EnginePool> Admin<P> {
    /// `show local-host` on this node's workers.
    pub(super) fn walk_local_hosts(&self, q: &LocalHostQuery) -> Result<LocalHosts, OpsError> {
        let parts = self.each(|w| {
            let names: Vec<String> = w
                .engine
                .config()
                .interfaces
                .iter()
                .map(|i| i.nameif.clone())
                .collect();
            (w.engine.table().slot_count(), names)
        })?;
        let slots = parts.iter().map(|p| p.0).max().unwrap_or(0);
        let names = parts.into_iter().next().map(|p| p.1).unwrap_or_default();
        let max_rows = walk::max_rows(q.caller);
        let mut tally = HostTally::new(walk::max_hosts(q.caller));
        let mut rows = walk::Rows::default();
        // The rows of the hosts of `address` (all hosts without one) come
        // with their counts when no count chooses among them.
        let hosts = &q.hosts;
        let rows_now = !hosts.brief && !hosts.by_counts();
        let address = hosts.address;
        let _turn = self.walk_turn(q.caller, "show local-host")?;
        self.paced_slices(q.caller, slots, |range| {
            let got = self.each(move |w| {
                let found = hosts_in(w.engine, w.now, address, range.clone());
                let rows = if rows_now {
                    let only = ConnFilter::address_port(address, None);
                    collect_rows_in(w.engine, w.now, &only, w.worker, max_rows, range.clone())
                } else {
                    (Vec::new(), 0)
                };
                (found, rows)
            })?;
            for (found, (r, left_out)) in got {
                tally.add(found);
                rows.add(r, left_out);
            }
            rows.keep(max_rows);
            Ok(())
        })?;
        let (mut answer, chosen) = tally.finish(hosts, &names);
        if !hosts.brief && hosts.by_counts() && !chosen.is_empty() {
            let chosen = Arc::new(chosen);
            self.paced_slices(q.caller, slots, |range| {
                let chosen = chosen.clone();
                let got = self.each(move |w| {
                    let of_chosen = |e: &_| host_keys(e).iter().any(|k| chosen.contains(k));
                    collect_rows_where(
                        w.engine,
                        w.now,
                        of_chosen,
                        w.worker,
                        max_rows,
                        range.clone(),
                    )
                })?;
                for (r, left_out) in got {
                    rows.add(r, left_out);
                }
                rows.keep(max_rows);
                Ok(())
            })?;
        }
        (answer.conns, answer.conns_truncated) = (rows.conns, rows.truncated);
        Ok(answer)
    }
}
