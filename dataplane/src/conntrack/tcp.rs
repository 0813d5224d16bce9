//! TCP connection tracking: the state machine and strict sequence-window checks.
//!
//! We are the man in the middle: we never see the endpoints' variables, only
//! the segments between them, so every check here is a bound on what a correct
//! endpoint could have sent given what we have seen. The window checks follow
//! Guido van Rooij, "Real Stateful TCP Packet Filtering in IP Filter" (2000),
//! as refined by Linux `nf_conntrack_proto_tcp.c`:
//!
//! 1. `seq ≤ sender.max_end` — data must start inside the receiver's window;
//! 2. `end ≥ sender.end − receiver.max_win` — data must not be older than a window;
//! 3. `ack ≤ receiver.end` — no acknowledgement of data never sent;
//! 4. `ack ≥ receiver.end − max(sender.max_win, 66000)` — acks not older than a window.
//!
//! Failing 1 or 3 drops the packet. Failing 2 or 4 means a stale
//! retransmission of data or acks the other side already has: since Linux 5.20
//! ("ignore overly delayed tcp packets") such packets pass without moving any
//! state, because dropping them can stall a connection whose ACKs were lost.
//!
//! The state machine is [`TRANSITIONS`], one cell per (direction, event, state)
//! with the reason beside it; the closing states are derived exactly from
//! which FINs were sent and acknowledged (see [`closing_state`]).

use crate::flow::Direction;
use crate::packet::{TcpFlags, TcpSegment};
use crate::seq::SeqNumber;
use crate::verdict::DropReason;

/// RFC 7323 §2.3: a shift count above 14 is treated as 14.
pub const MAX_WINDOW_SCALE: u8 = 14;

/// The largest window a side can advertise with window scale `scale`: the
/// 16-bit field shifted by at most 14 (RFC 7323 §2.3).
pub const fn max_window(scale: u8) -> u32 {
    let shift = if scale > MAX_WINDOW_SCALE {
        MAX_WINDOW_SCALE
    } else {
        scale
    };
    (u16::MAX as u32) << shift
}

/// What a [`TcpTrack`] holds that no tracker produces (see
/// [`TcpTrack::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackFault {
    /// State NONE, or a window scale above 14.
    State,
    /// A window larger than its side could advertise with its scale.
    Window,
    /// A right edge further beyond what its side sent than the other
    /// side's largest window.
    Edge,
    /// Facts or a state that contradict which sides' SYNs were seen.
    SynSeen,
}

/// Lower bound of the acceptable-ack range (check 4) even for small windows.
/// Linux uses 66000: a little more than the largest unscaled window, so an ACK
/// that trails the data by up to one full 64 KiB window is still current.
pub const MIN_ACK_WINDOW: u32 = 66_000;

/// TCP connection states, as Linux conntrack names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// No connection (the row used when a packet would create one).
    None = 0,
    /// The initiator's SYN was seen.
    SynSent = 1,
    /// The responder's SYN-ACK was seen.
    SynRecv = 2,
    /// The handshake completed; no FIN yet.
    Established = 3,
    /// One side sent a FIN that is not yet acknowledged.
    FinWait = 4,
    /// One side's FIN was acknowledged; the other side may still send (half-closed).
    CloseWait = 5,
    /// Both sides sent a FIN; at least one is not yet acknowledged.
    LastAck = 6,
    /// Both FINs were sent and acknowledged.
    TimeWait = 7,
    /// A RST closed the connection.
    Close = 8,
    /// Simultaneous open: both sides sent a SYN before any SYN-ACK.
    SynSent2 = 9,
}

impl TcpState {
    /// Every state, in `repr` order.
    pub const ALL: [TcpState; 10] = [
        TcpState::None,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::SynSent2,
    ];
    /// Number of states (for transition counters).
    pub const COUNT: usize = 10;

    /// Name as Linux conntrack prints it.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    /// Before the handshake completed (the ASA's "embryonic" connections).
    pub const fn is_embryonic(self) -> bool {
        matches!(
            self,
            TcpState::SynSent | TcpState::SynRecv | TcpState::SynSent2
        )
    }

    /// One or both sides are closing but the connection is not yet fully closed.
    pub const fn is_half_closed(self) -> bool {
        matches!(
            self,
            TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck
        )
    }
}

/// What a segment's flags say, by priority RST > SYN > FIN > ACK (a SYN-ACK
/// is its own class). Combinations no endpoint sends are refused before this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEvent {
    /// SYN without ACK.
    Syn = 0,
    /// SYN with ACK.
    SynAck = 1,
    /// FIN (with ACK, or alone).
    Fin = 2,
    /// ACK only (possibly with data, PSH, URG).
    Ack = 3,
    /// RST (with or without ACK).
    Rst = 4,
}

impl TcpEvent {
    /// Every event class, in table order.
    pub const ALL: [TcpEvent; 5] = [
        TcpEvent::Syn,
        TcpEvent::SynAck,
        TcpEvent::Fin,
        TcpEvent::Ack,
        TcpEvent::Rst,
    ];

    /// Classify a segment's flags, refusing combinations no endpoint sends.
    ///
    /// Valid sets, ignoring PSH, ECE and CWR (RFC 3168 lets them ride on
    /// anything): SYN, SYN|URG, SYN|ACK, RST, RST|ACK, FIN|ACK, FIN|ACK|URG,
    /// ACK, ACK|URG — the list Linux checks in `tcp_valid_flags`. A bare FIN
    /// is refused: RFC 9293 §3.10.7.4 requires ACK on every segment after the
    /// SYN, and a lone FIN is a stealth-scan signature.
    pub fn classify(flags: TcpFlags) -> Option<TcpEvent> {
        let f = flags.0 & !(TcpFlags::PSH | TcpFlags::ECE | TcpFlags::CWR);
        const SYN: u8 = TcpFlags::SYN;
        const ACK: u8 = TcpFlags::ACK;
        const FIN: u8 = TcpFlags::FIN;
        const RST: u8 = TcpFlags::RST;
        const URG: u8 = TcpFlags::URG;
        match f {
            x if x == SYN || x == SYN | URG => Some(TcpEvent::Syn),
            x if x == SYN | ACK => Some(TcpEvent::SynAck),
            x if x == RST || x == RST | ACK => Some(TcpEvent::Rst),
            x if x == FIN | ACK || x == FIN | ACK | URG => Some(TcpEvent::Fin),
            x if x == ACK || x == ACK | URG => Some(TcpEvent::Ack),
            _ => None,
        }
    }

