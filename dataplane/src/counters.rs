//! Plain counters the engine keeps on the packet path; the ops crate reads
//! them at scrape time (the per-packet path never touches a metrics
//! registry: no lock, no atomic, no allocation per packet). All additions
//! saturate.

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
    /// Any other IP protocol (GRE, ESP, SCTP, …).
    Other = 3,
}

impl ConnProto {
    /// All, in counter order.
    pub const ALL: [ConnProto; 4] = [
        ConnProto::Tcp,
        ConnProto::Udp,
        ConnProto::Icmp,
        ConnProto::Other,
    ];
    /// Label.
    pub const fn label(self) -> &'static str {
        match self {
            ConnProto::Tcp => "tcp",
            ConnProto::Udp => "udp",
            ConnProto::Icmp => "icmp",
            ConnProto::Other => "other",
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
    /// The table was full: the oldest dead connection (TCP CLOSE or
    /// TIME_WAIT), or failing one the oldest unproven one (half-open TCP,
    /// UDP or ICMP echo without a reply), made room for a new connection
    /// (docs/asa-behaviour.md §2.2).
    Evicted = 6,
    /// A class's `embryonic-conn-max` or `per-client-embryonic-max` was
    /// reached: the oldest half-open connection of the class, or of the
    /// client in it, made room for a new one (docs/asa-behaviour.md §2.2).
    EmbryonicLimit = 7,
    /// Dead connection detection: an end left its probes unanswered
    /// (`set connection timeout dcd`, docs/asa-behaviour.md §2.2).
    DeadConnection = 8,
}

impl RemoveReason {
    /// All, in counter order.
    pub const ALL: [RemoveReason; 9] = [
        RemoveReason::Timeout,
        RemoveReason::Reopen,
        RemoveReason::Reset,
        RemoveReason::Cleared,
        RemoveReason::Peer,
        RemoveReason::Superseded,
        RemoveReason::Evicted,
        RemoveReason::EmbryonicLimit,
        RemoveReason::DeadConnection,
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
            RemoveReason::Evicted => "evicted",
            RemoveReason::EmbryonicLimit => "embryonic_limit",
            RemoveReason::DeadConnection => "dead_connection",
        }
    }
}

/// What became of a frame, for the per-interface counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictKind {
    /// Forwarded (possibly rewritten).
    Forward = 0,
    /// Dropped (the reason is counted in [`Counters::drops`]).
    Drop = 1,
    /// Held for a peer's state or deferred for a peer's acknowledgement.
    Hold = 2,
}

impl VerdictKind {
    /// All, in counter order.
    pub const ALL: [VerdictKind; 3] = [VerdictKind::Forward, VerdictKind::Drop, VerdictKind::Hold];
    /// Number of kinds.
    pub const COUNT: usize = Self::ALL.len();
    /// Label.
    pub const fn label(self) -> &'static str {
        match self {
            VerdictKind::Forward => "forward",
            VerdictKind::Drop => "drop",
            VerdictKind::Hold => "hold",
        }
    }
}

/// Frames received on one interface, by what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfaceCounters {
    /// Frames, by [`VerdictKind`].
    pub packets: [u64; VerdictKind::COUNT],
    /// Bytes of those frames (whole Ethernet frames), by [`VerdictKind`].
    pub bytes: [u64; VerdictKind::COUNT],
}

/// Add one, saturating: a counter that wrapped would read small again and
/// hide the flood that wrapped it.
#[inline]
pub fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}

/// What the TCP normalizer did (docs/asa-behaviour.md §6.1 defaults), and
/// sequence randomization.
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
    /// TCP options overwritten with NOPs (kinds 6, 7, 9–255 by default;
    /// those a class's tcp-map clears).
    pub options_cleared: u64,
    /// Segments whose reserved bits were cleared (`reserved-bits clear`).
    pub reserved_bits_cleared: u64,
    /// Packets whose TTL was lowered to the connection's minimum.
    pub ttl_clamped: u64,
    /// Connections given a sequence-randomization offset.
    pub seq_randomized_conns: u64,
    /// SYNs and SYN-ACKs whose MSS option was rewritten by `sysopt
    /// connection tcpmss` (lowered to the maximum or raised to the minimum).
    pub mss_clamped: u64,
}

/// Dead connection detection (`set connection timeout dcd`,
/// docs/asa-behaviour.md §2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DcdCounters {
    /// Probes sent toward connections' ends.
    pub probes_sent: u64,
    /// Idle connections kept because both ends answered.
    pub kept: u64,
    /// Connections removed because an end left its probes unanswered.
    pub dead: u64,
    /// Idle connections found while the most a worker probes at once were
    /// probed: each is probed when the sweep finds it again.
    pub probes_deferred: u64,
}

