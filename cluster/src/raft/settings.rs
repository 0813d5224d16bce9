//! Every Raft limit, named with its unit, and the openraft `Config`
//! built from them.

use std::time::Duration;

use openraft::SnapshotPolicy;

use crate::transport::RPC_MAX_MESSAGE_BYTES;

/// The largest config text accepted (bytes). ASA running configs run to
/// hundreds of KiB; a log entry is one config, and an append carries at
/// most [`RaftSettings::max_payload_entries`] of them in one RPC.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// The largest snapshot a member may send (bytes): a snapshot is one
/// policy text, a few fields and the shun list. A chunk that would write past this is
/// refused before openraft sees it, since openraft seeks to the chunk's
/// offset in an in-memory buffer and a hostile offset would grow it
/// without bound.
pub const MAX_SNAPSHOT_BYTES: u64 =
    MAX_POLICY_BYTES as u64 + (64 << 10) + super::shuns::MAX_SHUN_LIST_BYTES;

/// Bytes of one snapshot chunk on the wire: a snapshot is one policy, so
/// one chunk nearly always carries it whole.
pub const SNAPSHOT_CHUNK_BYTES: u64 = 4 << 20;

/// How long a log purge waits for the snapshot install that covers it
/// (`store.rs`): an install is one policy and one fsync, done in well
/// under a second; a purge still waiting after this fails, which stops
/// Raft on this node rather than purge entries its state machine lacks.
pub(super) const SNAPSHOT_INSTALL_WAIT: Duration = Duration::from_secs(60);

/// How often the write path looks for a leader while there is none.
pub(super) const LEADER_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long a hello (before founding, or to a candidate) waits for its
/// answer.
pub(super) const HELLO_TIMEOUT: Duration = Duration::from_millis(500);

/// What the origin of a forwarded request keeps back from its own budget
/// so that the leader's answer (or "no quorum") still arrives in time.
pub(super) const FORWARD_MARGIN: Duration = Duration::from_millis(200);

/// How long before a membership change's deadline the leader stops
/// waiting for a learner to catch up, so that its refusal ("has not
/// caught up ... is it running, and is its address right?") reaches the
/// caller before the caller's own timeout does.
pub(super) const CATCH_UP_REPLY_MARGIN: Duration = Duration::from_secs(1);

/// How long a node whose forwarded removal lost its answer waits for
/// evidence that it committed (it applies it, or, removing itself, is
/// told within the transport's close grace of one second) before asking
/// the leader again.
pub(super) const REMOVAL_EVIDENCE_WAIT: Duration = Duration::from_secs(3);

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// openraft refused the derived config.
    #[error("raft settings: {0}")]
    Openraft(String),
    /// A value that breaks a rule here.
    #[error("raft settings: {0}")]
    Rule(String),
}