    /// Name for tables and logs.
    pub const fn name(self) -> &'static str {
        match self {
            TcpEvent::Syn => "syn",
            TcpEvent::SynAck => "synack",
            TcpEvent::Fin => "fin",
            TcpEvent::Ack => "ack",
            TcpEvent::Rst => "rst",
        }
    }
}

/// One cell of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Move to this state (after the window checks pass).
    To(TcpState),
    /// Progress of the close: the state follows from which FINs were sent
    /// and acknowledged ([`closing_state`]).
    Closing,
    /// Pass the packet (window-checked) without changing the state.
    Ignore,
    /// A SYN on a finished tuple: the old connection is over and this is a
    /// new one, to be admitted by policy like any new connection.
    Reopen,
    /// Drop.
    Invalid(DropReason),
}

use Cell::{Closing, Ignore, Invalid, Reopen, To};
use TcpState as S;

const NOT_SYN: Cell = Invalid(DropReason::TcpNotSyn);
const BAD: Cell = Invalid(DropReason::TcpInvalidState);

/// The transition table: `TRANSITIONS[direction][event][state]`.
///
/// Columns are the states in `TcpState` order:
/// `NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE SYN_SENT2`.
/// Only the orig row of `NONE` is reachable: the first packet of a
/// connection defines the orig direction.
pub const TRANSITIONS: [[[Cell; TcpState::COUNT]; 5]; 2] = [
    // ---------------------------------------------------------------- ORIG
    [
        // syn: NONE opens (ASA: only a SYN creates a connection). A
        // retransmitted SYN keeps SYN_SENT (the tracker re-reads its ISN). In
        // SYN_RECV the SYN-ACK may have been lost: pass. In a live connection
        // a SYN is answered by the endpoint with a challenge ACK (RFC 5961
        // §4.2), which may lead to an exact RST and a clean reopen: pass it
        // untouched. TIME_WAIT/CLOSE: the tuple is being reused. SYN_SENT2:
        // retransmit during simultaneous open.
        [
            To(S::SynSent),
            To(S::SynSent),
            Ignore,
            Ignore,
            Ignore,
            Ignore,
            Ignore,
            Reopen,
            Reopen,
            To(S::SynSent2),
        ],
        // synack: only the simultaneous-open answer (SYN_SENT2 → SYN_RECV) is
        // valid from the initiator; in SYN_RECV it is that answer's
        // retransmit. Anything else is a SYN-ACK from the side that sent the SYN.
        [
            NOT_SYN,
            BAD,
            Ignore,
            BAD,
            BAD,
            BAD,
            BAD,
            BAD,
            BAD,
            To(S::SynRecv),
        ],
        // fin: from SYN_RECV a FIN|ACK also completes the handshake; after a
        // RST, stragglers pass untouched; before the responder answered, or in
        // simultaneous open, the initiator has nothing to close.
        [
            NOT_SYN, BAD, Closing, Closing, Closing, Closing, Closing, Closing, Ignore, BAD,
        ],
        // ack: the third packet of the handshake (SYN_RECV → ESTABLISHED, its
        // ack checked exactly); an ACK before any SYN-ACK acknowledges nothing.
        [
            NOT_SYN,
            BAD,
            To(S::Established),
            Closing,
            Closing,
            Closing,
            Closing,
            Closing,
            Ignore,
            BAD,
        ],
        // rst: closes, if in window (exactness decides, see `Tracker::rst`).
        [
            NOT_SYN,
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            Ignore,
            To(S::Close),
        ],
    ],
    // ---------------------------------------------------------------- REPLY
    [
        // syn: in SYN_SENT the responder's own SYN means simultaneous open
        // (RFC 9293 §3.5, figure 8); in SYN_RECV its retransmit. In a live
        // or closing connection it is never legitimate: the responder's side
        // of the tuple is a listening port, and only the initiator (a client
        // that lost its state) reopens a tuple or draws a challenge ACK. In
        // TIME_WAIT/CLOSE the responder opens a new connection in the other
        // direction (roles may switch).
        [
            BAD,
            To(S::SynSent2),
            Ignore,
            BAD,
            BAD,
            BAD,
            BAD,
            Reopen,
            Reopen,
            To(S::SynSent2),
        ],
        // synack: the normal second packet (ack checked exactly). In SYN_RECV:
        // a retransmit, or the second SYN-ACK of a simultaneous open, which
        // completes it (the tracker decides). Later: a retransmitted SYN-ACK
        // whose ACK was lost — pass so the initiator acknowledges again. Not
        // after a RST: the connection is over (an initiator that aborted its
        // connect with a RST closes the entry, and the answer to that SYN
        // has nothing left to open).
        [
            BAD,
            To(S::SynRecv),
            To(S::SynRecv),
            Ignore,
            Ignore,
            Ignore,
            Ignore,
            Ignore,
            BAD,
            To(S::SynRecv),
        ],
        // fin: a responder may close from SYN_RECV (RFC 9293 §3.10.4: CLOSE in
        // SYN-RECEIVED sends a FIN). Not before it answered the SYN.
        [
            BAD, BAD, Closing, Closing, Closing, Closing, Closing, Closing, Ignore, BAD,
        ],
        // ack: in SYN_SENT an ACK from the responder is the challenge ACK of
        // an older incarnation of the tuple (RFC 5961 §4): pass it so the
        // initiator can answer with a RST. In SYN_RECV it completes only a
        // simultaneous open (the tracker decides). In SYN_SENT2 it acknowledges
        // nothing yet: pass.
        [
            BAD, Ignore, Ignore, Closing, Closing, Closing, Closing, Closing, Ignore, Ignore,
        ],
        // rst: closes if in window; in SYN_SENT only if it acknowledges the SYN.
        [
            BAD,
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            To(S::Close),
            Ignore,
            To(S::Close),
        ],
    ],
];

