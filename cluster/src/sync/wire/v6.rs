//! Major version 6 of the sync wire format: each struct here is what goes
//! on the wire, field by field and in order, encoded with bincode 2's
//! `standard()` configuration (integers wider than a byte as varints,
//! `u8`s and fixed-size arrays as raw bytes, enums as a varint variant
//! index followed by the variant's fields, a `Vec` as a varint length
//! followed by its items).
//!
//! These types belong to the wire, not to the engine: the dataplane's
//! `FlowState`, `TcpTrack` and friends are free to change shape, and only
//! the explicit conversions below decide what a peer sees. Changing a
//! field here, or its order, changes the bytes; the golden tests
//! (`golden.rs`) pin them, and a change that an older peer of the same
//! major version could not read needs a new major version.
//!
//! Conversions to the wire are total ([`From`]); from the wire they check
//! what bincode cannot ([`TryFrom`]): a value outside a closed set (the
//! TCP state) is the peer's fault, and the whole message is refused and
//! counted as malformed, as a bad enum variant index is. Facts that depend
//! on the receiving node (its interfaces, the key's order) are checked
//! later, per flow, by `FlowState::validate`.

use bincode::{Decode, Encode};
use rampart_dataplane::conntrack::tcp::TcpHalf;
use rampart_dataplane::conntrack::{EchoSeqs, TcpState, TcpTrack};
use rampart_dataplane::flow::{Addr, Endpoint, FlowKey};
use rampart_dataplane::seq::SeqNumber;
use rampart_dataplane::sync::{FlowState, Incarnation, PeerSet, SyncEvent, SyncProto};

use super::{Message, Resume, WireError};
use rampart_dataplane::sync::{AnswerCopy, Confirm};

/// An address (variant index 0: IPv4, 1: IPv6). The engine keeps IPv4
/// as `::ffff:a.b.c.d`; on the wire it takes its four bytes (version 3:
/// a key shrank from 39 bytes to 15, and a pull is little more than keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum WireAddr {
    /// An IPv4 address, network order.
    V4([u8; 4]),
    /// Any other address, network order.
    V6([u8; 16]),
}

/// One side of a flow: an address and a port (the ICMP echo identifier on
/// the requester's side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireEndpoint {
    /// Address.
    pub addr: WireAddr,
    /// Port.
    pub port: u16,
}

/// A direction-normalised flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireKey {
    /// The lower endpoint.
    pub lo: WireEndpoint,
    /// The higher endpoint.
    pub hi: WireEndpoint,
    /// IP protocol number.
    pub proto: u8,
    /// 802.1Q VLAN id, 0 when untagged (version 6; at most 4095).
    pub vlan: u16,
}

/// Which incarnation of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireIncarnation {
    /// Creation time on the owner (cluster time, nanoseconds).
    pub created_ns: u64,
    /// The owner node.
    pub owner: u16,
    /// The owner's connection id.
    pub id: u32,
}

/// What the tracker knows of one direction's sequence space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireTcpHalf {
    /// Highest sequence number sent plus one.
    pub end: u32,
    /// Highest sequence number this side may send.
    pub max_end: u32,
    /// Largest (scaled) window advertised.
    pub max_win: u32,
    /// Highest acknowledgement sent.
    pub max_ack: u32,
    /// MSS announced on the SYN (0: none).
    pub mss: u16,
    /// Window scale shift (RFC 7323 §2.3).
    pub scale: u8,
    /// Per-direction facts: SYN seen 0x01, SYN acked 0x02, data 0x04,
    /// FIN 0x08, FIN acked 0x10, window scaling offered 0x20, SACK
    /// permitted offered 0x40, `max_ack` valid 0x80.
    pub flags: u8,
}

/// The TCP part of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireTcp {
    /// The state's wire code ([`tcp_state_code`]).
    pub state: u8,
    /// Both sides completed a simultaneous open.
    pub simultaneous: bool,
    /// Per direction, `[orig, reply]`.
    pub half: [WireTcpHalf; 2],
}

