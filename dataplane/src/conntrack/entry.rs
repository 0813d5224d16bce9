//! A conntrack entry: one connection seen in both directions.

use std::fmt;

use super::echo::EchoSeqs;
use super::macs::MacRef;
use super::tcp::{TcpState, TcpTrack, half_flags};
use crate::class_slot::SlotId;
use crate::flow::{Direction, Endpoint, FlowKey};
use crate::time::Instant;
use crate::verdict::IfaceId;

/// A cluster node's identity (ASA clusters hold at most 16 units; 16 bits is plenty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub u16);

/// The protocol-specific part of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoState {
    /// TCP with full state and window tracking.
    Tcp(TcpTrack),
    /// TCP in a `tcp-state-bypass` class: no state machine, no window,
    /// normalizer or randomization; never synced (ASA flag `b`).
    TcpBypass,
    /// UDP: a flow with an idle timeout.
    Udp,
    /// ICMP or ICMPv6 echo: request/reply pairs with an idle timeout,
    /// one reply per request.
    IcmpEcho(EchoSeqs),
    /// Any other IP protocol (GRE, ESP, SCTP, …; the key says which): a
    /// flow with an idle timeout, the ASA's `timeout conn`
    /// (docs/asa-behaviour.md §2.1).
    Other,
}

/// Connection-level bits of an [`Entry`].
pub mod conn_flags {
    /// The connection was opened from the lower-security side (ASA flag `B`).
    pub const FROM_LOWER: u8 = 0x01;
    /// A UDP connection to or from port 53 (ASA flag `D`).
    pub const DNS: u8 = 0x02;
    /// A reply-direction packet was seen (UDP, ICMP and other protocols).
    pub const REPLIED: u8 = 0x04;
    /// The orig side's RST closed the connection (local: for the teardown log).
    pub const RESET_ORIG: u8 = 0x08;
    /// The reply side's RST closed the connection (local).
    pub const RESET_REPLY: u8 = 0x10;
    /// The orig side is the key's `lo` endpoint (fixed at creation; peers
    /// receive it as its own field, so it is not among the shared bits).
    pub const ORIG_IS_LO: u8 = 0x20;
    /// Opened by a packet with an authentication header (RFC 4302), fixed
    /// at creation: only packets that carry one belong to the connection,
    /// and none of them is rewritten (docs/asa-behaviour.md §2.1).
    pub const AH: u8 = 0x40;
    /// Opened by TCP Intercept (docs/asa-behaviour.md §2.2): the firewall
    /// answered the client's SYN with a SYN cookie and opened the
    /// connection to the server itself, fixed at creation. The entry's
    /// `seq_offset` then holds the cookie until the server's SYN-ACK is
    /// seen, and from then the shift of the server's sequence numbers
    /// into the cookie's space ([`super::Entry::seq_shift`]).
    pub const INTERCEPTED: u8 = 0x80;
    /// The bits peers share; the reset bits are this node's own view.
    pub const SHARED: u8 = FROM_LOWER | DNS | REPLIED | AH | INTERCEPTED;

    /// The [`ORIG_IS_LO`] bit of an entry whose orig side is (or is not) `lo`.
    pub const fn orig_is_lo(yes: bool) -> u8 {
        if yes { ORIG_IS_LO } else { 0 }
    }

    /// The reset bit of a direction.
    pub const fn reset_by(dir: crate::flow::Direction) -> u8 {
        match dir {
            crate::flow::Direction::Orig => RESET_ORIG,
            crate::flow::Direction::Reply => RESET_REPLY,
        }
    }
}