/// The closing state implied by which FINs were sent and acknowledged.
///
/// `fin_seen[d]` and `fin_acked[d]` are per direction. This is exact where
/// Linux approximates from flag classes: a FIN counts as acknowledged only
/// when the other side's ACK covers its sequence number.
pub fn closing_state(fin_seen: [bool; 2], fin_acked: [bool; 2]) -> TcpState {
    match (fin_seen, fin_acked) {
        ([false, false], _) => TcpState::Established,
        ([true, true], [true, true]) => TcpState::TimeWait,
        ([true, true], _) => TcpState::LastAck,
        // Exactly one side closed: half-closed once its FIN is acknowledged.
        (seen, acked) if (seen[0] && acked[0]) || (seen[1] && acked[1]) => TcpState::CloseWait,
        _ => TcpState::FinWait,
    }
}

/// Per-direction bits of a [`TcpHalf`].
pub mod half_flags {
    /// This side sent a SYN.
    pub const SYN_SEEN: u8 = 0x01;
    /// The other side acknowledged this side's SYN.
    pub const SYN_ACKED: u8 = 0x02;
    /// This side sent payload.
    pub const DATA_SEEN: u8 = 0x04;
    /// This side sent a FIN (its `end` is then final).
    pub const FIN_SEEN: u8 = 0x08;
    /// The other side acknowledged this side's FIN.
    pub const FIN_ACKED: u8 = 0x10;
    /// This side offered window scaling on its SYN.
    pub const WSCALE: u8 = 0x20;
    /// This side offered SACK on its SYN.
    pub const SACK_PERM: u8 = 0x40;
    /// `max_ack` holds an acknowledgement this side sent. On a side whose
    /// SYN is not yet seen, the challenge ACK it answered the initiator's
    /// SYN with in SYN-SENT, which the initiator's reset may quote
    /// (RFC 9293 §3.10.7.3).
    pub const MAXACK_SET: u8 = 0x80;
}

/// What the tracker knows of one direction's sequence space (van Rooij's
/// per-direction variables). Zeroed (`max_win == 0`) until the direction's
/// first SYN or SYN-ACK is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpHalf {
    /// Highest sequence number sent plus one (`seq + len`, SYN and FIN counted).
    pub end: SeqNumber,
    /// Highest sequence number this side may send: the other side's highest
    /// `ack + window`.
    pub max_end: SeqNumber,
    /// Largest window (scaled) this side advertised; at least 1 once initialised.
    pub max_win: u32,
    /// Highest acknowledgement this side sent (valid with `MAXACK_SET`).
    pub max_ack: SeqNumber,
    /// The MSS this side announced on its SYN (0: none announced).
    pub mss: u16,
    /// Window scale shift applied to this side's window fields after the handshake.
    pub scale: u8,
    /// [`half_flags`] bits.
    pub flags: u8,
}

impl TcpHalf {
    fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }
    fn initialised(&self) -> bool {
        self.max_win != 0
    }
}

/// The result of tracking one segment that is not dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// The segment passed the checks; the state is now `to` (maybe unchanged).
    Pass { from: TcpState, to: TcpState },
    /// Old data or acks already covered (checks 2 or 4): pass, nothing changes.
    Stale,
    /// A SYN on a closed tuple: delete this connection and treat the packet as new.
    Reopen,
    /// Passed without window checks or state change: a SYN or SYN-ACK in a
    /// live connection outside its receiver's window (RFC 5961 §4), a
    /// challenge ACK before the responder's SYN, or a straggler after a RST.
    Ignored,
    /// The initiator's SYN in SYN_SENT with another sequence space than the
    /// first (a stack that restarted its connect): the initiator's half
    /// starts anew, unchecked. On an entry that lags its connection (a
    /// copy that missed its close), it is a new connection on a reused
    /// tuple instead, so in a cluster it waits for the peers' state as the
    /// other unchecked passes do (docs/sync.md §4).
    Restarted,
}

/// The TCP part of a conntrack entry: state plus both halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTrack {
    /// Current state.
    pub state: TcpState,
    /// Both sides completed a simultaneous open (RFC 9293 figure 8).
    pub simultaneous: bool,
    /// Per-direction sequence state, indexed by [`Direction::index`].
    pub half: [TcpHalf; 2],
    /// In SYN_RECV of a normal open, the bytes of data the responder's
    /// SYN-ACK carried (a tcp-map's `synack-data allow`,
    /// docs/asa-behaviour.md §6.1): the handshake's ACK may acknowledge
    /// the SYN and any part of them. 0 otherwise, and once the responder
    /// sent more or the handshake ended. This node's own view, not synced:
    /// a peer that learns the entry in SYN_RECV checks the ACK exactly.
    pub synack_data: u16,
}

/// The scaled window a segment advertises. RFC 7323 §2.2: the window field
/// of a SYN or SYN-ACK is never scaled.
fn scaled_window(seg: &TcpSegment, scale: u8) -> u32 {
    if seg.flags.has(TcpFlags::SYN) {
        u32::from(seg.window)
    } else {
        u32::from(seg.window) << scale
    }
}

/// The sequence space a segment occupies: its payload plus one for SYN and one for FIN.
fn seg_len(seg: &TcpSegment) -> u32 {
    seg.payload_len
        + u32::from(seg.flags.has(TcpFlags::SYN))
        + u32::from(seg.flags.has(TcpFlags::FIN))
}

impl TcpState {
    /// Progress of a connection through its life, for the sync merge: a
    /// later state never yields to an earlier one. Simultaneous open sits
    /// between SYN_SENT and SYN_RECV, the close family after ESTABLISHED
    /// (its exact member is re-derived from the FIN facts), CLOSE (RST) last.
    pub const fn progress(self) -> u8 {
        match self {
            TcpState::None => 0,
            TcpState::SynSent => 1,
            TcpState::SynSent2 => 2,
            TcpState::SynRecv => 3,
            TcpState::Established => 4,
            TcpState::FinWait => 5,
            TcpState::CloseWait => 6,
            TcpState::LastAck => 7,
            TcpState::TimeWait => 8,
            TcpState::Close => 9,
        }
    }
}

