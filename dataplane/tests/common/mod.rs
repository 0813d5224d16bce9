//! What the sync tests' engines share: one way to build a node.

use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::sync::SyncConfig;
use rampart_dataplane::{Engine, EngineConfig};

/// Node `id` of a cluster, inside/outside interfaces, with sync on (an
/// opening packet deferred at most `defer`), `peers` peers up and its
/// first bulk done (ready).
pub fn synced_node(id: u16, defer: Duration, peers: usize) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(id), [u64::from(id), 2, 3, 4]);
    cfg.sync = Some(SyncConfig {
        defer_deadline: defer,
        ..SyncConfig::default()
    });
    let mut e = Engine::new(cfg).expect("valid config");
    e.set_peers_up(peers);
    e.set_ready(true);
    e
}
