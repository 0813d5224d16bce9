//! `packet-tracer`: what this engine would do with one packet, phase by
//! phase, as the ASA's command shows it (docs/asa-behaviour.md §2.4).
//!
//! The packet is built as a real frame and parsed by the engine's own
//! parser (so the checks before any rule, docs/asa-behaviour.md §7, are
//! the ones a real packet meets); the connection table is looked up, and
//! the policy asked, with the lookups that judge real packets
//! ([`Policy::explain_admission`] beside [`Policy::permits`],
//! [`Policy::classify`], [`Policy::icmp_inspection`], the TCP transition
//! table). [`Engine::packet_trace`] takes `&self`: a trace creates no
//! connection, sends nothing, tells no peer and counts nothing. The
//! ASA's virtual packet goes through its dataplane and opens a flow;
//! Rampart's does not.
//!
//! The steps follow the order of [`Engine::process`]: readiness, the
//! interface's gate, the parse, then by transport the table and the
//! rules. What a trace does not judge, it says: connection limits and a
//! full table (a new connection would meet them), and the window checks
//! of an existing TCP connection (the traced SYN carries no sequence
//! number of it).

use std::net::IpAddr;
use std::time::Duration;

use etherparse::{IpNumber, PacketBuilder};

use super::Engine;
use crate::class_slot::DEFAULT_SLOT;
use crate::conntrack::tcp::{Cell, TRANSITIONS, TcpEvent};
use crate::conntrack::{Count48, EchoSeqs, Entry, MacRef, ProtoState, TcpState, TcpTrack};
use crate::flow::{Direction, FlowKey};
use crate::packet::{Icmp, PacketMeta, Parsed, TcpSegment, Transport, parse};
use crate::policy::classifier::Probe;
use crate::policy::compile::explain::{AclHit, Admission};
use crate::policy::compile::{ClassDecision, IcmpInspection};
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId, Verdict};

/// One packet to trace: `packet-tracer input IFNAME [vlan-id N] …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRequest {
    /// The interface it arrives on.
    pub ingress: IfaceId,
    /// Its 802.1Q VLAN id; 0: untagged (docs/asa-behaviour.md §2.6).
    pub vlan: u16,
    /// Its source address.
    pub src: IpAddr,
    /// Its destination address, of the source's family.
    pub dst: IpAddr,
    /// What it carries.
    pub packet: TracePacket,
}

/// What the traced packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracePacket {
    /// A TCP SYN, as the ASA's virtual TCP packet is: the packet that
    /// opens a connection.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// An SCTP packet (its common header).
    Sctp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// An ICMP message (ICMPv6 between IPv6 addresses): its type, code
    /// and, for echo, identifier.
    Icmp {
        /// The type.
        icmp_type: u8,
        /// The code.
        code: u8,
        /// The echo identifier (0 for other types).
        ident: u16,
    },
    /// An IP packet of another protocol, without a header of its own.
    RawIp {
        /// The protocol number.
        protocol: u8,
    },
}

/// Why a packet cannot be traced (the request's fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceRefused {
    /// No interface has this index.
    #[error("interface index {0} is not one of this node's interfaces")]
    UnknownInterface(u8),
    /// The source and destination are of different families.
    #[error("the source and destination addresses must both be IPv4 or both IPv6")]
    MixedFamilies,
    /// A VLAN id outside 1-4094.
    #[error("vlan-id {0} is not 1-4094")]
    Vlan(u16),
    /// An ICMP error: it is judged by the connection it quotes.
    #[error(
        "ICMP type {0} is an error, judged by the connection it quotes (docs/asa-behaviour.md §2.5); trace that connection's packet instead"
    )]
    IcmpError(u8),
    /// A neighbour solicitation or advertisement: never judged by a rule.
    #[error(
        "ICMPv6 type {0} is neighbour discovery, which passes untracked under any policy when a host would accept it (docs/asa-behaviour.md §2.5)"
    )]
    NeighbourDiscovery(u8),
    /// `rawip` of a protocol whose header the engine reads.
    #[error(
        "protocol {0} has a header of its own that the rules read: trace it as tcp, udp, sctp or icmp"
    )]
    NeedsHeader(u8),
}