impl TcpHalf {
    /// Join another node's view of the same direction into this one (sync
    /// merge): sequence fields by serial maximum, windows by maximum, facts
    /// by union. An uninitialised half (direction not yet seen) is the
    /// bottom element.
    fn join(&mut self, o: &TcpHalf) {
        if !o.initialised() {
            // The one fact a half not initialised holds: the challenge
            // ACK's acknowledgement (`MAXACK_SET`), which the initiator's
            // reset may quote at another node than the one it crossed.
            if !self.initialised() && o.has(half_flags::MAXACK_SET) {
                if !self.has(half_flags::MAXACK_SET) || self.max_ack.before(o.max_ack) {
                    self.max_ack = o.max_ack;
                }
                self.flags |= half_flags::MAXACK_SET;
            }
            return;
        }
        if !self.initialised() {
            *self = *o;
            return;
        }
        self.end = self.end.max(o.end);
        self.max_end = self.max_end.max(o.max_end);
        self.max_win = self.max_win.max(o.max_win);
        self.max_ack = match (
            self.has(half_flags::MAXACK_SET),
            o.has(half_flags::MAXACK_SET),
        ) {
            (false, true) => o.max_ack,
            (true, false) => self.max_ack,
            _ => self.max_ack.max(o.max_ack),
        };
        self.mss = self.mss.max(o.mss);
        self.scale = self.scale.max(o.scale);
        self.flags |= o.flags;
    }
}

impl TcpTrack {
    /// Join another node's view of the same connection into this one (the
    /// sync merge, docs/sync.md §3): each half joined field by field, the state
    /// by progress, and once established the closing state re-derived from
    /// the joined FIN facts, exactly as [`closing_state`] derives it locally.
    pub fn join(&mut self, other: &TcpTrack) {
        for d in 0..2 {
            self.half[d].join(&other.half[d]);
        }
        // RFC 7323 §2.2, as `init_half` applies it: scaling holds only if
        // both SYNs offered it. A node that saw one SYN keeps the offer; the
        // join with a node that saw both must land on the same answer.
        let [a, b] = &self.half;
        if a.initialised()
            && b.initialised()
            && !(a.has(half_flags::WSCALE) && b.has(half_flags::WSCALE))
        {
            self.half[0].scale = 0;
            self.half[1].scale = 0;
        }
        self.simultaneous |= other.simultaneous;
        let mut state = if other.state.progress() > self.state.progress() {
            other.state
        } else {
            self.state
        };
        if state.progress() >= TcpState::Established.progress() && state != TcpState::Close {
            let derived = closing_state(self.fin_seen(), self.fin_acked());
            if derived.progress() > state.progress() {
                state = derived;
            }
        }
        self.state = state;
        // This node's own view (not synced): kept while the handshake is
        // open, by the longer if both saw one.
        self.synack_data = if state == TcpState::SynRecv {
            self.synack_data.max(other.synack_data)
        } else {
            0
        };
    }

    /// A connection opened by `syn` (an orig SYN, already classified).
    pub fn open(syn: &TcpSegment) -> TcpTrack {
        let mut t = TcpTrack {
            state: TcpState::SynSent,
            simultaneous: false,
            half: [TcpHalf::default(); 2],
            synack_data: 0,
        };
        t.init_half(Direction::Orig, syn);
        t
    }

    /// Start a direction's sequence space from its SYN or SYN-ACK.
    fn init_half(&mut self, dir: Direction, seg: &TcpSegment) {
        let end = seg.seq + seg_len(seg);
        let mut flags = half_flags::SYN_SEEN;
        let mut scale = 0;
        if let Some(ws) = seg.options.window_scale {
            flags |= half_flags::WSCALE;
            scale = ws.min(MAX_WINDOW_SCALE);
        }
        if seg.options.sack_permitted {
            flags |= half_flags::SACK_PERM;
        }
        self.half[dir.index()] = TcpHalf {
            end,
            max_end: end,
            max_win: u32::from(seg.window).max(1),
            max_ack: SeqNumber(0),
            mss: seg.options.mss.unwrap_or(0),
            scale,
            flags,
        };
        // RFC 7323 §2.2: scaling is in effect only if both SYNs carried the
        // option; until the second SYN is seen, keep the offer.
        let other = &mut self.half[dir.other().index()];
        if other.initialised()
            && !(other.has(half_flags::WSCALE) && flags & half_flags::WSCALE != 0)
        {
            other.scale = 0;
            self.half[dir.index()].scale = 0;
        }
    }

    /// Track one segment travelling in `dir`. `Err` is the reason to drop
    /// it, and a dropped segment leaves the tracker exactly as it was: some
    /// paths change a half before a later check refuses the segment (a
    /// SYN-ACK starts the responder's space, then its SACK edge may still
    /// acknowledge data never sent), and what a dropped segment claimed
    /// must not stay to judge the segments after it.
    pub fn track(&mut self, dir: Direction, seg: &TcpSegment) -> Result<Tracked, DropReason> {
        let before = *self;
        let tracked = self.track_segment(dir, seg);
        if tracked.is_err() {
            *self = before;
        }
        tracked
    }

