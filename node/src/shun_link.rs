//! The shun list between the admin API and where it is kept
//! (docs/asa-behaviour.md §2.12): in a cluster, the policy log (every node
//! applies each change, and hands the list to its workers); without one,
//! the node's own list, lost at a restart as on the ASA.

use std::sync::{Arc, Mutex};

use rampart_cluster::raft::{
    ShunConn, ShunOp, ShunRecord, ShunScope, WriteError, shun_apply, shun_refusal,
};
use rampart_ops::admin::{Admin, ShunWriter};
use rampart_ops::backend::OpsError;
use rampart_ops::shun as ops;

use super::{CALL_MARGIN, RaftSide, block};

/// How often a shun list the workers did not take is handed to them again.
const SHUN_RETRY: std::time::Duration = std::time::Duration::from_millis(200);
use crate::control::Workers;

fn to_entry(r: &ShunRecord) -> ops::ShunEntry {
    ops::ShunEntry {
        source: r.source,
        conn: r.conn.map(|c| ops::ShunConn {
            dest: c.dest,
            sport: c.sport,
            dport: c.dport,
            proto: c.proto,
        }),
        scope: match &r.scope {
            ShunScope::Any => ops::ShunScope::Any,
            ShunScope::Interface(n) => ops::ShunScope::Interface(n.clone()),
            ShunScope::Vlan(v) => ops::ShunScope::Vlan(*v),
        },
        added_unix: r.added_unix,
    }
}

fn to_scope(s: &ops::ShunScope) -> ShunScope {
    match s {
        ops::ShunScope::Any => ShunScope::Any,
        ops::ShunScope::Interface(n) => ShunScope::Interface(n.clone()),
        ops::ShunScope::Vlan(v) => ShunScope::Vlan(*v),
    }
}

fn to_op(c: &ops::ShunChange) -> ShunOp {
    match c {
        ops::ShunChange::Add(e) => ShunOp::Add(ShunRecord {
            source: e.source,
            conn: e.conn.map(|c| ShunConn {
                dest: c.dest,
                sport: c.sport,
                dport: c.dport,
                proto: c.proto,
            }),
            scope: to_scope(&e.scope),
            added_unix: e.added_unix,
        }),
        ops::ShunChange::Remove { source, scope } => ShunOp::Remove {
            source: *source,
            scope: to_scope(scope),
        },
        ops::ShunChange::Clear => ShunOp::Clear,
    }
}

fn entries(list: &[ShunRecord]) -> Vec<ops::ShunEntry> {
    list.iter().map(to_entry).collect()
}

/// The writer of a node without a cluster: its own list.
pub fn local_shun_writer() -> ShunWriter {
    let list: Mutex<Vec<ShunRecord>> = Mutex::new(Vec::new());
    Box::new(move |change| {
        let op = to_op(change);
        let mut l = list
            .lock()
            .map_err(|_| OpsError::Unavailable("shun list poisoned".into()))?;
        if let Some(why) = shun_refusal(&l, &op) {
            return Err(OpsError::BadRequest(why));
        }
        shun_apply(&mut l, op);
        Ok(Some(entries(&l)))
    })
}

impl RaftSide {
    /// `shun` changes through the policy log.
    pub fn shun_writer(&self) -> ShunWriter {
        let me = self.clone();
        Box::new(move |change| {
            let raft = me.raft.clone();
            let op = to_op(change);
            let limit = me.write_timeout + CALL_MARGIN;
            match block(&me.runtime, limit, async move { raft.shun(op).await }) {
                Some(Ok(())) => Ok(None),
                Some(Err(WriteError::Invalid { message })) => Err(OpsError::BadRequest(message)),
                Some(Err(e)) if e.is_pending() => Err(OpsError::Pending(format!(
                    "{e} (the change may still take effect: rampart show shun tells)"
                ))),
                Some(Err(e)) => Err(OpsError::Cluster(e.to_string())),
                None => Err(OpsError::Pending(format!(
                    "the cluster did not answer within {limit:?}; the change may still take \
                     effect (rampart show shun tells)"
                ))),
            }
        })
    }

    /// The shun list the store holds, compiled for `ifaces`: what a
    /// restarted node's workers run from their first packet, before the
    /// list reaches them through [`follow_shuns`](Self::follow_shuns).
    pub fn stored_shun_table(
        &self,
        ifaces: &[rampart_dataplane::InterfaceConfig],
    ) -> Arc<rampart_dataplane::shun::ShunTable> {
        Arc::new(rampart_ops::admin::compile_shuns(
            &entries(&self.raft.shuns()),
            ifaces,
        ))
    }