/// What the engine would do with a traced packet, step by step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Where it arrives.
    pub ingress: IfaceId,
    /// Where it would leave: the ingress interface's bridge partner.
    pub egress: IfaceId,
    /// The configuration shuts the ingress interface down.
    pub ingress_shut: bool,
    /// The configuration shuts the egress interface down.
    pub egress_shut: bool,
    /// The steps, in the order the engine takes them; the last one that
    /// drops is why.
    pub steps: Vec<Step>,
    /// Forward, or drop for this reason.
    pub verdict: Result<(), DropReason>,
    /// This engine's worker owns the packet's flow (the one whose table
    /// [`Step::FlowLookup`] read), as the kernel's fanout spreads flows.
    pub owner: bool,
}

/// One step of a trace.
// A trace is built once per `packet-tracer` run, never per packet: the
// size a tcp-map's settings give `ConnSettings` costs nothing that
// boxing it would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The node has not joined its cluster (or waits for the cluster's
    /// policy): it forwards nothing (`cluster-not-ready`).
    NotReady,
    /// The ingress interface's EtherType access-group denies all frames
    /// (`l2_acl`, docs/asa-behaviour.md §2.7).
    EthertypeDeny,
    /// A shun covers the packet's source on its interface or VLAN
    /// (`shunned`, docs/asa-behaviour.md §2.12).
    Shunned,
    /// The packet failed a check made before any rule or entry sees it
    /// (docs/asa-behaviour.md §7).
    InputCheck(DropReason),
    /// The connection table, in the VLAN of the packet.
    FlowLookup(Lookup),
    /// ICMP inspection (docs/asa-behaviour.md §2.5).
    Inspect(IcmpInspection),
    /// The access rules: whether a connection (or a stateless packet)
    /// may pass, and which line decided.
    Access(Admission),
    /// The connection settings a new connection would get.
    ConnSettings(Settings),
    /// A new connection would open.
    FlowCreation(NewFlow),
}

/// What the table holds for the packet's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No live entry: the packet opens a new connection, if anything.
    NotFound,
    /// The packet's kind never opens an entry (ICMP but echo): the rules
    /// judge each packet on its own.
    Untracked,
    /// A live entry.
    Found {
        /// Its connection id (`show conn`'s).
        id: u32,
        /// What it is.
        kind: FlowKind,
        /// What it does with the packet.
        outcome: Existing,
    },
}

/// The kind of an existing entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// Inspected TCP, in this state.
    Tcp(TcpState),
    /// TCP of a `tcp-state-bypass` class (flag `b`).
    Bypass,
    /// A UDP flow.
    Udp,
    /// An inspected ICMP echo flow.
    Echo,
    /// Another protocol's flow.
    Other,
}

/// What an existing entry does with the traced packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// It carries it: the rules are not asked (as on the ASA); for TCP
    /// the connection's state machine and windows judge a real packet.
    Uses,
    /// A passive copy of a peer's connection (docs/sync.md §13): the
    /// packet waits for its state to be pulled, and is judged on it.
    Passive,
    /// The connection's packets in this direction arrive on `expected`
    /// (`conn-wrong-interface`).
    WrongInterface {
        /// Their interface.
        expected: IfaceId,
    },
    /// A SYN on a connection that is over (TIME_WAIT, CLOSE): it opens a
    /// new one on the tuple, admitted by the rules as any new one.
    Reopens,
    /// A SYN the connection's TCP state refuses, for this reason.
    Refused(DropReason),
    /// An echo request of the flow's own requester: each request is
    /// judged by the rules in force (docs/asa-behaviour.md §2.5).
    RequestJudged,
    /// An echo request from the responder's side: no part of the flow,
    /// the rules judge it alone.
    NotPart,
    /// An echo reply from the requester's side: no flow answers it
    /// (`icmp-no-connection`).
    NoReply,
}

/// The connection settings of a new connection (docs/asa-behaviour.md
/// §2.2, §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The classes that apply and the options they give.
    pub decision: ClassDecision,
    /// For a class that matches by access-list, the list (an index into
    /// [`Policy::acls`](crate::policy::compile::Policy::acls)) and the
    /// entry that put the packet in it.
    pub class_acl: Option<(usize, Option<AclHit>)>,
    /// The same for the class that makes it bypass, when another.
    pub bypass_acl: Option<(usize, Option<AclHit>)>,
    /// The timeouts it would get, the class's or the defaults.
    pub timeouts: SettingTimeouts,
}

/// The timeouts a new connection would get; `Duration::MAX` is never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingTimeouts {
    /// Until the handshake completes (inspected TCP only).
    pub embryonic: Option<Duration>,
    /// Idle.
    pub idle: Duration,
    /// Once one side closed (inspected TCP only).
    pub half_closed: Option<Duration>,
}