    /// [`track`](Self::track), which undoes this one's changes when it
    /// refuses the segment.
    fn track_segment(&mut self, dir: Direction, seg: &TcpSegment) -> Result<Tracked, DropReason> {
        let event = TcpEvent::classify(seg.flags).ok_or(DropReason::TcpBadFlags)?;
        let from = self.state;
        let cell = TRANSITIONS[dir.index()][event as usize][from as usize];
        let me = dir.index();
        let them = dir.other().index();
        // In LAST-ACK both sides have sent their FIN. A SYN from the
        // initiator at or beyond the end of its FIN cannot belong to the old
        // connection once the initiator has acknowledged all the responder
        // sent but its FIN: its side of that one is over (it may not have
        // seen the last ACK cross another cluster node, or that node died
        // with the news), so the tuple is being reused, as in TIME-WAIT.
        // While the responder's data is unacknowledged it may still be
        // retransmitted, and a blind SYN (half of all sequence numbers are
        // "beyond") must not end the connection under it: that SYN, and
        // earlier sequence numbers, take the challenge-ACK path below, as
        // Linux ignores an initiator's SYN in LAST-ACK.
        if event == TcpEvent::Syn
            && dir == Direction::Orig
            && from == S::LastAck
            && self.half[me].has(half_flags::FIN_SEEN)
            && !seg.seq.before(self.half[me].end)
            && self.half[me].has(half_flags::MAXACK_SET)
            && !self.half[me].max_ack.before(self.half[them].end - 1)
        {
            return Ok(Tracked::Reopen);
        }
        // SYN_RECV of a normal open: the responder's next SYN-ACK can only be
        // a retransmit of its first (its ISN, acking the SYN exactly, and
        // ending where the first ended: a SYN-ACK may carry data under a
        // tcp-map's `synack-data allow`, docs/asa-behaviour.md §6.1), and
        // neither a bare SYN from it nor a SYN-ACK from the initiator belongs
        // to the handshake; only a simultaneous open has those (the table's
        // cells are for it).
        if from == S::SynRecv && !self.simultaneous {
            match (event, dir) {
                (TcpEvent::SynAck, Direction::Reply) if seg.ack != self.half[them].end => {
                    return Err(DropReason::TcpAckSynDiff);
                }
                (TcpEvent::SynAck, Direction::Reply)
                    if seg.seq + seg_len(seg) != self.half[me].end =>
                {
                    return Err(DropReason::Tcp3whsFailed);
                }
                (TcpEvent::Syn, Direction::Reply) | (TcpEvent::SynAck, Direction::Orig) => {
                    return Err(DropReason::TcpInvalidState);
                }
                _ => {}
            }
        }
        match cell {
            Invalid(reason) => return Err(reason),
            Reopen => return Ok(Tracked::Reopen),
            // A SYN or SYN-ACK inside a live connection is not window-checked:
            // after a reboot the endpoint's new ISN is random, and only the
            // exchange it triggers (challenge ACK, exact RST, RFC 5961 §4)
            // lets the tuple be reused. The endpoint, not us, validates it.
            // Except inside the receiver's window, where no endpoint's
            // retransmission lies (those repeat the handshake's sequence
            // number, behind it) and where a stack older than RFC 5961
            // resets the connection (RFC 793's SYN-in-window rule): the
            // ASA drops those as `tcp-rst-syn-in-win`, and so does this.
            Ignore if matches!(event, TcpEvent::Syn | TcpEvent::SynAck) => {
                if from.progress() >= S::Established.progress()
                    && from != S::Close
                    && self.in_receive_window(dir, seg.seq)
                {
                    return Err(DropReason::TcpRstSynInWindow);
                }
                return Ok(Tracked::Ignored);
            }
            _ => {}
        }

        // Handshake segments that (re)define a direction's sequence space.
        match (event, dir, from) {
            // A retransmitted SYN, possibly with a new ISN after a local reset
            // of the initiator: start its space again.
            (TcpEvent::Syn, Direction::Orig, S::SynSent) => {
                let before = self.half[me].end;
                self.init_half(dir, seg);
                if self.half[me].end != before {
                    return Ok(Tracked::Restarted);
                }
                return Ok(self.enter(from, S::SynSent));
            }
            // Simultaneous open: the responder's own SYN.
            (TcpEvent::Syn, Direction::Reply, S::SynSent) => {
                self.init_half(dir, seg);
                self.simultaneous = true;
                return Ok(self.enter(from, S::SynSent2));
            }
            // The SYN-ACK must acknowledge the SYN exactly (RFC 9293 §3.10.7.3:
            // in SYN-SENT an ACK is acceptable only if it acks the SYN; the
            // ASA's "invalid-ack" check).
            (TcpEvent::SynAck, Direction::Reply, S::SynSent) => {
                if seg.ack != self.half[them].end {
                    return Err(DropReason::TcpAckSynDiff);
                }
                self.init_half(dir, seg);
                // Data it carries (`synack-data allow`) counts as sent; the
                // initiator may take it or discard it (a stack in SYN-SENT
                // may, Linux does): the handshake's ACK is then checked
                // against either (below). Too long to hold: checked exactly.
                self.synack_data = u16::try_from(seg.payload_len).unwrap_or(0);
            }
            // The initiator's RST before any answer. At its own next
            // sequence number it aborts its own attempt (the value a stack
            // uses when it abandons a connect). At the sequence number a
            // bare ACK from the responder's side acknowledged, it is the
            // answer RFC 9293 §3.10.7.3 prescribes to an unacceptable ACK
            // in SYN-SENT (<SEQ=SEG.ACK><CTL=RST>), after which the stack
            // stays in SYN-SENT: it passes (it frees the stale state of a
            // responder that answered the SYN with a challenge ACK, so the
            // retransmitted SYN can open) and the attempt stays open here
            // too. Closing on it let one spoofed ACK, which the initiator
            // answers so by itself, make the genuine SYN-ACK drop.
            (TcpEvent::Rst, Direction::Orig, S::SynSent) => {
                if seg.seq == self.half[me].end {
                    return Ok(self.enter(from, S::Close));
                }
                if self.half[them].has(half_flags::MAXACK_SET) && seg.seq == self.half[them].max_ack
                {
                    return Ok(self.enter(from, S::SynSent));
                }
                return Err(DropReason::TcpRstOutOfWindow);
            }
            // RFC 9293 §3.10.7.3: in SYN-SENT a RST is acceptable only if its
            // ACK acknowledges the SYN.
            (TcpEvent::Rst, Direction::Reply, S::SynSent) => {
                if !(seg.flags.has(TcpFlags::ACK) && seg.ack == self.half[them].end) {
                    return Err(DropReason::TcpRstOutOfWindow);
                }
                return Ok(self.enter(from, S::Close));
            }
            _ => {}
        }

        // A direction we have not seen a SYN from cannot be window-checked:
        // only the challenge ACK of SYN_SENT passes, untouched. A challenge
        // ACK carries no data, no FIN and no RST; anything more from a side
        // whose SYN we have not seen is refused, and so is everything once
        // the initiator has aborted (CLOSE): nothing was ever opened.
        if !self.half[me].initialised() {
            let bare_ack = seg.payload_len == 0
                && !seg.flags.has(TcpFlags::FIN)
                && !seg.flags.has(TcpFlags::RST);
            return if cell == Ignore && bare_ack && from == S::SynSent {
                // Remember what it acknowledged: the initiator's reset may
                // quote it (above).
                let h = &mut self.half[me];
                h.max_ack = seg.ack;
                h.flags |= half_flags::MAXACK_SET;
                Ok(Tracked::Ignored)
            } else {
                Err(DropReason::TcpInvalidState)
            };
        }
        // After a RST, stragglers in window pass; nothing moves. After an
        // aborted connect (the responder never answered) nothing was
        // opened: the initiator has nothing more to send on it either, and
        // its acks could not be checked against a responder never seen.
        if from == S::Close {
            if !self.half[them].initialised() {
                return Err(DropReason::TcpInvalidState);
            }
            self.window_check(dir, seg)?;
            return Ok(Tracked::Ignored);
        }

        // The segment that completes the handshake (an ACK, or a FIN|ACK that
        // closes at once) must acknowledge the SYN-ACK exactly (the ASA's
        // invalid-ack check: "in SYN-ACK-received state ack ≠ next seq to send").
        // After a SYN-ACK that carried data, from the SYN's acknowledgement
        // to the data's end: data not acknowledged is the responder's to
        // retransmit, and stays sent-but-unacknowledged for the window
        // checks. Without data the range is the one value.
        let completes = matches!(event, TcpEvent::Ack | TcpEvent::Fin)
            && from == S::SynRecv
            && (dir == Direction::Orig || self.simultaneous);
        let syn_acked = {
            let end = self.half[them].end;
            let first = end - u32::from(self.synack_data);
            !seg.ack.before(first) && !seg.ack.after(end)
        };
        if completes && !syn_acked {
            return Err(DropReason::Tcp3whsFailed);
        }

        if event == TcpEvent::Rst {
            return self.rst(dir, seg);
        }

        match self.window_check(dir, seg)? {
            Window::Stale => return Ok(Tracked::Stale),
            Window::InWindow => {}
        }

        // Data after a FIN is a protocol violation (RFC 9293 §3.10.4: no
        // SEND after CLOSE): the sender's end is final once its FIN is seen.
        let end = seg.seq + seg_len(seg);
        if self.half[me].has(half_flags::FIN_SEEN) && end.after(self.half[me].end) {
            return Err(DropReason::TcpDataPastFin);
        }
        // A FIN that ends before data the sender already sent is no FIN a
        // stack sends (its FIN follows its last byte): a spoofed one, in
        // window, would otherwise mark the stream finished and have the
        // sender's real data dropped as coming after it. The endpoint
        // ignores it as old; it passes without changing the state.
        if seg.flags.has(TcpFlags::FIN) && end.before(self.half[me].end) {
            return Ok(Tracked::Stale);
        }

        let sent = self.half[me].end;
        self.update(dir, seg);
        if completes && self.half[them].has(half_flags::SYN_SEEN) {
            // `update` marks the SYN acknowledged only by an ACK of all
            // the responder sent; one of its SYN alone acknowledges it too.
            self.half[them].flags |= half_flags::SYN_ACKED;
        }
        // The responder sent past its SYN-ACK: the range no longer holds.
        if dir == Direction::Reply && self.half[me].end != sent {
            self.synack_data = 0;
        }

        let to = match cell {
            Closing => closing_state(self.fin_seen(), self.fin_acked()),
            // The handshake completes when both SYNs are acknowledged: by the
            // initiator's ACK in a normal open, by the second SYN-ACK (or an
            // ACK) in a simultaneous one. Retransmits leave it in SYN_RECV.
            To(_) | Ignore if from == S::SynRecv => {
                if self.half[0].has(half_flags::SYN_ACKED)
                    && self.half[1].has(half_flags::SYN_ACKED)
                {
                    S::Established
                } else {
                    S::SynRecv
                }
            }
            To(s) => s,
            Ignore => from,
            Invalid(_) | Reopen => unreachable!("returned above"),
        };
        Ok(self.enter(from, to))
    }