/// The protocol part of a flow (variant index 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum WireProto {
    /// TCP with its tracking state.
    Tcp(WireTcp),
    /// A flow with nothing but its idle timer, the key's protocol saying
    /// which: UDP, and from version 7.1 any IP protocol but TCP, UDP and
    /// the ICMP of the key's family (GRE, ESP, SCTP, …). Named `Udp` up to
    /// 7.0, whose nodes read such a flow of another protocol as UDP state
    /// under a key that is not UDP's, and refuse that flow alone
    /// (`proto_mismatch`): they drop those protocols' packets anyway, so
    /// there is nothing they could do with it (docs/sync.md §7).
    Datagram,
    /// ICMP or ICMPv6 echo (version 5: with its sequence numbers).
    IcmpEcho(WireEcho),
}

/// The sequence numbers of an echo flow: the newest requested, and the
/// window of 64 ending at it, bit `i` for `newest - i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireEcho {
    /// The newest sequence number requested.
    pub newest: u16,
    /// Requested sequence numbers.
    pub requested: u64,
    /// Answered sequence numbers (a subset of the requested).
    pub answered: u64,
}

impl From<EchoSeqs> for WireEcho {
    fn from(e: EchoSeqs) -> Self {
        let (requested, answered) = e.sets();
        WireEcho {
            newest: e.newest,
            requested,
            answered,
        }
    }
}

impl From<WireEcho> for EchoSeqs {
    fn from(e: WireEcho) -> Self {
        EchoSeqs::from_sets(e.newest, e.requested, e.answered)
    }
}

/// A flow's whole synced state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireFlow {
    /// The key.
    pub key: WireKey,
    /// The incarnation.
    pub inc: WireIncarnation,
    /// Whether the originator is `key.lo`.
    pub orig_is_lo: bool,
    /// Shared connection flags.
    pub flags: u8,
    /// Interface index per direction, `[orig, reply]`.
    pub ingress: [u8; 2],
    /// Digest of the class the owner gave the flow.
    pub class: u64,
    /// Sequence-randomization offset (0: none).
    pub seq_offset: u32,
    /// Lowest TTL seen per direction.
    pub min_ttl: [u8; 2],
    /// MACs of the opening frame, `[src, dst]`.
    pub macs: [[u8; 6]; 2],
    /// Protocol state.
    pub proto: WireProto,
    /// Last time a packet of the flow passed (cluster time, ns).
    pub last_seen_ns: u64,
}

/// The kind of copy a state message answers from (variant index 0:
/// passive, 1: on the flows' path, 2: a backup; the first two are the
/// bytes of version 3's `on_path` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum WireCopy {
    /// A copy that may lag.
    Passive,
    /// The sender forwards the flows' packets.
    Path,
    /// A backup the flows' holders push every change.
    Backup,
}

impl From<AnswerCopy> for WireCopy {
    fn from(c: AnswerCopy) -> WireCopy {
        match c {
            AnswerCopy::Passive => WireCopy::Passive,
            AnswerCopy::Path => WireCopy::Path,
            AnswerCopy::Backup => WireCopy::Backup,
        }
    }
}

impl From<WireCopy> for AnswerCopy {
    fn from(c: WireCopy) -> AnswerCopy {
        match c {
            WireCopy::Passive => AnswerCopy::Passive,
            WireCopy::Path => AnswerCopy::Path,
            WireCopy::Backup => AnswerCopy::Backup,
        }
    }
}

/// One change (variant index 0: upsert, 1: delete, 2: demote).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum WireEvent {
    /// The flow's whole current state.
    Upsert(WireFlow),
    /// An incarnation ended.
    Delete {
        /// Its key.
        key: WireKey,
        /// The incarnation deleted.
        inc: WireIncarnation,
    },
    /// The sender no longer keeps the receiver's copy of this incarnation
    /// up to date: a backup no longer needed (version 3; before, the
    /// flow's whole state).
    Demote {
        /// Its key.
        key: WireKey,
        /// The incarnation.
        inc: WireIncarnation,
    },
}