/// The entry a new connection would get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewFlow {
    /// An inspected connection (state shared with peers in a cluster).
    Inspected {
        /// Its sequence numbers would be randomized.
        randomized: bool,
        /// In a cluster with a peer up: the packet waits until a peer
        /// acknowledges the insert (docs/sync.md §4).
        deferred: bool,
    },
    /// A `b` entry: no state checks, never synced.
    Bypass,
}

impl Engine {
    /// Trace `req` at `now`: what this engine would do with it, without
    /// doing any of it.
    pub fn packet_trace(&self, req: &TraceRequest, now: Instant) -> Result<Trace, TraceRefused> {
        let Some(iface) = self.config.interfaces.get(usize::from(req.ingress.0)) else {
            return Err(TraceRefused::UnknownInterface(req.ingress.0));
        };
        if req.src.is_ipv4() != req.dst.is_ipv4() {
            return Err(TraceRefused::MixedFamilies);
        }
        if req.vlan > 4094 {
            return Err(TraceRefused::Vlan(req.vlan));
        }
        let (ingress, egress) = (req.ingress, iface.peer);
        let mut t = Trace {
            ingress,
            egress,
            ingress_shut: self.policy.is_shut(ingress),
            egress_shut: self.policy.is_shut(egress),
            steps: Vec::new(),
            verdict: Ok(()),
            owner: true,
        };
        if let Some(Verdict::Drop(reason)) = self.not_ready() {
            t.steps.push(Step::NotReady);
            t.verdict = Err(reason);
            return Ok(t);
        }
        // The gate the engine keeps from the policy (`Engine::gate_drop`).
        if let Some(reason) = self.gates.get(usize::from(ingress.0)).copied().flatten() {
            if reason == DropReason::EthertypeDeny {
                t.steps.push(Step::EthertypeDeny);
            }
            t.verdict = Err(reason);
            return Ok(t);
        }
        let frame = frame(req);
        // The shun list, before anything else judges the packet
        // (`Engine::shun_drop`).
        if self.shunning.covers(req.src, ingress, req.vlan) {
            t.steps.push(Step::Shunned);
            t.verdict = Err(DropReason::Shunned);
            return Ok(t);
        }
        let (tuple, transport, ah) = match parse(&frame, PacketMeta::default()) {
            Ok(Parsed::Ip {
                tuple,
                transport,
                ah,
                ..
            }) => (tuple, transport, ah),
            Ok(Parsed::Arp) => unreachable!("the trace builds an IP packet"),
            Err(reason) => return refused_or(req, reason, t),
        };
        let (key, src_is_lo) = FlowKey::of(&tuple);
        if let Some(w) = &self.config.workers {
            t.owner = (w.worker_of)(&key, w.count) == w.index;
        }
        // As the engine sees it (`Pkt::probe`): an ICMP message's type and
        // code are what a typed entry matches (docs/asa-behaviour.md §2.1).
        let probe = Probe::of_packet(&tuple, ah, transport.icmp_type_code(tuple.src.addr.is_v6()));
        let found = self
            .table
            .find(self.table.hash(&key), &key)
            .filter(|&id| !self.is_expired(self.table.get(id), now));
        let ctx = Ctx {
            ingress,
            egress,
            probe,
            key,
            now,
        };
        // The existing entry and what it does with the packet.
        let existing = found.map(|id| {
            let e = self.table.get(id);
            let dir = e.direction(src_is_lo);
            let outcome = if self.passive_copy(id) {
                Existing::Passive
            } else if e.ingress[dir.index()] != ingress {
                Existing::WrongInterface {
                    expected: e.ingress[dir.index()],
                }
            } else {
                existing_outcome(e, dir, &transport, ah)
            };
            (e.id, flow_kind(e), outcome)
        });
        let looked = |t: &mut Trace| {
            t.steps.push(Step::FlowLookup(match existing {
                Some((id, kind, outcome)) => Lookup::Found { id, kind, outcome },
                None => Lookup::NotFound,
            }));
        };
        match transport {
            Transport::Tcp(seg) => {
                looked(&mut t);
                if let Some(verdict) = settled(existing.map(|e| e.2)) {
                    t.verdict = verdict;
                    return Ok(t);
                }
                let decision = self.policy.classify(ingress, egress, &probe);
                let proto = if decision.options.tcp_state_bypass {
                    ProtoState::TcpBypass
                } else {
                    ProtoState::Tcp(TcpTrack::open(&seg))
                };
                self.open(&mut t, &ctx, decision, proto, Some(&seg));
            }
            Transport::Udp { .. } | Transport::Other => {
                looked(&mut t);
                if let Some(verdict) = settled(existing.map(|e| e.2)) {
                    t.verdict = verdict;
                    return Ok(t);
                }
                let decision = self.policy.classify(ingress, egress, &probe);
                let proto = match transport {
                    Transport::Udp { .. } => ProtoState::Udp,
                    _ => ProtoState::Other,
                };
                self.open(&mut t, &ctx, decision, proto, None);
            }
            Transport::Icmp(Icmp::EchoRequest { seq, .. }) => {
                looked(&mut t);
                if let Some(verdict) = settled(existing.map(|e| e.2)) {
                    t.verdict = verdict;
                    return Ok(t);
                }
                let inspection = self.policy.icmp_inspection(ingress, egress, &probe);
                t.steps.push(Step::Inspect(inspection));
                // Without `inspect icmp` echo is stateless; a request of
                // a flow, or no part of one, is judged by the rules alone.
                if !inspection.echo || existing.is_some() {
                    self.access(&mut t, &ctx);
                    return Ok(t);
                }
                let decision = self.policy.classify(ingress, egress, &probe);
                let proto = ProtoState::IcmpEcho(EchoSeqs::opened(seq));
                self.open(&mut t, &ctx, decision, proto, None);
            }
            Transport::Icmp(Icmp::EchoReply { .. }) => {
                looked(&mut t);
                if let Some(verdict) = settled(existing.map(|e| e.2)) {
                    t.verdict = verdict;
                    return Ok(t);
                }
                let inspection = self.policy.icmp_inspection(ingress, egress, &probe);
                t.steps.push(Step::Inspect(inspection));
                if inspection.echo {
                    // Only a request opens an echo flow.
                    t.verdict = Err(DropReason::IcmpNoConnection);
                } else {
                    self.access(&mut t, &ctx);
                }
            }
            Transport::Icmp(Icmp::Other { .. }) => {
                t.steps.push(Step::FlowLookup(Lookup::Untracked));
                self.access(&mut t, &ctx);
            }
            Transport::Icmp(Icmp::Error { icmp_type, .. }) => {
                return Err(TraceRefused::IcmpError(icmp_type));
            }
            Transport::Icmp(Icmp::NeighborDiscovery) => {
                return Err(TraceRefused::NeighbourDiscovery(match req.packet {
                    TracePacket::Icmp { icmp_type, .. } => icmp_type,
                    _ => 0,
                }));
            }
        }
        Ok(t)
    }