    /// [`track`](Self::track) for the common case of an established
    /// connection: a segment that is only an ACK (with data, PSH, ECE, CWR
    /// or URG), no FIN seen either way, and in window. For such a segment
    /// `track` runs the same window checks and update and stays in
    /// ESTABLISHED (`Pass { from: Established, to: Established }`); this
    /// does only that. Returns whether the state changed, or `None`,
    /// having changed nothing, for any other segment (the caller then
    /// calls `track`).
    #[inline]
    pub fn track_established(&mut self, dir: Direction, seg: &TcpSegment) -> Option<bool> {
        if self.state != TcpState::Established
            || TcpEvent::classify(seg.flags) != Some(TcpEvent::Ack)
            || !self.half[dir.index()].initialised()
            || (self.half[0].flags | self.half[1].flags) & half_flags::FIN_SEEN != 0
            || self.window_check(dir, seg) != Ok(Window::InWindow)
        {
            return None;
        }
        let before = *self;
        self.update(dir, seg);
        Some(*self != before)
    }

    /// Move to `to` and report the transition.
    fn enter(&mut self, from: TcpState, to: TcpState) -> Tracked {
        self.state = to;
        if to != TcpState::SynRecv {
            self.synack_data = 0;
        }
        Tracked::Pass { from, to }
    }

    fn fin_seen(&self) -> [bool; 2] {
        [
            self.half[0].has(half_flags::FIN_SEEN),
            self.half[1].has(half_flags::FIN_SEEN),
        ]
    }

