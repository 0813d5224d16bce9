//! Plain counters the engine keeps on the packet path; the ops crate reads
//! them at scrape time (STYLE.md habit 4: the per-packet path never touches a
//! metrics registry). All additions saturate.

use crate::conntrack::TcpState;
use crate::verdict::DropReason;

/// Protocol families of tracked connections, for per-protocol counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnProto {
    /// TCP.
    Tcp = 0,
    /// UDP.
    Udp = 1,
    /// ICMP / ICMPv6 echo.
    Icmp = 2,
}

impl ConnProto {
    /// All, in counter order.
    pub const ALL: [ConnProto; 3] = [ConnProto::Tcp, ConnProto::Udp, ConnProto::Icmp];
    /// Label.
    pub const fn label(self) -> &'static str {
        match self {
            ConnProto::Tcp => "tcp",
            ConnProto::Udp => "udp",
            ConnProto::Icmp => "icmp",
        }
    }
}

/// Why a connection left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// Idle (or embryonic, half-closed, …) timeout.
    Timeout = 0,
    /// A SYN reused the tuple of a finished connection.
    Reopen = 1,
    /// A RST ended a tcp-state-bypass connection (with `bypass_rst_teardown`).
    Reset = 2,
    /// `clear conn`.
    Cleared = 3,
    /// A peer's delete event (clear conn or reopen on that node).
    Peer = 4,
    /// A peer's newer incarnation of the tuple replaced it.
    Superseded = 5,
}

impl RemoveReason {
    /// All, in counter order.
    pub const ALL: [RemoveReason; 6] = [
        RemoveReason::Timeout,
        RemoveReason::Reopen,
        RemoveReason::Reset,
        RemoveReason::Cleared,
        RemoveReason::Peer,
        RemoveReason::Superseded,
    ];
    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();
    /// Label.
    pub const fn label(self) -> &'static str {
        match self {
            RemoveReason::Timeout => "timeout",
            RemoveReason::Reopen => "reopen",
            RemoveReason::Reset => "reset",
            RemoveReason::Cleared => "cleared",
            RemoveReason::Peer => "peer",
            RemoveReason::Superseded => "superseded",
        }
    }
}

/// Add one, saturating (STYLE.md habit 6: counters never wrap silently).
#[inline]
pub fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}

/// What the TCP normalizer did (spec/asa.md §6.1 defaults), and sequence
/// randomization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizerCounters {
    /// Segments with reserved header bits set (allowed, as the ASA default).
    pub reserved_bits_seen: u64,
    /// SYNs carrying data (allowed, as the ASA default).
    pub syn_data_seen: u64,
    /// Segments with more payload than the receiver's announced MSS
    /// (`exceed-mss allow`, the ASA default: counted, passed).
    pub exceed_mss_seen: u64,
    /// Segments whose URG flag and urgent pointer were cleared.
    pub urgent_cleared: u64,
    /// TCP options (kinds 6, 7, 9–255) overwritten with NOPs.
    pub options_cleared: u64,
    /// Packets whose TTL was lowered to the connection's minimum.
    pub ttl_clamped: u64,
    /// Connections given a sequence-randomization offset.
    pub seq_randomized_conns: u64,
}

/// The engine's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Drops, indexed by [`DropReason::index`].
    pub drops: [u64; DropReason::COUNT],
    /// Frames forwarded.
    pub forwarded_packets: u64,
    /// Bytes of forwarded frames.
    pub forwarded_bytes: u64,
    /// Frames passed without tracking (ARP, IPv6 neighbour discovery).
    pub untracked_passed: u64,
    /// ICMP errors passed because they quote a tracked connection.
    pub icmp_related_passed: u64,
    /// Connections created, by [`ConnProto`].
    pub conns_created: [u64; 3],
    /// Connections removed, by [`RemoveReason`].
    pub conns_removed: [u64; RemoveReason::COUNT],
    /// tcp-state-bypass connections created (also counted under TCP).
    pub bypass_conns_created: u64,
    /// TCP state transitions `[from][to]` (only actual changes).
    pub tcp_transitions: [[u64; TcpState::COUNT]; TcpState::COUNT],
    /// TCP segments passed as stale retransmissions (window checks 2/4).
    pub tcp_stale_passed: u64,
    /// TCP segments passed without checks or state change (SYN in a live
    /// connection, challenge ACK, straggler after RST).
    pub tcp_ignored_passed: u64,
    /// In-window RSTs that were not exact: passed, state kept (RFC 5961).
    pub tcp_rst_challenged: u64,
    /// TCP normalizer and randomization.
    pub normalizer: NormalizerCounters,
    /// RSTs built for `timeout idle … reset` expiries.
    pub idle_resets_sent: u64,
    /// Effects dropped because the shell did not poll them in time.
    pub effects_dropped: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            drops: [0; DropReason::COUNT],
            forwarded_packets: 0,
            forwarded_bytes: 0,
            untracked_passed: 0,
            icmp_related_passed: 0,
            conns_created: [0; 3],
            conns_removed: [0; RemoveReason::COUNT],
            bypass_conns_created: 0,
            tcp_transitions: [[0; TcpState::COUNT]; TcpState::COUNT],
            tcp_stale_passed: 0,
            tcp_ignored_passed: 0,
            tcp_rst_challenged: 0,
            normalizer: NormalizerCounters::default(),
            idle_resets_sent: 0,
            effects_dropped: 0,
        }
    }
}

impl Counters {
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// All drops.
    pub fn total_dropped(&self) -> u64 {
        self.drops.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// Transitions from one TCP state to another.
    pub fn transitions(&self, from: TcpState, to: TcpState) -> u64 {
        self.tcp_transitions[from as usize][to as usize]
    }
}