    /// The access rules' steps, the way in then the egress interface's
    /// `out` access-group; whether they let the packet pass.
    fn access(&self, t: &mut Trace, ctx: &Ctx) -> bool {
        let admission = self
            .policy
            .explain_admission(ctx.ingress, ctx.egress, &ctx.probe);
        t.steps.push(Step::Access(admission));
        let egress = admission
            .permits()
            .then(|| self.policy.explain_egress(ctx.egress, &ctx.probe))
            .flatten();
        if let Some(out) = egress {
            t.steps.push(Step::Access(out));
        }
        let permits = egress.unwrap_or(admission).permits();
        if !permits {
            t.verdict = Err(DropReason::AclDeny);
        }
        permits
    }

    /// A new connection: the rules, its settings, its creation.
    fn open(
        &self,
        t: &mut Trace,
        ctx: &Ctx,
        decision: ClassDecision,
        proto: ProtoState,
        syn: Option<&TcpSegment>,
    ) {
        if !self.access(t, ctx) {
            return;
        }
        let bypass = proto == ProtoState::TcpBypass;
        let timeouts = self.setting_timeouts(ctx, &decision, proto);
        t.steps.push(Step::ConnSettings(Settings {
            decision,
            class_acl: decision
                .class
                .and_then(|c| self.policy.class_acl_hit(c, &ctx.probe)),
            bypass_acl: decision
                .bypass_class
                .and_then(|c| self.policy.class_acl_hit(c, &ctx.probe)),
            timeouts,
        }));
        t.steps.push(Step::FlowCreation(if bypass {
            NewFlow::Bypass
        } else {
            NewFlow::Inspected {
                // As `Engine::tcp` decides it for a SYN.
                randomized: syn.is_some() && decision.options.random_sequence_number,
                deferred: self.sync.as_ref().is_some_and(|s| s.active()),
            }
        }));
    }