/// One tracked connection. Kept small: the table holds up to millions.
///
/// 144 bytes, laid out in order (`repr(C)`) so that everything an
/// established packet reads or writes — key, flags, interfaces, class,
/// TTLs, randomization offset, TCP state, last-seen and the counters — is
/// in the first 128 bytes, and what only creation, teardown and `show`
/// read (creation time, connection id, MAC addresses) comes after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Entry {
    /// Direction-normalised key (39 bytes, packed).
    pub key: FlowKey,
    /// [`conn_flags`] bits, among them which side of the key is orig.
    pub flags: u8,
    /// The interface each direction's packets arrive on (`[orig, reply]`).
    pub ingress: [IfaceId; 2],
    /// The node that created the entry (first packet).
    pub owner: NodeId,
    /// The class slot whose options and limits apply (fixed at creation).
    pub class: SlotId,
    /// Lowest TTL seen per direction (ASA ttl-evasion-protection).
    pub min_ttl: [u8; 2],
    /// Sequence randomization offset added to the orig side's sequence
    /// numbers (0: not randomized). Part of the flow state a peer must know.
    pub seq_offset: u32,
    /// Protocol state.
    pub proto: ProtoState,
    /// When the last packet that passed was seen.
    pub last_seen: Instant,
    /// Packets per direction (`[orig, reply]`), saturating.
    pub packets: [Count48; 2],
    /// IP bytes per direction (`[orig, reply]`), saturating.
    pub bytes: [Count48; 2],
    /// When the first packet was seen.
    pub created: Instant,
    /// Connection id, as in the ASA's syslog messages.
    pub id: u32,
    /// Source and destination MAC of the opening frame, to address the RSTs
    /// of `timeout idle … reset` (a bridge has no ARP table of its own),
    /// interned by the table ([`ConnTable::macs_of`](super::ConnTable::macs_of)).
    pub macs: MacRef,
}

/// The bytes of an [`Entry`] an established packet touches.
pub const HOT_BYTES: usize = std::mem::offset_of!(Entry, created);

// The layout above is what the packet path's prefetch assumes.
const _: () = assert!(HOT_BYTES == 128 && std::mem::size_of::<Entry>() == 144);

/// A counter in six bytes, saturating at 2^48 − 1: 281 TB, or 2.8 × 10^14
/// packets, more than one connection carries in a lifetime.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Count48([u16; 3]);

impl Count48 {
    /// The largest count.
    pub const MAX: u64 = (1 << 48) - 1;

    /// A counter at `v` (saturated).
    pub const fn new(v: u64) -> Self {
        let v = if v > Self::MAX { Self::MAX } else { v };
        Count48([v as u16, (v >> 16) as u16, (v >> 32) as u16])
    }

    /// The count.
    pub const fn get(self) -> u64 {
        self.0[0] as u64 | (self.0[1] as u64) << 16 | (self.0[2] as u64) << 32
    }

    /// Add `n`, saturating.
    #[inline]
    pub fn add(&mut self, n: u64) {
        *self = Self::new(self.get().saturating_add(n));
    }
}

impl fmt::Debug for Count48 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

impl From<u64> for Count48 {
    fn from(v: u64) -> Self {
        Count48::new(v)
    }
}

impl PartialEq<u64> for Count48 {
    fn eq(&self, other: &u64) -> bool {
        self.get() == *other
    }
}

impl Entry {
    /// The direction of a packet whose sender is (`true`) or is not the key's `lo` side.
    pub fn direction(&self, src_is_lo: bool) -> Direction {
        if src_is_lo == self.orig_is_lo() {
            Direction::Orig
        } else {
            Direction::Reply
        }
    }

    /// IP bytes both ways.
    pub fn total_bytes(&self) -> u64 {
        self.bytes[0].get().saturating_add(self.bytes[1].get())
    }

    /// Whether the orig side is `key.lo`.
    pub const fn orig_is_lo(&self) -> bool {
        self.flags & conn_flags::ORIG_IS_LO != 0
    }

    /// Whether the connection was opened inside an authentication header
    /// ([`conn_flags::AH`]).
    pub const fn ah(&self) -> bool {
        self.flags & conn_flags::AH != 0
    }

    /// Whether TCP Intercept opened the connection
    /// ([`conn_flags::INTERCEPTED`]).
    pub const fn intercepted(&self) -> bool {
        self.flags & conn_flags::INTERCEPTED != 0
    }

