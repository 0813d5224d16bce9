//! Every family Rampart exports (names `rampart_*`, counters end in
//! `_total`, units in names; labels are low-cardinality: interfaces,
//! verdicts, reasons, kinds, classes, peers, workers, never a flow).

use super::family::{Kind, Spec};

macro_rules! specs {
    ($( $id:ident = $name:literal, $kind:ident, [$($l:literal),*], $help:literal; )+) => {
        $(
            #[doc = $help]
            pub static $id: Spec = Spec {
                name: $name,
                help: $help,
                kind: Kind::$kind,
                labels: &[$($l),*],
            };
        )+
        /// All of them, for the registry's descriptors.
        pub static ALL: &[&Spec] = &[$(&$id),+];
    };
}

specs! {
    BUILD_INFO = "rampart_build_info", Gauge, ["version"], "Always 1; the version label says which build runs.";
    READY = "rampart_ready", Gauge, [], "1 when the node forwards: first bulk sync done (or alone) and a policy loaded.";
    WORKERS = "rampart_workers", Gauge, [], "Packet workers answering the exporter.";
    WORKERS_UNAVAILABLE = "rampart_workers_unavailable", Gauge, [], "1 when the workers did not answer this scrape in time (engine series are missing).";
    IFACE_PACKETS = "rampart_interface_packets_total", Counter, ["interface", "verdict"], "Frames received per ingress interface, by their verdict on arrival (forward, drop, hold). A held frame stays counted as hold: whether it left or was dropped later is in rampart_sync_held_outcomes_total, and its drop reason in rampart_drops_total, so the drops there can exceed verdict=drop here.";
    IFACE_BYTES = "rampart_interface_bytes_total", Counter, ["interface", "verdict"], "Bytes of frames received per ingress interface, by their verdict on arrival (as rampart_interface_packets_total).";
    WORKER_PACKETS = "rampart_worker_forwarded_packets_total", Counter, ["worker"], "Frames forwarded per worker (fanout balance).";
    DROPS = "rampart_drops_total", Counter, ["reason"], "Frames dropped, by reason (ASA asp-drop names where the ASA has one).";
    UNTRACKED = "rampart_untracked_passed_packets_total", Counter, [], "Frames passed untracked (ARP, IPv6 neighbour discovery).";
    ICMP_RELATED = "rampart_icmp_related_passed_packets_total", Counter, [], "ICMP errors passed because they quote a tracked connection.";
    ENTRIES = "rampart_conntrack_entries", Gauge, ["protocol", "state", "mode"], "Live connection entries by protocol, state and mode (bypass or inspected).";
    CAPACITY = "rampart_conntrack_capacity_entries", Gauge, [], "Connection table capacity (sum over workers).";
    HIGH_WATER = "rampart_conntrack_high_water_entries", Gauge, [], "Most entries in use at once (sum of each worker's high-water mark).";
    WORKER_ENTRIES = "rampart_worker_conntrack_entries", Gauge, ["worker"], "Entries in use per worker.";
    CREATED = "rampart_connections_created_total", Counter, ["protocol"], "Connections this node created, by protocol (copies of peers' connections count under rampart_sync_events_applied_total{kind=\"insert\"}).";
    BYPASS_CREATED = "rampart_bypass_connections_created_total", Counter, [], "tcp-state-bypass connections created (also counted under tcp).";
    REMOVED = "rampart_connections_removed_total", Counter, ["reason"], "Connections that left the table, by reason (copies of peers' connections included).";
    CLASS_CREATED = "rampart_class_connections_created_total", Counter, ["class", "scope"], "Connection setups per class (policy-map/class; default: no class) and where its policy-map is applied (global, or interface NAME).";
    CLASS_LIMIT = "rampart_class_limit_drops_total", Counter, ["class", "scope"], "Connections refused by a class's limits (conn-max, per-client-max, embryonic).";
    CLASS_CONNS = "rampart_class_connections", Gauge, ["class", "scope"], "Live connections per class.";
    CLASS_EMBRYONIC = "rampart_class_embryonic_connections", Gauge, ["class", "scope"], "Live embryonic connections per class.";
    NORMALIZER = "rampart_tcp_normalizer_actions_total", Counter, ["action"], "What the TCP normalizer, sequence randomization and the MSS clamp (sysopt connection tcpmss) did.";
    TCP_STALE = "rampart_tcp_stale_passed_packets_total", Counter, [], "TCP segments passed as stale retransmissions.";
    TCP_IGNORED = "rampart_tcp_ignored_passed_packets_total", Counter, [], "TCP segments passed without checks or a change of state: a SYN outside the window of a live connection, a challenge ACK, a straggler after a reset.";
    IDLE_RESETS = "rampart_idle_resets_sent_total", Counter, [], "RSTs sent for timeout idle ... reset expiries.";
    DCD = "rampart_dcd_total", Counter, ["event"], "Dead connection detection (set connection timeout dcd): probes_sent toward connections' ends, kept (both ends answered), dead (an end left its probes unanswered: the connection was removed), deferred (found idle while the most a worker probes at once were probed).";
    TCP_INTERCEPT = "rampart_tcp_intercept_total", Counter, ["event"], "TCP Intercept past a class's half-open limit (embryonic-conn-max, per-client-embryonic-max): syn_cookies (SYNs answered with a SYN cookie), accepted (clients' ACKs of a valid cookie: SYN sent to the server), established (servers' SYN-ACKs acknowledged by the firewall), syn_resent (the SYN to a silent server sent again), unexpected (segments found while the server had not answered, once each: dropped, or in a cluster held until a peer's state lets them pass).";
    EFFECTS_DROPPED = "rampart_effects_dropped_total", Counter, [], "Engine effects dropped because the shell did not take them in time.";
    CONN_EVENTS_DROPPED = "rampart_conn_log_events_dropped_total", Counter, [], "Connection log events dropped because the bounded queue was full.";
    POLICY_SWAPS = "rampart_policy_swaps_total", Counter, [], "Policies swapped into the engines (per engine; the same on every worker).";
    TIME_RANGE_CHECK_FAILURES = "rampart_time_range_check_failures_total", Counter, [], "Looks at the clock for a time-range boundary that panicked; the next look, a second later, is made all the same (docs/asa-behaviour.md section 2.10).";
    POLICY_VERSION = "rampart_policy_version", Gauge, [], "Running-config version (0: security levels only).";
    IO_TRUNCATED = "rampart_io_truncated_frames_total", Counter, [], "Frames larger than a receive buffer, dropped by the I/O layer.";
    IO_SEND_FAILED = "rampart_io_send_failures_total", Counter, ["reason"], "Frames forwarded by the engine that did not leave, by reason (each counted once): ring_full, link_down, too_big, tagged_too_big (a full-size 802.1ad frame), no_buffers, refused, no_egress.";
    IO_LINK_EVENTS = "rampart_io_link_events_total", Counter, ["interface", "event"], "Changes of a data interface's link: down, up, gone (deleted); the most any worker saw.";
    IO_LINK_DOWN = "rampart_io_link_down", Gauge, ["interface"], "1 while a data interface is down or deleted (as any worker sees it).";
    IO_CSUM = "rampart_io_checksums_completed_total", Counter, [], "Partial checksums completed before sending.";
    IO_GSO = "rampart_io_gso_frames_total", Counter, [], "GSO super-packets forwarded whole (PACKET_VNET_HDR).";
    IO_KERNEL_DROPS = "rampart_io_kernel_rx_drops_total", Counter, [], "Frames the kernel dropped before a worker read them (receive ring or buffer full; PACKET_STATISTICS, read every table sweep).";
    IO_KERNEL_FROZEN = "rampart_io_kernel_rx_ring_frozen_total", Counter, [], "Times a receive ring was frozen with every block in user space.";
    IO_BUSY_POLLS = "rampart_io_busy_polls_total", Counter, [], "Worker loop turns that polled again without sleeping ([dataplane] busy_poll_us).";
    IO_RING = "rampart_io_ring_events_total", Counter, ["event"], "Packet-ring events: bad_slot (a ring header not trusted), bad_slot_frames (frames lost with it), no_vlan_room, tx_spilled (a frame larger than a transmit slot, sent), rx_copied (larger than a receive slot), copy_missing, copy_stale (whole frames thrown away: their slot went back without them), tx_kick_failed (a transmit-ring kick the kernel refused; its frames stay queued), tx_stalled (a kick after which the oldest queued slot was not taken). A frame not sent counts in rampart_io_send_failures_total, not here.";
    SHUNS = "rampart_shuns", Gauge, [], "Shuns in force on this node (shun; docs/asa-behaviour.md section 2.12). The packets they drop count in rampart_drops_total{reason=\"shunned\"}.";
    FRAGMENT_DATAGRAMS = "rampart_fragment_datagrams_total", Counter, ["interface", "outcome"], "Fragmented IP datagrams by interface of arrival and outcome: assembled (all fragments in, then judged as one packet), failed (dropped whole: overlap, too many fragments, timeout, a tiny first fragment, too long; docs/asa-behaviour.md section 2.8), or evicted (given up, with its fragments, to make room in a full fragment database for a newer datagram).";
    FRAGMENT_OVERFLOW = "rampart_fragment_overflow_total", Counter, ["interface"], "Fragments dropped because their interface's fragment database was full (fragment size fragments waiting) or the engine's fragment memory was, and held no older datagram to give up.";
    FRAGMENT_QUEUED = "rampart_fragment_queued_fragments", Gauge, ["interface"], "Fragments waiting for the rest of their datagram now, by interface of arrival (what fragment size bounds; a datagram dropped whole holds one place until its timeout).";
    WORKER_HANDOFFS = "rampart_worker_handoffs_total", Counter, [], "Reassembled IP datagrams and ICMP errors a worker handed to the worker that owns their flow (the kernel spreads fragments and ICMP errors by their own addresses alone; docs/io.md section 9).";
    WORKER_HANDOFF_DROPPED = "rampart_worker_handoff_dropped_total", Counter, [], "Reassembled IP datagrams (with their fragments) and ICMP errors dropped because the worker that owns their flow could not take them (its hand-off queue full, or it had stopped).";
    SYNC_SENT = "rampart_sync_events_sent_total", Counter, ["kind"], "Sync events produced for peers, by kind (bypass flows never produce any).";
    SYNC_APPLIED = "rampart_sync_events_applied_total", Counter, ["kind"], "Peers' sync events applied to the engines, by kind.";
    SYNC_MERGE = "rampart_sync_merge_outcomes_total", Counter, ["outcome"], "What peers' states did on arrival (joined, superseded, stale, rejected, ...).";
    SYNC_PEER_SENT = "rampart_sync_peer_events_sent_total", Counter, ["peer"], "Sync events sent to each peer.";
    SYNC_PEER_RECEIVED = "rampart_sync_peer_events_received_total", Counter, ["peer"], "Sync events received from each peer.";
    SYNC_PEER_BYTES_OUT = "rampart_sync_peer_sent_bytes_total", Counter, ["peer"], "Bytes of sync frames sent to each peer.";
    SYNC_PEER_BYTES_IN = "rampart_sync_peer_received_bytes_total", Counter, ["peer"], "Bytes of sync frames received from each peer.";
    SYNC_BYTES_OUT = "rampart_sync_sent_bytes_total", Counter, [], "Bytes of sync frames sent.";
    SYNC_BYTES_IN = "rampart_sync_received_bytes_total", Counter, [], "Bytes of sync frames received.";
    SYNC_LAG = "rampart_sync_replication_lag_seconds", Histogram, ["peer"], "Replication lag of event batches: first send to the peer's acknowledgement.";
    SYNC_UNACKED = "rampart_sync_peer_unacked_events", Gauge, ["peer"], "Sync events waiting for each peer's acknowledgement.";
    PEER_STATE = "rampart_sync_peer_state", Gauge, ["peer", "state"], "1 for each peer's current state (up, down, syncing).";
    PEER_UP = "rampart_sync_peer_up", Gauge, ["peer"], "1 if the peer is up.";
    LINK_DATAGRAMS = "rampart_cluster_link_datagrams_total", Counter, ["peer", "direction"], "UDP datagrams of the QUIC connection to each peer (sync frames, sync datagrams and Raft share it), by direction (out, in).";
    LINK_BYTES = "rampart_cluster_link_bytes_total", Counter, ["peer", "direction"], "UDP bytes of the QUIC connection to each peer (headers and encryption included), by direction (out, in).";
    LINK_LOST = "rampart_cluster_link_lost_packets_total", Counter, ["peer"], "Packets to each peer QUIC declared lost (what they carried was sent again).";
    LINK_CONGESTION = "rampart_cluster_link_congestion_events_total", Counter, ["peer"], "Congestion events on the connection to each peer (QUIC cut its sending rate).";
    LINK_RTT = "rampart_cluster_link_rtt_seconds", Gauge, ["peer"], "Smoothed round-trip time of the connection to each peer (0 while none is up).";
    HELD = "rampart_sync_held_packets_total", Counter, [], "Packets held for a peer's state.";
    HOLD_CAPPED = "rampart_sync_hold_capped_total", Counter, ["share"], "Packets not held for a peer's state (counted in the overflow outcome) because a share of the buffer was full: their source's (an IPv6 source by its /64), or the half for flows with no entry here.";
    HELD_OUTCOMES = "rampart_sync_held_outcomes_total", Counter, ["outcome"], "What became of held packets (released, refused, expired, overflow).";
    HELD_NOW = "rampart_sync_held_packets", Gauge, [], "Packets held now.";
    HELD_WAIT = "rampart_sync_held_wait_seconds", Histogram, [], "How long held packets that passed waited for their flow's state, pushed by a peer or pulled (docs/sync.md section 4).";
    ROLE_ENTRIES = "rampart_conntrack_role_entries", Gauge, ["role"], "Entries in the table by this node's role for them (docs/sync.md section 13): owner (it saw the flow's first packet), director (it directs the flow and does not own it), copy (another node's flow).";
    DEFERRED = "rampart_sync_deferred_packets_total", Counter, [], "Flow-opening packets deferred until a peer acknowledged the insert.";
    DEFERRED_OUTCOMES = "rampart_sync_deferred_outcomes_total", Counter, ["outcome"], "What became of deferred packets (acked, timed_out, overflow).";
    DEFERRED_NOW = "rampart_sync_deferred_packets", Gauge, [], "Packets deferred now.";
    BULK_RUNS = "rampart_sync_bulk_runs_total", Counter, ["result"], "Bulk syncs this node received, by result (completed, failed).";
    BULK_REQUESTED = "rampart_sync_bulk_requested_total", Counter, [], "Bulk syncs this node requested.";
    BULK_SERVED = "rampart_sync_bulk_served_total", Counter, [], "Bulk syncs served to peers.";
    BULK_FLOWS = "rampart_sync_bulk_flows_received_total", Counter, [], "Flows received in bulk.";
    BULK_FLOWS_OUT = "rampart_sync_bulk_flows_sent_total", Counter, [], "Flows handed out for peers' bulk syncs.";
    PULLS = "rampart_sync_pulls_total", Counter, ["event"], "Pulls of a flow's state (docs/sync.md section 13): sent and repeated by this node's held packets; peers' pulls answered, missed (waiting for the state), answered late, refused for want of room; answered briefly (confirmed); brief answers this node's copy did not match (confirm_missed).";
    PULL_FORWARDS = "rampart_sync_pulls_forwarded_total", Counter, [], "Peers' pulls this node passed on to nodes more likely to hold the flow.";
    REBALANCE = "rampart_sync_rebalance_total", Counter, ["what"], "Changes of the live members (walks) and flows sent to the nodes that must now hold them.";
    DELETES_SUPERSEDED = "rampart_sync_deletes_superseded_total", Counter, [], "Deletes not sent for a connection reopened on its tuple: every peer that held it got the new connection's insert, which supersedes it.";
    UNPLACED = "rampart_sync_events_unplaced_total", Counter, [], "Events no peer up or known was to hold (every such node was down).";
    BULK_LAST = "rampart_sync_bulk_last_duration_seconds", Gauge, [], "Duration of the last completed incoming bulk sync.";
    SYNC_GAPS = "rampart_sync_gaps_total", Counter, [], "Gaps in a peer's batch numbers that forced a bulk resync.";
    SYNC_MALFORMED = "rampart_sync_malformed_frames_total", Counter, [], "Sync frames refused as malformed (by reason in rampart_sync_frames_refused_total).";
    SYNC_FRAMES_REFUSED = "rampart_sync_frames_refused_total", Counter, ["reason"], "Peers' sync frames refused whole, by reason: malformed (empty, other_version, too_large, undecodable, trailing_bytes, batch_too_large, state_holders_mismatch, pull_digests_mismatch, tcp_state_code, vlan_id) or out of protocol (unknown_peer, hello_other_node, before_hello, datagram_not_events, batch_number_end, ack_never_sent, pull_unknown_origin, bulk_view_lacks_asker, bulk_copies, bulk_view_unknown, hello_twice); docs/sync.md section 5.";
    SYNC_STATES_REFUSED = "rampart_sync_states_refused_total", Counter, ["reason"], "Peers' flow states the engines refused before the merge, by reason: key_order, proto_mismatch, interface, tcp_state, tcp_window, tcp_edge, tcp_syn_seen (docs/sync.md section 3).";
    BULK_EVENTS = "rampart_sync_bulk_events_total", Counter, ["event"], "Bulk sync events beyond runs: incomplete (its end counted other flows than arrived; failed), peer_skipped (ready without a peer whose bulks failed twice), request_ignored (a peer asked again while its dump ran), backoff (a failed bulk's peer asked again only after a backoff), view_narrowed (a peer's request served over the part of its view this node knows); docs/sync.md section 6.";
    CLUSTER_GUARDS = "rampart_cluster_guard_total", Counter, ["limit"], "Peers' input refused, or held back, by each of the node's limits (identity, frame size, byte budgets, protocol).";
    CLUSTER_CONNECTS = "rampart_cluster_link_connections_total", Counter, ["event"], "Connection events of the cluster links: up, down, dial_failed, wake_sent (this node asked a lower-id peer to dial it now), wake_received, replaced_send_dropped (a sync frame or datagram meant for a connection a newer one had replaced, dropped; docs/sync.md section 5), rpc_failed (a Raft or clear-conn call of this node that failed: not connected, timed out, refused, bad reply).";
    SYNC_LOST = "rampart_sync_lost_total", Counter, ["what"], "Sync traffic lost on this node's side, each repaired by a bulk resync or a pull: events_dropped and pulls_dropped (batches the worker-to-link bridge could not hand over), send_failed (frames the transport refused to queue), local_losses (events the protocol could not keep for a peer), resend_overflow (batches dropped from a full resend buffer), stalls (times this node found it had been stopped, e.g. frozen, and resynced before forwarding); docs/sync.md section 5.";
    SYNC_RESENT = "rampart_sync_batches_resent_total", Counter, [], "Event batches resent after a reconnection.";
    SYNC_DATAGRAMS = "rampart_sync_datagrams_total", Counter, ["event"], "Datagram copies of event batches: sent (with the stream copy, while the link is lossy), resent (a batch unacked in time), received.";
    RAFT_TERM = "rampart_raft_term", Gauge, [], "Raft current term.";
    RAFT_LEADER = "rampart_raft_leader", Gauge, [], "Node id of the Raft leader (absent when none is known).";
    RAFT_HAS_LEADER = "rampart_raft_has_leader", Gauge, [], "1 when a Raft leader is known.";
    RAFT_RUNNING = "rampart_raft_running", Gauge, [], "1 while this node's Raft core runs; 0 once it has ended (a fatal storage error, a panic): the node then takes no part in the policy log until it is restarted, and forwards on the policy in force (show cluster says why).";
    RAFT_REMOVED = "rampart_raft_removed", Gauge, [], "1 when this node knows it was removed from the cluster (rampart cluster remove): it neither campaigns nor dials the members, knows no leader, and is not ready (docs/ops.md); a cluster join of its id takes it back.";
    RAFT_IS_LEADER = "rampart_raft_is_leader", Gauge, [], "1 when this node is the Raft leader.";
    RAFT_COMMIT = "rampart_raft_commit_index", Gauge, [], "Highest committed Raft log index.";
    RAFT_APPLIED = "rampart_raft_applied_index", Gauge, [], "Highest applied Raft log index.";
    SYSLOG_MESSAGES = "rampart_syslog_messages_total", Counter, ["result"], "ASA syslog messages, by result (logged, suppressed by the rate limit).";
    SYSLOG_UDP_ERRORS = "rampart_syslog_udp_send_errors_total", Counter, [], "RFC 5424 datagrams the socket refused.";
    SYSLOG_POLLS_LATE = "rampart_syslog_polls_late_total", Counter, [], "Polls of the workers' connection events that some worker did not answer in time (its events are taken at a later poll; none are lost).";
    HTTP_REFUSED = "rampart_ops_http_refused_total", Counter, ["listener", "reason"], "Connections and requests the ops listeners refused or cut, by listener and reason (limits, timeouts, Host, token).";
    LISTENER_UP = "rampart_ops_listener_up", Gauge, ["listener"], "1 when a configured ops listener holds its address; 0 while it cannot bind it (another process may hold the port) and tries again every 2 s.";
    LISTENER_BIND_FAILURES = "rampart_ops_listener_bind_failures_total", Counter, ["listener"], "Failed attempts to bind an ops listener's address.";
    ANSWER_BYTES_HELD = "rampart_ops_answer_bytes_held", Gauge, ["listener"], "Bytes of answers an ops listener holds that their readers have not taken yet (those without the admin token are bounded at 64 MiB).";
    RESERVED_IN_USE = "rampart_ops_reserved_slots_in_use", Gauge, ["listener"], "Connection slots reserved for the admin token in use (taken when every other slot was busy).";
    HANDLERS_WAITING = "rampart_ops_handlers_waiting", Gauge, ["listener"], "Requests without the admin token waiting for one of the listener's three handler permits.";
}