    /// Hand every shun list the log applies to the workers through
    /// `admin`, the one in the store first (a restarted node).
    pub fn follow_shuns(&self, admin: Arc<Admin<Workers>>) {
        let mut rx = self.raft.subscribe_shuns();
        self.runtime.spawn(async move {
            let mut before: Vec<ShunRecord> = Vec::new();
            loop {
                let list = rx.borrow_and_update().clone();
                for r in list.iter().filter(|r| !before.contains(r)) {
                    tracing::warn!("Shun added: {}", describe(r));
                }
                for r in before.iter().filter(|r| !list.contains(r)) {
                    tracing::warn!("Shun deleted: {}", r.source);
                }
                // Until it is in force here, or a newer list replaces it.
                loop {
                    let admin = admin.clone();
                    let given = entries(&list);
                    match tokio::task::spawn_blocking(move || admin.set_shuns(given)).await {
                        Ok(Ok(n)) => {
                            if n > 0 {
                                tracing::info!("{n} connection(s) a new shun names removed here");
                            }
                            break;
                        }
                        Ok(Err(e)) => tracing::warn!(
                            "the shun list is not in force here yet ({e}); trying again"
                        ),
                        Err(e) => tracing::warn!("installing the shun list: {e}; trying again"),
                    }
                    if rx.has_changed().unwrap_or(true) {
                        break;
                    }
                    tokio::time::sleep(SHUN_RETRY).await;
                }
                before = list.to_vec();
                if rx.changed().await.is_err() {
                    break;
                }
            }
        });
    }
}

/// A shun as syslog 401002 words it: `SRC DST SPORT DPORT`.
fn describe(r: &ShunRecord) -> String {
    match r.conn {
        Some(c) => format!("{} {} {} {}", r.source, c.dest, c.sport, c.dport),
        None => format!("{} 0 0 0", r.source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_without_a_cluster_keeps_its_own_list_and_refuses_a_duplicate() {
        let w = local_shun_writer();
        let add = ops::ShunChange::Add(ops::ShunEntry {
            source: "198.18.0.10".parse().unwrap(),
            conn: Some(ops::ShunConn {
                dest: "198.18.0.20".parse().unwrap(),
                sport: 1,
                dport: 2,
                proto: 6,
            }),
            scope: ops::ShunScope::Vlan(3),
            added_unix: 5,
        });
        let list = w(&add).unwrap().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            ops::ShunChange::Add(list[0].clone()),
            add,
            "the entry round-trips"
        );
        assert!(matches!(w(&add), Err(OpsError::BadRequest(m)) if m.contains("already")));
        let remove = ops::ShunChange::Remove {
            source: "198.18.0.10".parse().unwrap(),
            scope: ops::ShunScope::Vlan(3),
        };
        assert_eq!(w(&remove).unwrap().unwrap(), vec![]);
        assert!(w(&remove).is_err());
        assert_eq!(w(&ops::ShunChange::Clear).unwrap().unwrap(), vec![]);
    }
}

#[cfg(test)]
mod concurrency {
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::{Engine, EngineConfig, Instant};
    use rampart_ops::backend::Backend as _;
    use rampart_ops::pool::LocalPool;

    /// A node without a cluster, `shun` commands given at once (several
    /// admin handler threads): every one answered "Shun added" must be
    /// in force on every worker and listed by `show shun`.
    #[test]
    fn concurrent_shuns_on_a_node_without_a_cluster_all_stay_in_force() {
        let engines = (0..2)
            .map(|_| Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap())
            .collect();
        let pool = Arc::new(LocalPool::new(engines, || Instant::from_secs(100)));
        let admin = Arc::new(
            Admin::new(pool.clone(), Box::new(Default::default))
                .with_shun_writer(local_shun_writer()),
        );
        const THREADS: usize = 8;
        const EACH: usize = 25;
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let admin = admin.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let line = format!("shun 198.18.{t}.{i}");
                        let done = admin.shun_command(&line).expect("shun");
                        assert!(done.message.starts_with("Shun added"), "{done:?}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let listed = admin.shun_list().unwrap().shuns.len();
        let per_worker: Vec<usize> = (0..2)
            .map(|i| pool.with(i, |e, _| e.shuns().shuns().len()).unwrap())
            .collect();
        eprintln!(
            "answered added: {}, listed: {listed}, per worker: {per_worker:?}",
            THREADS * EACH
        );
        assert_eq!(listed, THREADS * EACH, "show shun lost shuns");
        assert!(
            per_worker.iter().all(|n| *n == THREADS * EACH),
            "workers lost shuns: {per_worker:?}"
        );
    }
}