/// A brief answer to a pull passed on by a node that answered from its
/// copy: the sender's state is that copy's (same digest), so the asker
/// need not receive it twice (version 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct WireConfirm {
    /// The flow.
    pub key: WireKey,
    /// Its incarnation.
    pub inc: WireIncarnation,
    /// Digest of the sender's state, last-seen aside.
    pub digest: [u8; 8],
    /// The sender's last-seen (cluster time, ns).
    pub last_seen_ns: u64,
    /// The other nodes on its path the sender knows of (a bit per node id
    /// modulo 64).
    pub holders: u64,
}

/// One message after the version byte (variant index in declaration
/// order, from 0: hello, events, ack, bulk request, bulk chunk, bulk end,
/// pull, state, confirm). Version 2 gave the bulk request the asker's view
/// of the cluster and added pull and state (docs/sync.md §13); version 3
/// shortened IPv4 addresses, added the demote event, the answered
/// digests of a pull passed on, and confirm; version 4 the kind of copy a
/// state answers from (a backup's answer is taken whole); version 5 the
/// sequence numbers an echo flow saw requested and answered.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Frame {
    /// First message on every connection.
    Hello {
        /// Sender node id.
        node: u16,
        /// Sender session.
        session: u64,
        /// Where the sender stands in the receiver's stream.
        resume: Option<Resume>,
    },
    /// A numbered batch of events.
    Events {
        /// Batch sequence number.
        seq: u64,
        /// Passive copies for the receiver.
        passive: bool,
        /// The events.
        events: Vec<WireEvent>,
    },
    /// Cumulative acknowledgement.
    Ack {
        /// Highest batch applied.
        seq: u64,
    },
    /// Ask for the asker's share of the table.
    BulkRequest {
        /// Request id.
        id: u64,
        /// The live members as the asker will see them, itself included.
        view: Vec<u16>,
        /// Copies kept per flow.
        copies: u8,
    },
    /// Part of a bulk answer.
    BulkChunk {
        /// The request.
        id: u64,
        /// Flows.
        flows: Vec<WireFlow>,
    },
    /// End of a bulk answer.
    BulkEnd {
        /// The request.
        id: u64,
        /// Flows sent in all chunks.
        flows: u64,
    },
    /// Send `origin` these flows' states.
    Pull {
        /// The node whose packets wait for them.
        origin: u16,
        /// The flows.
        keys: Vec<WireKey>,
        /// Empty, or per key the digest of the state the sender (which
        /// passes the pull on) answered `origin` with.
        answered: Vec<[u8; 8]>,
    },
    /// Flow states sent outside the numbered batches: pull answers and
    /// copies for a new director or backup.
    State {
        /// The kind of copy the sender answers from.
        copy: WireCopy,
        /// The flows.
        flows: Vec<WireFlow>,
        /// Per flow, the other nodes on its path the sender knows of (a
        /// bit per node id modulo 64).
        holders: Vec<u64>,
    },
    /// Brief answers from a node on the flows' path.
    Confirm {
        /// The flows.
        flows: Vec<WireConfirm>,
    },
}

impl Frame {
    /// Events or flows the message carries.
    pub fn items(&self) -> usize {
        match self {
            Frame::Events { events, .. } => events.len(),
            Frame::BulkChunk { flows, .. } | Frame::State { flows, .. } => flows.len(),
            Frame::BulkRequest { view, .. } => view.len(),
            Frame::Pull { keys, answered, .. } => keys.len().max(answered.len()),
            Frame::Confirm { flows } => flows.len(),
            _ => 0,
        }
    }
}

/// The wire code of a TCP state. An exhaustive table, not the enum's
/// `repr`, so a new or renumbered state cannot change the wire unnoticed.
pub const fn tcp_state_code(s: TcpState) -> u8 {
    match s {
        TcpState::None => 0,
        TcpState::SynSent => 1,
        TcpState::SynRecv => 2,
        TcpState::Established => 3,
        TcpState::FinWait => 4,
        TcpState::CloseWait => 5,
        TcpState::LastAck => 6,
        TcpState::TimeWait => 7,
        TcpState::Close => 8,
        TcpState::SynSent2 => 9,
    }
}

