//! The node's shun list (docs/asa-behaviour.md §2.12): the list in force
//! here, compiled for the workers against this node's interfaces, and
//! the `shun` commands. A change goes to the node's [`ShunWriter`] (the
//! cluster's log, or the node's own list without a cluster); the node
//! hands every list in force to [`Admin::set_shuns`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_dataplane::iface::InterfaceConfig;
use rampart_dataplane::shun::{
    Shun as EngineShun, ShunConn as EngineConn, ShunScope as EngineScope, ShunTable,
};
use rampart_dataplane::verdict::IfaceId;

use super::Admin;
use crate::backend::OpsError;
use crate::pool::EnginePool;
use crate::shun::{
    ShunChange, ShunCommand, ShunDone, ShunEntry, ShunIface, ShunList, ShunRow, ShunScope,
    parse_command,
};

/// Where a shun change goes: `Ok(Some(list))` when the node applied it
/// to its own list (no cluster), the list now; `Ok(None)` when the
/// cluster committed it (the node then hands the list to
/// [`Admin::set_shuns`]); an error when it was refused or not committed.
pub type ShunWriter =
    Box<dyn Fn(&ShunChange) -> Result<Option<Vec<ShunEntry>>, OpsError> + Send + Sync>;

/// The shun list in force on this node.
#[derive(Debug, Default)]
pub(super) struct Shuns {
    /// In the order the shuns were added.
    list: Vec<ShunEntry>,
    /// Connections each shun added since the node started removed here
    /// when it came in force, by source and scope (what a `shun` given on
    /// this node answers once its change is in force here).
    removed: HashMap<(IpAddr, ShunScope), u64>,
    /// The node's interfaces, once known.
    ifaces: Option<Vec<InterfaceConfig>>,
}

/// The node's shun state and the lock one `shun` command holds from its
/// change to its install, so that two at once cannot install their lists
/// in the other order (the older list last, a shun answered as added lost).
#[derive(Debug, Default)]
pub(super) struct ShunSide {
    state: Mutex<Shuns>,
    one_command: Mutex<()>,
}

/// How often a `shun` on a cluster node looks for the change in force
/// here before it answers.
const SHUN_POLL: Duration = Duration::from_millis(10);

/// The engine's form of `e`, or `None` when it names an interface `ifaces`
/// lacks (it applies nowhere here).
fn engine_shun(e: &ShunEntry, ifaces: &[InterfaceConfig]) -> Option<EngineShun> {
    let scope = match &e.scope {
        ShunScope::Any => EngineScope::Any,
        ShunScope::Vlan(v) => EngineScope::Vlan(*v),
        ShunScope::Interface(name) => {
            let i = ifaces.iter().position(|i| i.nameif == *name)?;
            EngineScope::Interface(IfaceId(u8::try_from(i).ok()?))
        }
    };
    Some(EngineShun {
        source: e.source,
        conn: e.conn.map(|c| EngineConn {
            dest: c.dest,
            sport: c.sport,
            dport: c.dport,
            proto: c.proto,
        }),
        scope,
    })
}

/// The table the workers run for `list` on a node with `ifaces` (a shun
/// naming an interface the node lacks is left out: it applies nowhere
/// here).
pub fn compile_shuns(list: &[ShunEntry], ifaces: &[InterfaceConfig]) -> ShunTable {
    ShunTable::new(list.iter().filter_map(|e| engine_shun(e, ifaces)).collect())
}

/// A shun's identity in an engine's table: its source and scope.
fn key(s: &EngineShun) -> (IpAddr, EngineScope) {
    (s.source, s.scope)
}