    /// The timeouts an entry of `proto` gets from `decision`: the
    /// engine's own lookup ([`Timeouts::for_entry`](crate::conntrack::Timeouts::for_entry))
    /// on the entry it would create, in each state that has a timeout.
    fn setting_timeouts(
        &self,
        ctx: &Ctx,
        decision: &ClassDecision,
        proto: ProtoState,
    ) -> SettingTimeouts {
        let entry = |proto| Entry {
            key: ctx.key,
            flags: 0,
            ingress: [ctx.ingress, ctx.egress],
            owner: self.config.node,
            class: DEFAULT_SLOT,
            min_ttl: [u8::MAX; 2],
            seq_offset: 0,
            proto,
            last_seen: ctx.now,
            packets: [Count48::default(); 2],
            bytes: [Count48::default(); 2],
            created: ctx.now,
            id: 0,
            macs: MacRef::default(),
        };
        let timeout = |proto| {
            self.config
                .timeouts
                .for_entry(&entry(proto), &decision.options)
        };
        match proto {
            ProtoState::Tcp(track) => {
                let at = |state| ProtoState::Tcp(TcpTrack { state, ..track });
                SettingTimeouts {
                    embryonic: Some(timeout(at(TcpState::SynSent))),
                    idle: timeout(at(TcpState::Established)),
                    half_closed: Some(timeout(at(TcpState::CloseWait))),
                }
            }
            other => SettingTimeouts {
                embryonic: None,
                idle: timeout(other),
                half_closed: None,
            },
        }
    }
}

/// What the policy steps look at.
struct Ctx {
    ingress: IfaceId,
    egress: IfaceId,
    probe: Probe,
    key: FlowKey,
    now: Instant,
}

/// A parse error as the trace reports it: a refusal where the request
/// asked for a packet the parser needs more of (an ICMP error's quote,
/// neighbour discovery's fields, a protocol's header), else the check
/// that drops the packet.
fn refused_or(req: &TraceRequest, reason: DropReason, mut t: Trace) -> Result<Trace, TraceRefused> {
    match (req.packet, reason) {
        // The trace's own source check comes first: a bad source is the
        // packet's fault whatever it carries.
        (_, DropReason::InvalidSource) => {}
        (TracePacket::Icmp { icmp_type, .. }, DropReason::IcmpMalformed) => {
            return Err(TraceRefused::IcmpError(icmp_type));
        }
        (TracePacket::Icmp { icmp_type, .. }, DropReason::NdInvalid) => {
            return Err(TraceRefused::NeighbourDiscovery(icmp_type));
        }
        (TracePacket::RawIp { protocol }, _) => return Err(TraceRefused::NeedsHeader(protocol)),
        _ => {}
    }
    t.steps.push(Step::InputCheck(reason));
    t.verdict = Err(reason);
    Ok(t)
}

/// The verdict an existing entry settles without the rules, if it does.
fn settled(outcome: Option<Existing>) -> Option<Result<(), DropReason>> {
    match outcome? {
        Existing::Uses | Existing::Passive => Some(Ok(())),
        Existing::WrongInterface { .. } => Some(Err(DropReason::InterfaceMismatch)),
        Existing::Refused(reason) => Some(Err(reason)),
        Existing::NoReply => Some(Err(DropReason::IcmpNoConnection)),
        Existing::Reopens | Existing::RequestJudged | Existing::NotPart => None,
    }
}

fn flow_kind(e: &Entry) -> FlowKind {
    match &e.proto {
        ProtoState::Tcp(t) => FlowKind::Tcp(t.state),
        ProtoState::TcpBypass => FlowKind::Bypass,
        ProtoState::Udp => FlowKind::Udp,
        ProtoState::IcmpEcho(_) => FlowKind::Echo,
        ProtoState::Other => FlowKind::Other,
    }
}