/// The Raft settings of a node. Defaults suit a LAN cluster.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    /// How often the leader sends heartbeats. openraft also uses it as
    /// the timeout of every append-entries RPC, so an append with a
    /// follower's fsync must fit in it.
    pub heartbeat_interval: Duration,
    /// Shortest time without a leader before a follower campaigns. At
    /// least 10× an fsync and more than twice the heartbeat interval.
    pub election_timeout_min: Duration,
    /// Longest (each follower draws between the two).
    pub election_timeout_max: Duration,
    /// Timeout of one snapshot chunk RPC, including the follower's
    /// install.
    pub install_snapshot_timeout: Duration,
    /// Log entries since the last snapshot that trigger a new one.
    pub snapshot_logs_since_last: u64,
    /// Entries already in a snapshot that are kept in the log (so a
    /// briefly absent follower catches up from the log, not a snapshot).
    pub max_in_snapshot_log_to_keep: u64,
    /// Entries in one append-entries RPC.
    pub max_payload_entries: u64,
    /// How long a write waits for a leader and a commit before it is
    /// refused as "no quorum".
    pub write_timeout: Duration,
    /// How long the leader waits for a majority to confirm it is still
    /// the leader before it proposes a write.
    pub quorum_check_timeout: Duration,
    /// How long a node about to found a cluster asks its configured peers
    /// whether they already hold one (a founder whose data directory was
    /// lost must rejoin its cluster, not found another). Peers that never
    /// answer in this time are taken to be new.
    pub found_grace: Duration,
    /// How long a membership change (including a learner's catch-up)
    /// may take.
    pub membership_timeout: Duration,
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(500),
            election_timeout_max: Duration::from_millis(1000),
            install_snapshot_timeout: Duration::from_secs(2),
            snapshot_logs_since_last: 100,
            max_in_snapshot_log_to_keep: 20,
            // 8 × MAX_POLICY_BYTES stays under the 16 MiB RPC limit.
            max_payload_entries: 8,
            write_timeout: Duration::from_secs(5),
            quorum_check_timeout: Duration::from_secs(1),
            membership_timeout: Duration::from_secs(30),
            // Over the transport's longest redial backoff (2 s).
            found_grace: Duration::from_secs(3),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RaftSettings {
    /// The openraft config, checked.
    pub fn openraft_config(&self) -> Result<openraft::Config, SettingsError> {
        let entries = usize::try_from(self.max_payload_entries).unwrap_or(usize::MAX);
        if self.max_payload_entries == 0
            || entries.saturating_mul(MAX_POLICY_BYTES) >= RPC_MAX_MESSAGE_BYTES
        {
            return Err(SettingsError::Rule(format!(
                "max_payload_entries {} × {MAX_POLICY_BYTES} bytes must be under the \
                 {RPC_MAX_MESSAGE_BYTES}-byte RPC limit",
                self.max_payload_entries
            )));
        }
        if self.election_timeout_min <= self.heartbeat_interval * 2 {
            return Err(SettingsError::Rule(format!(
                "election_timeout_min ({} ms) must exceed twice the heartbeat interval ({} ms)",
                ms(self.election_timeout_min),
                ms(self.heartbeat_interval)
            )));
        }
        if self.snapshot_logs_since_last == 0 {
            return Err(SettingsError::Rule(
                "snapshot_logs_since_last must be at least 1".into(),
            ));
        }
        let cfg = openraft::Config {
            cluster_name: "rampart".into(),
            heartbeat_interval: ms(self.heartbeat_interval),
            election_timeout_min: ms(self.election_timeout_min),
            election_timeout_max: ms(self.election_timeout_max),
            install_snapshot_timeout: ms(self.install_snapshot_timeout),
            max_payload_entries: self.max_payload_entries,
            // A follower further behind than this gets a snapshot: more
            // than the entries between snapshots, as openraft requires.
            replication_lag_threshold: self.snapshot_logs_since_last.saturating_mul(2),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_logs_since_last),
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            max_in_snapshot_log_to_keep: self.max_in_snapshot_log_to_keep,
            ..Default::default()
        };
        cfg.validate()
            .map_err(|e| SettingsError::Openraft(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_accepted_and_rules_refuse_bad_values() {
        let c = RaftSettings::default().openraft_config().expect("defaults");
        assert_eq!(c.heartbeat_interval, 100);
        assert_eq!(c.snapshot_policy, SnapshotPolicy::LogsSinceLast(100));

        let s = RaftSettings {
            election_timeout_min: Duration::from_millis(150),
            ..RaftSettings::default()
        };
        assert!(matches!(s.openraft_config(), Err(SettingsError::Rule(_))));
        let s = RaftSettings {
            election_timeout_max: Duration::from_millis(400),
            ..RaftSettings::default()
        };
        assert!(matches!(
            s.openraft_config(),
            Err(SettingsError::Openraft(_))
        ));
        let s = RaftSettings {
            max_payload_entries: 64,
            ..RaftSettings::default()
        };
        assert!(matches!(s.openraft_config(), Err(SettingsError::Rule(_))));
    }
}