/// The TCP state of a wire code.
pub fn tcp_state(code: u8) -> Result<TcpState, WireError> {
    Ok(match code {
        0 => TcpState::None,
        1 => TcpState::SynSent,
        2 => TcpState::SynRecv,
        3 => TcpState::Established,
        4 => TcpState::FinWait,
        5 => TcpState::CloseWait,
        6 => TcpState::LastAck,
        7 => TcpState::TimeWait,
        8 => TcpState::Close,
        9 => TcpState::SynSent2,
        other => return Err(WireError::TcpState(other)),
    })
}

// === impl From (engine → wire) ===

impl From<Addr> for WireAddr {
    fn from(a: Addr) -> Self {
        let b = a.0;
        match b {
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, x, y, z, w] => WireAddr::V4([x, y, z, w]),
            _ => WireAddr::V6(b),
        }
    }
}

impl From<WireAddr> for Addr {
    fn from(a: WireAddr) -> Self {
        match a {
            WireAddr::V4(b) => Addr::v4(b),
            WireAddr::V6(b) => Addr(b),
        }
    }
}

impl From<Endpoint> for WireEndpoint {
    fn from(e: Endpoint) -> Self {
        WireEndpoint {
            addr: e.addr.into(),
            port: e.port,
        }
    }
}

impl From<FlowKey> for WireKey {
    fn from(k: FlowKey) -> Self {
        WireKey {
            lo: k.lo.into(),
            hi: k.hi.into(),
            proto: k.proto,
            vlan: k.vlan,
        }
    }
}

impl From<Incarnation> for WireIncarnation {
    fn from(i: Incarnation) -> Self {
        WireIncarnation {
            created_ns: i.created_ns,
            owner: i.owner,
            id: i.id,
        }
    }
}

impl From<TcpHalf> for WireTcpHalf {
    fn from(h: TcpHalf) -> Self {
        WireTcpHalf {
            end: h.end.0,
            max_end: h.max_end.0,
            max_win: h.max_win,
            max_ack: h.max_ack.0,
            mss: h.mss,
            scale: h.scale,
            flags: h.flags,
        }
    }
}

impl From<TcpTrack> for WireTcp {
    fn from(t: TcpTrack) -> Self {
        WireTcp {
            state: tcp_state_code(t.state),
            simultaneous: t.simultaneous,
            half: t.half.map(WireTcpHalf::from),
        }
    }
}

impl From<SyncProto> for WireProto {
    fn from(p: SyncProto) -> Self {
        match p {
            SyncProto::Tcp(t) => WireProto::Tcp(t.into()),
            SyncProto::Udp | SyncProto::Other => WireProto::Datagram,
            SyncProto::IcmpEcho(e) => WireProto::IcmpEcho(e.into()),
        }
    }
}

impl From<&FlowState> for WireFlow {
    fn from(s: &FlowState) -> Self {
        WireFlow {
            key: s.key.into(),
            inc: s.inc.into(),
            orig_is_lo: s.orig_is_lo,
            flags: s.flags,
            ingress: s.ingress,
            class: s.class,
            seq_offset: s.seq_offset,
            min_ttl: s.min_ttl,
            macs: s.macs,
            proto: s.proto.into(),
            last_seen_ns: s.last_seen_ns,
        }
    }
}

impl From<&SyncEvent> for WireEvent {
    fn from(e: &SyncEvent) -> Self {
        match e {
            SyncEvent::Upsert(s) => WireEvent::Upsert(s.into()),
            SyncEvent::Delete { key, inc } => WireEvent::Delete {
                key: (*key).into(),
                inc: (*inc).into(),
            },
            SyncEvent::Demote { key, inc } => WireEvent::Demote {
                key: (*key).into(),
                inc: (*inc).into(),
            },
        }
    }
}