/// What entry `e` does with the traced packet arriving in direction
/// `dir` on the right interface, as `Engine::tcp` and
/// `Engine::datagram` decide it.
fn existing_outcome(e: &Entry, dir: Direction, transport: &Transport, ah: bool) -> Existing {
    let over = matches!(e.tcp_state(), Some(TcpState::TimeWait | TcpState::Close));
    match transport {
        Transport::Tcp(_) => match &e.proto {
            // A SYN with or without the header reopens a finished tuple
            // only; otherwise the header must be the connection's.
            _ if e.ah() != ah && !over => Existing::Refused(DropReason::AhMismatch),
            _ if e.ah() != ah => Existing::Reopens,
            ProtoState::Tcp(track) => {
                match TRANSITIONS[dir.index()][TcpEvent::Syn as usize][track.state as usize] {
                    Cell::Reopen => Existing::Reopens,
                    Cell::Invalid(reason) => Existing::Refused(reason),
                    Cell::To(_) | Cell::Closing | Cell::Ignore => Existing::Uses,
                }
            }
            _ => Existing::Uses,
        },
        _ if e.ah() != ah => Existing::Refused(DropReason::AhMismatch),
        Transport::Icmp(Icmp::EchoRequest { .. }) => match dir {
            Direction::Orig => Existing::RequestJudged,
            Direction::Reply => Existing::NotPart,
        },
        Transport::Icmp(Icmp::EchoReply { .. }) => match dir {
            Direction::Orig => Existing::NoReply,
            Direction::Reply => Existing::Uses,
        },
        _ => Existing::Uses,
    }
}

/// The MAC addresses of the traced frame: locally administered, and
/// never looked at (a bridge forwards by its interface pairs).
const TRACE_MACS: [[u8; 6]; 2] = [[0x02, 0, 0, 0, 0, 1], [0x02, 0, 0, 0, 0, 2]];

/// The traced packet as a frame: a TCP SYN, a UDP datagram, an SCTP
/// common header, an ICMP message, or an IP header alone, with a VLAN
/// tag if asked. Its checksums are right.
pub(crate) fn frame(req: &TraceRequest) -> Vec<u8> {
    let l2 = PacketBuilder::ethernet2(TRACE_MACS[0], TRACE_MACS[1]);
    let mut out = Vec::new();
    macro_rules! finish {
        ($ip:expr, $icmp_raw:ident) => {{
            let ip = $ip;
            match req.packet {
                TracePacket::Tcp { sport, dport } => {
                    ip.tcp(sport, dport, 1, 64_240).syn().write(&mut out, &[])
                }
                TracePacket::Udp { sport, dport } => ip.udp(sport, dport).write(&mut out, &[]),
                TracePacket::Sctp { sport, dport } => {
                    // The common header: ports, verification tag,
                    // checksum (RFC 9260 §3.1); the rules read the ports.
                    let mut h = [0u8; 12];
                    h[..2].copy_from_slice(&sport.to_be_bytes());
                    h[2..4].copy_from_slice(&dport.to_be_bytes());
                    ip.write(&mut out, IpNumber(crate::flow::proto::SCTP), &h)
                }
                TracePacket::Icmp {
                    icmp_type,
                    code,
                    ident,
                } => {
                    let [a, b] = ident.to_be_bytes();
                    ip.$icmp_raw(icmp_type, code, [a, b, 0, 1])
                        .write(&mut out, &[0u8; 8])
                }
                // Written as "no next header" and given its number after
                // (`set_protocol`): the builder would write headers of its
                // own for some numbers (IPv6 extensions, AH), and has none
                // to write.
                TracePacket::RawIp { .. } => ip.write(&mut out, IpNumber::IPV6_NO_NEXT_HEADER, &[]),
            }
        }};
    }
    let written = match (req.src, req.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => finish!(l2.ipv4(s.octets(), d.octets(), 64), icmpv4_raw),
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            finish!(l2.ipv6(v6(s), v6(d), 64), icmpv6_raw)
        }
    };
    written.expect("writing to a Vec cannot fail");
    if let TracePacket::RawIp { protocol } = req.packet {
        set_protocol(&mut out, protocol);
    }
    if req.vlan != 0 {
        crate::packet::push_vlan_tag(&mut out, 0, req.vlan);
    }
    out
}

/// Give the IP header of an untagged frame `protocol` (IPv4's with its
/// header checksum made again, RFC 791 §3.1).
fn set_protocol(frame: &mut [u8], protocol: u8) {
    const L3: usize = 14;
    if frame[L3] >> 4 == 6 {
        // The next header field (RFC 8200 §3); IPv6 has no header checksum.
        frame[L3 + 6] = protocol;
        return;
    }
    let header_len = usize::from(frame[L3] & 0x0f) * 4;
    let header = &mut frame[L3..L3 + header_len];
    header[9] = protocol;
    header[10..12].fill(0);
    let sum = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = (folded & 0xffff) + (folded >> 16);
    header[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
}

#[cfg(test)]
mod tests;