/// TCP Intercept's counts (docs/asa-behaviour.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InterceptCounters {
    /// SYNs past a half-open limit answered with a SYN cookie.
    pub syn_cookies: u64,
    /// Clients' ACKs of a valid cookie: connections opened toward the server.
    pub accepted: u64,
    /// Servers' SYN-ACKs the firewall acknowledged: connections established.
    pub established: u64,
    /// SYNs sent to a server again, for a client's segment that came
    /// while the server had not answered.
    pub syn_resent: u64,
    /// Segments of intercepted connections dropped while the server had
    /// not answered (`intercept-unexpected`).
    pub unexpected: u64,
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
    pub conns_created: [u64; ConnProto::ALL.len()],
    /// Connections removed, by [`RemoveReason`].
    pub conns_removed: [u64; RemoveReason::COUNT],
    /// tcp-state-bypass connections created (also counted under TCP).
    pub bypass_conns_created: u64,
    /// TCP state transitions `[from][to]` (only actual changes).
    pub tcp_transitions: [[u64; TcpState::COUNT]; TcpState::COUNT],
    /// TCP segments passed as stale retransmissions (window checks 2/4).
    pub tcp_stale_passed: u64,
    /// TCP segments passed without checks or state change (SYN in a live
    /// connection outside its window, challenge ACK, straggler after RST).
    pub tcp_ignored_passed: u64,
    /// TCP normalizer and randomization.
    pub normalizer: NormalizerCounters,
    /// RSTs built for `timeout idle … reset` expiries.
    pub idle_resets_sent: u64,
    /// Dead connection detection.
    pub dcd: DcdCounters,
    /// TCP Intercept (docs/asa-behaviour.md §2.2).
    pub intercept: InterceptCounters,
    /// Effects dropped because the shell did not poll them in time.
    pub effects_dropped: u64,
    /// Frames received per ingress interface (indexed by `IfaceId`), by verdict.
    pub ifaces: Vec<IfaceCounters>,
    /// Policies swapped in with [`Engine::set_policy`](crate::Engine::set_policy).
    pub policy_swaps: u64,
    /// Connection log events dropped because the shell did not take them in
    /// time (the queue is bounded).
    pub conn_events_dropped: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            drops: [0; DropReason::COUNT],
            forwarded_packets: 0,
            forwarded_bytes: 0,
            untracked_passed: 0,
            icmp_related_passed: 0,
            conns_created: [0; ConnProto::ALL.len()],
            conns_removed: [0; RemoveReason::COUNT],
            bypass_conns_created: 0,
            tcp_transitions: [[0; TcpState::COUNT]; TcpState::COUNT],
            tcp_stale_passed: 0,
            tcp_ignored_passed: 0,
            normalizer: NormalizerCounters::default(),
            idle_resets_sent: 0,
            dcd: DcdCounters::default(),
            intercept: Default::default(),
            effects_dropped: 0,
            ifaces: Vec::new(),
            policy_swaps: 0,
            conn_events_dropped: 0,
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

    /// Count a frame received on `ingress` (interfaces beyond the engine's
    /// list are not counted per interface; they are dropped as unknown).
    #[inline]
    pub fn count_frame(&mut self, ingress: usize, kind: VerdictKind, bytes: usize) {
        if let Some(c) = self.ifaces.get_mut(ingress) {
            let k = kind as usize;
            bump(&mut c.packets[k]);
            c.bytes[k] = c.bytes[k].saturating_add(bytes as u64);
        }
    }

    /// Transitions from one TCP state to another.
    pub fn transitions(&self, from: TcpState, to: TcpState) -> u64 {
        self.tcp_transitions[from as usize][to as usize]
    }
}

/// Why a frame the engine forwarded did not leave (a closed set: each is
/// a label of `rampart_io_send_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxDrop {
    /// Every transmit-ring slot was still in the kernel.
    RingFull = 0,
    /// The egress interface is down or gone (`ENETDOWN`, `ENXIO`,
    /// `ENODEV`), or its transmit ring stopped moving (docs/io.md §8).
    LinkDown = 1,
    /// Longer than the egress MTU and its Ethernet header (`EMSGSIZE`).
    TooBig = 2,
    /// A full-size frame whose outer tag is not 802.1Q (0x8100): the
    /// kernel allows the 4 bytes of a tag over the MTU only for that
    /// TPID, so a 1518-byte 802.1ad (0x88a8) frame cannot leave.
    TaggedTooBig = 3,
    /// The socket's or the device's queue was full (`EAGAIN`,
    /// `ENOBUFS`, `ENOMEM`), still after one wait for room.
    NoBuffers = 4,
    /// Any other refusal by the kernel (`EINVAL`, ...).
    Refused = 5,
    /// The engine named an egress that is not the bridge's other side.
    NoEgress = 6,
}