    fn fin_acked(&self) -> [bool; 2] {
        [
            self.half[0].has(half_flags::FIN_ACKED),
            self.half[1].has(half_flags::FIN_ACKED),
        ]
    }

    /// The four window checks. `Err` drops (checks 1 and 3), `Stale` passes
    /// without update (checks 2 and 4).
    fn window_check(&self, dir: Direction, seg: &TcpSegment) -> Result<Window, DropReason> {
        let sender = &self.half[dir.index()];
        let receiver = &self.half[dir.other().index()];
        let end = seg.seq + seg_len(seg);
        // A segment without ACK (only a SYN gets here) acknowledges nothing:
        // treat it as acking everything, which passes checks 3 and 4.
        let ack = if seg.flags.has(TcpFlags::ACK) {
            seg.ack
        } else {
            receiver.end
        };
        // SACK blocks may acknowledge beyond the cumulative ack; the highest
        // edge is what must not exceed data sent (RFC 2018 §3).
        let sack = match seg.options.sack_right_edge {
            Some(edge) if edge.after(ack) => edge,
            _ => ack,
        };
        let max_ack_win = sender.max_win.max(MIN_ACK_WINDOW);

        // Check 1: data must start at or before the right edge of the window.
        if seg.seq.after(sender.max_end) {
            return Err(DropReason::TcpSeqPastWindow);
        }
        // Check 3: an ack of data the receiver never sent.
        if receiver.initialised() && sack.after(receiver.end) {
            return Err(DropReason::TcpAckPastWindow);
        }
        // Check 2: data ending more than a window behind what was sent.
        let stale_data = end.before(sender.end - receiver.max_win);
        // Check 4: an ack older than a window.
        let stale_ack = receiver.initialised() && sack.before(receiver.end - max_ack_win);
        if stale_data || stale_ack {
            return Ok(Window::Stale);
        }
        Ok(Window::InWindow)
    }

    /// Advance both halves after a segment passed the checks.
    fn update(&mut self, dir: Direction, seg: &TcpSegment) {
        let (me, them) = (dir.index(), dir.other().index());
        let end = seg.seq + seg_len(seg);
        let win = scaled_window(seg, self.half[me].scale);
        let ack = if seg.flags.has(TcpFlags::ACK) {
            seg.ack
        } else {
            self.half[them].end
        };
        let sack = match seg.options.sack_right_edge {
            Some(edge) if edge.after(ack) => edge,
            _ => ack,
        };

        let sender = &mut self.half[me];
        if win > sender.max_win {
            sender.max_win = win;
        }
        // The window may have grown past what we saw (window updates lost on
        // the way): data beyond max_end that passed check 1 widens the view.
        let grown = if end.after(sender.max_end) {
            end.diff(sender.max_end) as u32
        } else {
            0
        };
        if end.after(sender.end) {
            sender.end = end;
        }
        if seg.payload_len > 0 {
            sender.flags |= half_flags::DATA_SEEN;
        }
        if seg.flags.has(TcpFlags::FIN) {
            sender.flags |= half_flags::FIN_SEEN;
        }
        if seg.flags.has(TcpFlags::ACK)
            && (sender.flags & half_flags::MAXACK_SET == 0 || ack.after(sender.max_ack))
        {
            sender.max_ack = ack;
            sender.flags |= half_flags::MAXACK_SET;
        }

        let receiver = &mut self.half[them];
        if receiver.initialised() {
            // Never past what the receiver could advertise: retransmissions
            // that each overlap the edge would otherwise grow it without
            // bound (and a peer refuses such a state, `check`).
            let grown = receiver
                .max_win
                .saturating_add(grown)
                .min(max_window(receiver.scale));
            receiver.max_win = receiver.max_win.max(grown);
        }
        // The receiver may now send up to what this side acknowledged plus
        // its window; a zero window still allows a one-byte probe (RFC 9293 §3.8.6.1).
        let right_edge = sack + win.max(1);
        if right_edge.after(receiver.max_end) {
            receiver.max_end = right_edge;
        }
        // An ack covering everything the receiver sent acknowledges its SYN
        // (during the handshake) or its FIN (once it closed): its `end` is
        // then the SYN's or the FIN's sequence number plus one.
        if seg.flags.has(TcpFlags::ACK) && !ack.before(receiver.end) {
            if receiver.has(half_flags::SYN_SEEN) {
                receiver.flags |= half_flags::SYN_ACKED;
            }
            if receiver.has(half_flags::FIN_SEEN) {
                receiver.flags |= half_flags::FIN_ACKED;
            }
        }
    }

    /// Whether `seq`, sent in `dir`, lies in its receiver's window: from
    /// what the receiver acknowledged last (or, before it acknowledged
    /// anything, the sender's next sequence number) to the right edge the
    /// receiver advertised.
    fn in_receive_window(&self, dir: Direction, seq: SeqNumber) -> bool {
        let sender = &self.half[dir.index()];
        let receiver = &self.half[dir.other().index()];
        if !sender.initialised() || !receiver.initialised() {
            return false;
        }
        let low = if receiver.has(half_flags::MAXACK_SET) {
            receiver.max_ack
        } else {
            sender.end
        };
        !seq.before(low) && !seq.after(sender.max_end)
    }

    /// Whether `seq`, the sequence number an ICMP error quotes of a segment
    /// sent in `dir`, is one such a segment could have had, as OpenBSD pf
    /// checks a quoted TCP header: at most the right edge the receiver
    /// allowed the sender (check 1), and no more than a window of the
    /// receiver behind what the sender sent (check 2, on the segment's
    /// start: the quote may be cut before its length). The window is at
    /// least [`MIN_ACK_WINDOW`], as for acknowledgements, so that the SYN
    /// of SYN-SENT (no window from the receiver yet) and a window too small
    /// to say much still place a segment. A side whose SYN was not seen
    /// sent nothing that can be placed. A quote outside is no error about
    /// this connection but a guess at it, or bytes riding on a quote
    /// (RFC 5927 §4.1 has stacks check the same).
    pub fn quoted_seq_in_window(&self, dir: Direction, seq: SeqNumber) -> bool {
        let sender = &self.half[dir.index()];
        let receiver = &self.half[dir.other().index()];
        if !sender.initialised() {
            return false;
        }
        let window = receiver.max_win.max(MIN_ACK_WINDOW);
        !seq.after(sender.max_end) && !seq.before(sender.end - window)
    }