impl From<&Message> for Frame {
    fn from(m: &Message) -> Self {
        match m {
            Message::Hello {
                node,
                session,
                resume,
            } => Frame::Hello {
                node: *node,
                session: *session,
                resume: *resume,
            },
            Message::Events {
                seq,
                passive,
                events,
            } => Frame::Events {
                seq: *seq,
                passive: *passive,
                events: events.iter().map(WireEvent::from).collect(),
            },
            Message::Ack { seq } => Frame::Ack { seq: *seq },
            Message::BulkRequest { id, view, copies } => Frame::BulkRequest {
                id: *id,
                view: view.clone(),
                copies: *copies,
            },
            Message::BulkChunk { id, flows } => Frame::BulkChunk {
                id: *id,
                flows: flows.iter().map(WireFlow::from).collect(),
            },
            Message::BulkEnd { id, flows } => Frame::BulkEnd {
                id: *id,
                flows: *flows,
            },
            Message::Pull {
                origin,
                keys,
                answered,
            } => Frame::Pull {
                origin: *origin,
                keys: keys.iter().map(|&k| WireKey::from(k)).collect(),
                answered: answered.iter().map(|d| d.to_le_bytes()).collect(),
            },
            Message::State { copy, flows } => Frame::State {
                copy: (*copy).into(),
                flows: flows.iter().map(|(f, _)| WireFlow::from(f)).collect(),
                holders: flows.iter().map(|(_, h)| h.0).collect(),
            },
            Message::Confirm { flows } => Frame::Confirm {
                flows: flows
                    .iter()
                    .map(|c| WireConfirm {
                        key: c.key.into(),
                        inc: c.inc.into(),
                        digest: c.digest.to_le_bytes(),
                        last_seen_ns: c.last_seen_ns,
                        holders: c.holders.0,
                    })
                    .collect(),
            },
        }
    }
}

// === impl TryFrom (wire → engine) ===

impl From<WireEndpoint> for Endpoint {
    fn from(e: WireEndpoint) -> Self {
        Endpoint {
            addr: e.addr.into(),
            port: e.port,
        }
    }
}

impl TryFrom<WireKey> for FlowKey {
    type Error = WireError;

    fn try_from(k: WireKey) -> Result<Self, WireError> {
        // IEEE 802.1Q: the VLAN identifier is 12 bits.
        if k.vlan > 0xfff {
            return Err(WireError::Vlan(k.vlan));
        }
        Ok(FlowKey {
            lo: k.lo.into(),
            hi: k.hi.into(),
            proto: k.proto,
            vlan: k.vlan,
        })
    }
}

impl From<WireIncarnation> for Incarnation {
    fn from(i: WireIncarnation) -> Self {
        Incarnation {
            created_ns: i.created_ns,
            owner: i.owner,
            id: i.id,
        }
    }
}

impl From<WireTcpHalf> for TcpHalf {
    fn from(h: WireTcpHalf) -> Self {
        TcpHalf {
            end: SeqNumber(h.end),
            max_end: SeqNumber(h.max_end),
            max_win: h.max_win,
            max_ack: SeqNumber(h.max_ack),
            mss: h.mss,
            scale: h.scale,
            flags: h.flags,
        }
    }
}

impl TryFrom<WireTcp> for TcpTrack {
    type Error = WireError;

    fn try_from(t: WireTcp) -> Result<Self, WireError> {
        Ok(TcpTrack {
            state: tcp_state(t.state)?,
            simultaneous: t.simultaneous,
            half: t.half.map(TcpHalf::from),
            synack_data: 0,
        })
    }
}

/// The protocol state of a flow whose key's protocol is `key_proto`: a
/// datagram flow is UDP's under a UDP key, and any other protocol's
/// otherwise (whether that protocol may have one is
/// `FlowState::validate`'s to say).
fn sync_proto(p: WireProto, key_proto: u8) -> Result<SyncProto, WireError> {
    Ok(match p {
        WireProto::Tcp(t) => SyncProto::Tcp(t.try_into()?),
        WireProto::Datagram if key_proto == rampart_dataplane::flow::proto::UDP => SyncProto::Udp,
        WireProto::Datagram => SyncProto::Other,
        WireProto::IcmpEcho(e) => SyncProto::IcmpEcho(e.into()),
    })
}