    /// Whether TCP Intercept opened the connection and the server has not
    /// answered it (`seq_offset` holds the SYN cookie, not a shift), and
    /// it is still in its handshake: the firewall plays the client's part
    /// of it. A connection refused before the server answered (a RST) is
    /// no longer pending: a new SYN reopens its tuple.
    pub fn intercept_pending(&self) -> bool {
        self.intercepted()
            && !self.intercept_answered()
            && self.tcp_state().is_some_and(|s| s.is_embryonic())
    }

    /// Whether the server's SYN-ACK of an intercepted connection was seen
    /// (`seq_offset` then holds the shift of its sequence numbers).
    fn intercept_answered(&self) -> bool {
        matches!(&self.proto, ProtoState::Tcp(t) if t.half[1].flags & half_flags::SYN_SEEN != 0)
    }

    /// What the firewall adds to the sequence numbers of `dir`'s segments
    /// as they leave (and takes from the acknowledgements, and SACK
    /// edges, the other direction sends back): sequence randomization
    /// shifts the initiator's space (docs/asa-behaviour.md §6.2); TCP
    /// Intercept, which gave the client a SYN cookie as the server's ISN,
    /// shifts the server's into the cookie's space once the server's
    /// SYN-ACK is seen, and leaves the initiator's as it is.
    pub fn seq_shift(&self, dir: Direction) -> u32 {
        match (self.intercepted(), dir) {
            (false, Direction::Orig) => self.seq_offset,
            (false, Direction::Reply) | (true, Direction::Orig) => 0,
            (true, Direction::Reply) if !self.intercept_answered() => 0,
            (true, Direction::Reply) => self.seq_offset,
        }
    }

    /// The endpoint that opened the connection.
    pub fn initiator(&self) -> Endpoint {
        if self.orig_is_lo() {
            self.key.lo
        } else {
            self.key.hi
        }
    }

    /// The host that opened the connection, within the connection's VLAN.
    pub fn initiator_host(&self) -> crate::flow::Host {
        crate::flow::Host {
            addr: self.initiator().addr,
            vlan: self.key.vlan,
        }
    }

    /// The endpoint that answered.
    pub fn responder(&self) -> Endpoint {
        if self.orig_is_lo() {
            self.key.hi
        } else {
            self.key.lo
        }
    }

    /// The TCP state, if this is a TCP connection.
    pub fn tcp_state(&self) -> Option<TcpState> {
        match &self.proto {
            ProtoState::Tcp(t) => Some(t.state),
            _ => None,
        }
    }

    /// Which direction comes from the higher-security ("inside") side.
    fn inside(&self) -> Direction {
        if self.flags & conn_flags::FROM_LOWER != 0 {
            Direction::Reply
        } else {
            Direction::Orig
        }
    }

    /// The ASA connection flags (docs/asa-behaviour.md §3.4), where "inside"
    /// is the higher-security side and "outside" the lower, whoever initiated.
    pub fn asa_flags(&self) -> AsaFlags {
        let mut f = AsaFlags(0);
        let inside = self.inside().index();
        let outside = self.inside().other().index();
        if self.proto == ProtoState::TcpBypass {
            // Observed on the ASA as the only flag: no TCP state is kept.
            f.set(AsaFlags::BYPASS, true);
            return f;
        }
        if let ProtoState::Tcp(t) = &self.proto {
            let has = |d: usize, bit: u8| t.half[d].flags & bit != 0;
            if t.state.is_embryonic() {
                // The handshake flags say what is still awaited from whom.
                f.set(AsaFlags::S_LOWER, !has(outside, half_flags::SYN_SEEN));
                f.set(AsaFlags::S_UPPER, !has(inside, half_flags::SYN_SEEN));
                f.set(AsaFlags::A_LOWER, !has(inside, half_flags::SYN_ACKED));
                f.set(AsaFlags::A_UPPER, !has(outside, half_flags::SYN_ACKED));
            } else if t.state != TcpState::Close {
                f.set(AsaFlags::U, true);
            }
            f.set(AsaFlags::F_LOWER, has(inside, half_flags::FIN_SEEN));
            f.set(AsaFlags::F_UPPER, has(outside, half_flags::FIN_SEEN));
            // r: inside acknowledged (the outside's) FIN; R: the reverse.
            f.set(AsaFlags::R_LOWER, has(outside, half_flags::FIN_ACKED));
            f.set(AsaFlags::R_UPPER, has(inside, half_flags::FIN_ACKED));
            f.set(AsaFlags::I, has(outside, half_flags::DATA_SEEN));
            f.set(AsaFlags::O, has(inside, half_flags::DATA_SEEN));
        } else {
            f.set(
                AsaFlags::I,
                self.packets[outside].get() > 0 && self.bytes[outside].get() > 0,
            );
            f.set(
                AsaFlags::O,
                self.packets[inside].get() > 0 && self.bytes[inside].get() > 0,
            );
        }
        f.set(AsaFlags::B, self.flags & conn_flags::FROM_LOWER != 0);
        f.set(AsaFlags::D, self.flags & conn_flags::DNS != 0);
        f
    }
}