impl TxDrop {
    /// All, in counter order.
    pub const ALL: [TxDrop; 7] = [
        TxDrop::RingFull,
        TxDrop::LinkDown,
        TxDrop::TooBig,
        TxDrop::TaggedTooBig,
        TxDrop::NoBuffers,
        TxDrop::Refused,
        TxDrop::NoEgress,
    ];
    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();
    /// Label.
    pub const fn label(self) -> &'static str {
        match self {
            TxDrop::RingFull => "ring_full",
            TxDrop::LinkDown => "link_down",
            TxDrop::TooBig => "too_big",
            TxDrop::TaggedTooBig => "tagged_too_big",
            TxDrop::NoBuffers => "no_buffers",
            TxDrop::Refused => "refused",
            TxDrop::NoEgress => "no_egress",
        }
    }
}

/// What a bridge saw of one data interface's link (docs/io.md §8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    /// Times the link went down (an `ENETDOWN`, or the interface not
    /// running when looked at).
    pub down: u64,
    /// Times it came back.
    pub up: u64,
    /// Times the interface was found deleted (`ENXIO`, or its name gone
    /// or now naming another interface).
    pub gone: u64,
    /// Whether it is down or gone now.
    pub is_down: bool,
}

/// What a packet I/O shell (the AF_PACKET bridge of `rampart-afpacket`)
/// saw beside the engine's own counters. Plain data, kept here so the ops
/// crate reads it without linking any socket code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeCounters {
    /// Frames larger than a receive buffer, dropped.
    pub truncated: u64,
    /// Frames forwarded by the engine that did not leave: the sum of
    /// `send_drops`.
    pub send_failed: u64,
    /// Those frames by [`TxDrop`] reason; each frame counts once.
    pub send_drops: [u64; TxDrop::COUNT],
    /// The two data interfaces' links, by `IfaceId`.
    pub links: [LinkCounts; 2],
    /// Transmit-ring kicks (`send`) the kernel answered with an error;
    /// their frames stay queued and go at a later kick.
    pub tx_kick_errors: u64,
    /// Kicks after which the oldest queued transmit slot had still not
    /// been taken by the kernel (a device refusing frames).
    pub tx_stalled_kicks: u64,
    /// Partial checksums completed before sending.
    pub checksums_completed: u64,
    /// GSO super-packets forwarded whole (vnet headers on).
    pub gso_frames: u64,
    /// Loop turns that polled again without sleeping (busy polling).
    pub busy_polls: u64,
    /// Frames the kernel dropped before the shell read them (socket
    /// buffer or receive ring full; `PACKET_STATISTICS`), both interfaces.
    /// The kernel's count, read every table sweep and when the shell stops.
    pub kernel_rx_drops: u64,
    /// Times a receive ring was frozen, every block in user space.
    pub kernel_rx_frozen: u64,
    /// Receive-ring blocks (per-frame ring: slots) whose header was not
    /// trusted, all reasons; their frames were dropped.
    pub ring_bad_slots: u64,
    /// Frames lost with those blocks.
    pub ring_bad_frames: u64,
    /// Frames dropped: no room before them for their VLAN tag.
    pub ring_no_vlan_room: u64,
    /// Frames larger than a transmit slot, sent through a plain socket
    /// (one the kernel refused counts in `send_drops`, not here).
    pub ring_tx_spilled: u64,
    /// Frames larger than a receive slot, read whole from the socket.
    pub ring_rx_copied: u64,
    /// Such frames no longer in the socket's queue (dropped).
    pub ring_copy_missing: u64,
    /// Whole frames read from the socket's queue and thrown away: their
    /// slots were given back without them (a failed read) or their length
    /// was not their slot's.
    pub ring_copy_stale: u64,
    /// Reassembled datagrams this worker's engine handed to the worker that
    /// owns their flow (`Effect::HandOff`), queued for it.
    pub handoffs: u64,
    /// Such datagrams not queued (the worker's queue full, or the worker
    /// gone): dropped with their fragments.
    pub handoffs_dropped: u64,
}

impl BridgeCounters {
    /// Count one frame that did not leave, for `reason`.
    pub fn count_send_drop(&mut self, reason: TxDrop) {
        let c = &mut self.send_drops[reason as usize];
        *c = c.saturating_add(1);
        self.send_failed = self.send_failed.saturating_add(1);
    }
}