impl TryFrom<WireFlow> for FlowState {
    type Error = WireError;

    fn try_from(s: WireFlow) -> Result<Self, WireError> {
        Ok(FlowState {
            key: s.key.try_into()?,
            inc: s.inc.into(),
            orig_is_lo: s.orig_is_lo,
            flags: s.flags,
            ingress: s.ingress,
            class: s.class,
            seq_offset: s.seq_offset,
            min_ttl: s.min_ttl,
            macs: s.macs,
            proto: sync_proto(s.proto, s.key.proto)?,
            last_seen_ns: s.last_seen_ns,
        })
    }
}

impl TryFrom<WireEvent> for SyncEvent {
    type Error = WireError;

    fn try_from(e: WireEvent) -> Result<Self, WireError> {
        Ok(match e {
            WireEvent::Upsert(s) => SyncEvent::Upsert(s.try_into()?),
            WireEvent::Delete { key, inc } => SyncEvent::Delete {
                key: key.try_into()?,
                inc: inc.into(),
            },
            WireEvent::Demote { key, inc } => SyncEvent::Demote {
                key: key.try_into()?,
                inc: inc.into(),
            },
        })
    }
}

impl TryFrom<Frame> for Message {
    type Error = WireError;

    fn try_from(f: Frame) -> Result<Self, WireError> {
        Ok(match f {
            Frame::Hello {
                node,
                session,
                resume,
            } => Message::Hello {
                node,
                session,
                resume,
            },
            Frame::Events {
                seq,
                passive,
                events,
            } => Message::Events {
                seq,
                passive,
                events: events
                    .into_iter()
                    .map(SyncEvent::try_from)
                    .collect::<Result<_, _>>()?,
            },
            Frame::Ack { seq } => Message::Ack { seq },
            Frame::BulkRequest { id, view, copies } => Message::BulkRequest { id, view, copies },
            Frame::BulkChunk { id, flows } => Message::BulkChunk {
                id,
                flows: flows
                    .into_iter()
                    .map(FlowState::try_from)
                    .collect::<Result<_, _>>()?,
            },
            Frame::BulkEnd { id, flows } => Message::BulkEnd { id, flows },
            Frame::Pull {
                origin,
                keys,
                answered,
            } => {
                if !answered.is_empty() && answered.len() != keys.len() {
                    return Err(WireError::Answered(keys.len(), answered.len()));
                }
                Message::Pull {
                    origin,
                    keys: keys
                        .into_iter()
                        .map(FlowKey::try_from)
                        .collect::<Result<_, _>>()?,
                    answered: answered.into_iter().map(u64::from_le_bytes).collect(),
                }
            }
            Frame::Confirm { flows } => Message::Confirm {
                flows: flows
                    .into_iter()
                    .map(|c| {
                        Ok(Confirm {
                            key: c.key.try_into()?,
                            inc: c.inc.into(),
                            digest: u64::from_le_bytes(c.digest),
                            last_seen_ns: c.last_seen_ns,
                            holders: PeerSet(c.holders),
                        })
                    })
                    .collect::<Result<_, WireError>>()?,
            },
            Frame::State {
                copy,
                flows,
                holders,
            } => {
                if holders.len() != flows.len() {
                    return Err(WireError::Mismatch(flows.len(), holders.len()));
                }
                Message::State {
                    copy: copy.into(),
                    flows: flows
                        .into_iter()
                        .zip(holders)
                        .map(|(f, h)| Ok((FlowState::try_from(f)?, PeerSet(h))))
                        .collect::<Result<_, WireError>>()?,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tcp_state_has_its_own_code_and_comes_back() {
        let codes: Vec<u8> = TcpState::ALL.iter().map(|s| tcp_state_code(*s)).collect();
        assert_eq!(codes, (0..10).collect::<Vec<u8>>());
        for s in TcpState::ALL {
            assert_eq!(tcp_state(tcp_state_code(s)), Ok(s));
        }
        for bad in [10, 42, 255] {
            assert_eq!(tcp_state(bad), Err(WireError::TcpState(bad)));
        }
    }
}