/// ASA `show conn` flags as a bit set, printed in the ASA's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AsaFlags(pub u32);

impl AsaFlags {
    /// `s`: awaiting outside SYN.
    pub const S_LOWER: u32 = 1 << 0;
    /// `S`: awaiting inside SYN.
    pub const S_UPPER: u32 = 1 << 1;
    /// `a`: awaiting outside ACK to SYN.
    pub const A_LOWER: u32 = 1 << 2;
    /// `A`: awaiting inside ACK to SYN.
    pub const A_UPPER: u32 = 1 << 3;
    /// `U`: up.
    pub const U: u32 = 1 << 4;
    /// `f`: inside FIN.
    pub const F_LOWER: u32 = 1 << 5;
    /// `F`: outside FIN.
    pub const F_UPPER: u32 = 1 << 6;
    /// `r`: inside acknowledged FIN.
    pub const R_LOWER: u32 = 1 << 7;
    /// `R`: outside acknowledged FIN.
    pub const R_UPPER: u32 = 1 << 8;
    /// `I`: inbound data.
    pub const I: u32 = 1 << 9;
    /// `O`: outbound data.
    pub const O: u32 = 1 << 10;
    /// `B`: initial SYN from outside.
    pub const B: u32 = 1 << 11;
    /// `b`: TCP state-bypass.
    pub const BYPASS: u32 = 1 << 12;
    /// `D`: DNS.
    pub const D: u32 = 1 << 13;
    /// `E`: outside back connection (a secondary connection opened by an
    /// application inspection such as FTP; none exists yet, so never set).
    pub const E: u32 = 1 << 14;

    const LETTERS: [(u32, char); 15] = [
        (Self::S_LOWER, 's'),
        (Self::S_UPPER, 'S'),
        (Self::A_LOWER, 'a'),
        (Self::A_UPPER, 'A'),
        (Self::U, 'U'),
        (Self::F_LOWER, 'f'),
        (Self::F_UPPER, 'F'),
        (Self::R_LOWER, 'r'),
        (Self::R_UPPER, 'R'),
        (Self::I, 'I'),
        (Self::O, 'O'),
        (Self::B, 'B'),
        (Self::BYPASS, 'b'),
        (Self::D, 'D'),
        (Self::E, 'E'),
    ];

    fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        }
    }

    /// Whether `bit` is set.
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

impl fmt::Display for AsaFlags {
    /// The letters in ASA order, or `-` when none is set (as the ASA prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("-");
        }
        for (bit, letter) in Self::LETTERS {
            if self.0 & bit != 0 {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table stores `Option<Entry>`; keep an eye on its size, which is
    /// most of the memory per tracked flow (the goal is ≤ 200 bytes).
    #[test]
    fn entry_stays_small() {
        let size = std::mem::size_of::<Option<Entry>>();
        assert!(size <= 168, "Option<Entry> is {size} bytes");
        assert!(std::mem::size_of::<Entry>() <= 168);
    }
}