    /// RST handling (RFC 5961 §3.2, as the ASA applies it).
    ///
    /// The RST is exact — and closes — if its sequence number is the one
    /// the receiver acknowledged last (a host resetting on the segment it
    /// got carries that segment's ack) or the sender's next sequence (a
    /// host resetting after what it sent). Anywhere else in window it is
    /// dropped (`tcp-rst-syn-in-win`), and the state stays: a blind RST
    /// that lands among the bytes in flight must not tear the connection
    /// down, here or at an endpoint older than RFC 5961 (which would
    /// accept it; a newer one answers with a challenge ACK and keeps the
    /// connection). Linux conntrack passes it for that challenge ACK; the
    /// ASA does not, and a sender that really reset is exact, or answers
    /// the next segment that reaches it with an exact RST. Out of window it
    /// is dropped as out of order.
    fn rst(&mut self, dir: Direction, seg: &TcpSegment) -> Result<Tracked, DropReason> {
        let sender = &self.half[dir.index()];
        let receiver = &self.half[dir.other().index()];
        let acked = receiver
            .has(half_flags::MAXACK_SET)
            .then_some(receiver.max_ack);
        let low = acked.unwrap_or(sender.end);
        if seg.seq.before(low) || seg.seq.after(sender.max_end) {
            return Err(DropReason::TcpRstOutOfWindow);
        }
        if seg.seq == sender.end || Some(seg.seq) == acked {
            return Ok(self.enter(self.state, TcpState::Close));
        }
        Err(DropReason::TcpRstSynInWindow)
    }

    /// Check what every state a tracker produces keeps true, and every join
    /// of such states too, so that a peer's state that breaks it is refused
    /// before it is joined into a live entry (docs/sync.md §3): a join takes
    /// windows and edges by maximum, so a state with a window of 2^32 − 1
    /// would have let any sequence number through for good.
    ///
    /// - The state is not NONE, and no scale exceeds 14 (RFC 7323 §2.3).
    /// - A side's SYN was seen exactly when its half is initialised, and a
    ///   half not initialised holds no facts but a challenge ACK's
    ///   acknowledgement in SYN_SENT or CLOSE; the initiator's SYN opened
    ///   the entry, and every state but SYN_SENT and CLOSE (a reset before
    ///   any answer) needs the responder's SYN too.
    /// - A side's largest window fits its scale: `update` records only the
    ///   advertised field shifted by the side's scale, and caps the growth
    ///   inferred from data past the edge the same way.
    /// - A side's right edge (`max_end`) lies at most the other side's
    ///   largest window past what it sent (`end`): the edge is only ever
    ///   set to an acknowledgement (at most `end`, check 3) plus a window
    ///   the other side advertised (at most its `max_win`), and `end` only
    ///   moves on. A join keeps it: both edges move to the later value, and
    ///   the window to the larger.
    pub fn check(&self) -> Result<(), TrackFault> {
        if self.state == TcpState::None || self.half.iter().any(|h| h.scale > MAX_WINDOW_SCALE) {
            return Err(TrackFault::State);
        }
        // The one fact a half not initialised may hold: the acknowledgement
        // of the challenge ACK the responder answered the SYN with, in
        // SYN_SENT (and in CLOSE, once the initiator's reset quoted it).
        let early = matches!(self.state, TcpState::SynSent | TcpState::Close);
        for h in &self.half {
            let syn = h.has(half_flags::SYN_SEEN);
            let facts = h.flags != 0 && !(early && h.flags == half_flags::MAXACK_SET);
            if syn != h.initialised() || (!syn && facts) {
                return Err(TrackFault::SynSeen);
            }
        }
        let [orig, reply] = &self.half;
        if !orig.initialised()
            || (!reply.initialised() && !matches!(self.state, TcpState::SynSent | TcpState::Close))
        {
            return Err(TrackFault::SynSeen);
        }
        for (d, h) in self.half.iter().enumerate() {
            if !h.initialised() {
                continue;
            }
            if h.max_win > max_window(h.scale) {
                return Err(TrackFault::Window);
            }
            let ahead = h.max_end.diff(h.end);
            if ahead > 0 && ahead as u32 > self.half[1 - d].max_win {
                return Err(TrackFault::Edge);
            }
        }
        Ok(())
    }

    /// Whether a RST travelling in `dir` lies behind what the other side
    /// has acknowledged: its receiver's window has moved past it, so the
    /// receiver ignores it (RFC 5961 §3.2), and [`track`](Self::track)
    /// refuses it. No view of this connection from another node short of
    /// its close changes that: a join only moves the acknowledgement on
    /// (`max_ack` by serial maximum). Typical case: a host that closed its socket resets on a
    /// segment that acked less than a later segment the firewall already
    /// passed. Only where [`track`](Self::track) judges resets so: in
    /// SYN-SENT the responder's is judged by its ACK and the initiator's by
    /// its own next sequence number, and in CLOSE (after a reset) any
    /// straggler in window passes; a join that reaches CLOSE (a peer saw
    /// the exact reset) lets it by too.
    pub fn rst_behind(&self, dir: Direction, seg: &TcpSegment) -> bool {
        let receiver = &self.half[dir.other().index()];
        seg.flags.has(TcpFlags::RST)
            && self.state.progress() > TcpState::SynSent.progress()
            && self.state != TcpState::Close
            && self.half[dir.index()].initialised()
            && receiver.has(half_flags::MAXACK_SET)
            && seg.seq.before(receiver.max_ack)
    }
}

/// Outcome of the window checks for a segment that is not dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    InWindow,
    Stale,
}

#[cfg(test)]
mod tests;