/// Whether `list` shows `change` done.
fn done(list: &[ShunEntry], change: &ShunChange) -> bool {
    match change {
        ShunChange::Add(e) => list
            .iter()
            .any(|s| s.source == e.source && s.scope == e.scope),
        ShunChange::Remove { source, scope } => !list
            .iter()
            .any(|s| s.source == *source && s.scope == *scope),
        ShunChange::Clear => list.is_empty(),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<P: EnginePool> Admin<P> {
    /// Send `shun` changes to `writer` (the cluster's log, or the node's
    /// own list).
    pub fn with_shun_writer(mut self, writer: ShunWriter) -> Self {
        self.shun_writer = Some(writer);
        self
    }

    /// The node's interfaces (they never change while it runs: asked of
    /// the workers once).
    fn interfaces(&self) -> Result<Vec<InterfaceConfig>, OpsError> {
        if let Some(i) = self.shuns.state.lock().ok().and_then(|s| s.ifaces.clone()) {
            return Ok(i);
        }
        let i = self
            .each(|w| w.engine.config().interfaces.clone())?
            .into_iter()
            .next()
            .ok_or_else(|| OpsError::Unavailable("no packet workers".into()))?;
        if let Ok(mut s) = self.shuns.state.lock() {
            s.ifaces = Some(i.clone());
        }
        Ok(i)
    }

    /// Put `list` in force on every worker (a worker that does not take
    /// it at once takes it from the install retry), and remove on every
    /// worker the connection each newly added shun names. Returns how
    /// many connections that removed.
    pub fn set_shuns(&self, list: Vec<ShunEntry>) -> Result<u64, OpsError> {
        let ifaces = self.interfaces()?;
        let st = self
            .shuns
            .state
            .lock()
            .map_err(|_| OpsError::Unavailable("shun state poisoned".into()))?;
        let new: Vec<ShunEntry> = list
            .iter()
            .filter(|e| !st.list.contains(e))
            .cloned()
            .collect();
        let added: Vec<(ShunEntry, EngineShun)> = new
            .iter()
            .filter(|e| e.conn.is_some())
            .filter_map(|e| Some((e.clone(), engine_shun(e, &ifaces)?)))
            .collect();
        let table = Arc::new(compile_shuns(&list, &ifaces));
        drop(st);
        let generation = self.want(|w| w.shuns = Some(table))?;
        self.install_or_retry(generation, "the shun list");
        let shuns: Arc<Vec<EngineShun>> = Arc::new(added.iter().map(|a| a.1).collect());
        let per_worker = if shuns.is_empty() {
            Vec::new()
        } else {
            self.each(move |w| {
                shuns
                    .iter()
                    .map(|s| w.engine.clear_shunned(s) as u64)
                    .collect::<Vec<u64>>()
            })?
        };
        // The list changes only now, with what the new shuns removed: a
        // `shun` waiting for its change here reads both together.
        let mut total = 0;
        let mut st = self
            .shuns
            .state
            .lock()
            .map_err(|_| OpsError::Unavailable("shun state poisoned".into()))?;
        // What each shun removed is of its own adding only: a shun added
        // again after `no shun` starts from none.
        st.removed.retain(|(source, scope), _| {
            list.iter()
                .any(|e| e.source == *source && e.scope == *scope)
        });
        for e in &new {
            st.removed.insert((e.source, e.scope.clone()), 0);
        }
        for (i, (e, _)) in added.iter().enumerate() {
            let n: u64 = per_worker.iter().filter_map(|w| w.get(i)).sum();
            st.removed.insert((e.source, e.scope.clone()), n);
            total += n;
        }
        st.list = list;
        Ok(total)
    }

    /// The shuns in force here, in the order they were added.
    fn shun_entries(&self) -> Result<Vec<ShunEntry>, OpsError> {
        self.shuns
            .state
            .lock()
            .map(|s| s.list.clone())
            .map_err(|_| OpsError::Unavailable("shun state poisoned".into()))
    }

    /// `shun …`, `no shun …`, `clear shun [statistics]`.
    pub(super) fn shun_command_here(&self, line: &str) -> Result<ShunDone, OpsError> {
        let change = match parse_command(line, unix_now()).map_err(OpsError::BadRequest)? {
            ShunCommand::ClearStatistics => {
                self.each(|w| w.engine.clear_shun_stats())?;
                return Ok(ShunDone {
                    message: "shun statistics cleared on this node".into(),
                    removed: 0,
                });
            }
            ShunCommand::Change(c) => c,
        };
        let writer = self
            .shun_writer
            .as_ref()
            .ok_or_else(|| OpsError::BadRequest("this node keeps no shun list".into()))?;
        let _one = self
            .shuns
            .one_command
            .lock()
            .map_err(|_| OpsError::Unavailable("shun state poisoned".into()))?;
        let before = self.shun_entries()?;
        let removed = match writer(&change)? {
            Some(list) => self.set_shuns(list)?,
            None => {
                // Committed: in force here once the node applies it.
                let deadline = std::time::Instant::now() + self.local_wait;
                while !done(&self.shun_entries()?, &change) {
                    if std::time::Instant::now() >= deadline {
                        return Ok(ShunDone {
                            message: "committed by the cluster; not yet in force on this node"
                                .into(),
                            removed: 0,
                        });
                    }
                    std::thread::sleep(SHUN_POLL);
                }
                match &change {
                    ShunChange::Add(e) => self
                        .shuns
                        .state
                        .lock()
                        .ok()
                        .and_then(|s| s.removed.get(&(e.source, e.scope.clone())).copied())
                        .unwrap_or(0),
                    _ => 0,
                }
            }
        };
        let message = match &change {
            ShunChange::Add(e) => format!("Shun added: {}", e.source),
            ShunChange::Remove { source, .. } => format!("Shun deleted: {source}"),
            ShunChange::Clear => format!("{} shun(s) deleted", before.len()),
        };
        Ok(ShunDone { message, removed })
    }

    /// `show shun [statistics]`: every shun in force here with this
    /// node's counts (summed over its workers).
    pub(super) fn shun_list_here(&self) -> Result<ShunList, OpsError> {
        let list = self.shun_entries()?;
        let counts = self.each(|w| {
            let table = w.engine.shuns().clone();
            let hits = w.engine.shun_hits().to_vec();
            let ifaces = w.engine.shun_iface_drops().to_vec();
            (table, hits, ifaces)
        })?;
        let ifaces = self.interfaces()?;
        let mut by_key: HashMap<(IpAddr, EngineScope), u64> = HashMap::new();
        let mut per_iface = vec![0u64; ifaces.len()];
        for (table, hits, drops) in &counts {
            for (s, n) in table.shuns().iter().zip(hits) {
                *by_key.entry(key(s)).or_default() += n;
            }
            for (total, n) in per_iface.iter_mut().zip(drops) {
                *total += n;
            }
        }
        let compiled: Vec<Option<EngineShun>> =
            list.iter().map(|e| engine_shun(e, &ifaces)).collect();
        let interfaces = ifaces
            .iter()
            .enumerate()
            .map(|(i, iface)| ShunIface {
                name: iface.nameif.clone(),
                on: compiled.iter().flatten().any(|s| match s.scope {
                    EngineScope::Interface(IfaceId(at)) => usize::from(at) == i,
                    EngineScope::Any | EngineScope::Vlan(_) => true,
                }),
                dropped: per_iface[i],
            })
            .collect();
        let shuns = list
            .into_iter()
            .zip(compiled)
            .map(|(shun, c)| ShunRow {
                dropped: c
                    .as_ref()
                    .and_then(|s| by_key.get(&key(s)))
                    .copied()
                    .unwrap_or(0),
                inactive: c.is_none(),
                shun,
            })
            .collect();
        Ok(ShunList {
            shuns,
            interfaces,
            now_unix: unix_now(),
        })
    }
}

/// The shun state a new [`Admin`] starts with.
pub(super) fn new_state() -> ShunSide {
    ShunSide::default()
}
