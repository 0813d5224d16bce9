//! The simulator's traffic: flows between a client (behind each node's
//! `inside` interface) and a server (behind `outside`), each a correct
//! endpoint pair that sends one segment at a time and retransmits what was
//! lost. TCP flows are the dataplane's own [`TcpModel`] (random initial
//! sequence numbers, windows, window scaling, FIN or RST closes); UDP and
//! ICMP flows are request/response exchanges.

use std::net::IpAddr;

use rampart_dataplane::IfaceId;
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::{PacketMeta, Parsed, TcpFlags, parse};
use rampart_dataplane::trace::{Host, Side, TcpModel, echo_frame, udp_frame};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Port of the tcp-state-bypass class in the simulator's policy.
pub const BYPASS_PORT: u16 = 5002;
/// Client ports (and ICMP echo ids) start here; flow `i` uses `BASE + i`.
pub const PORT_BASE: u16 = 20_000;

/// What a flow carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Inspected TCP (strict tracking, sequence randomization).
    Tcp,
    /// TCP in the tcp-state-bypass class: never synced.
    Bypass,
    /// UDP request/response.
    Udp,
    /// ICMP echo request/reply.
    Icmp,
}

impl Kind {
    /// Whether the flow's state is shared with peers.
    pub fn synced(self) -> bool {
        self != Kind::Bypass
    }
}

/// A segment in flight: sent, not yet delivered.
#[derive(Debug, Clone)]
pub struct Outstanding {
    /// Which side sent it.
    pub from: Side,
    /// The frame as the endpoint sent it (retransmitted unchanged).
    pub frame: Vec<u8>,
    /// Whether it is an RST (the flow ends with it).
    pub rst: bool,
    /// Whether it is the client's SYN (its node picks the sequence offset).
    pub syn: bool,
    /// Transmissions so far.
    pub attempts: u32,
    /// The simulation-wide number of its latest transmission (what its
    /// retransmission timer refers to).
    pub tx: u64,
    /// The node it was last sent through, whether that node holds it, and
    /// which life of the node.
    pub at: Option<(usize, bool, u32)>,
    /// When that node took it to hold (simulated ns): a packet held and
    /// never released was dropped by its deadline, not when its sender's
    /// timer finds it gone.
    pub held_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Syn,
    SynAck,
    Ack,
    Data,
    /// FIN from the first closer, its ACK, FIN from the other, its ACK.
    Fin(u8, Side),
    Done,
}

/// One conversation.
#[derive(Debug)]
pub struct Flow {
    /// Index.
    pub id: usize,
    /// What it carries.
    pub kind: Kind,
    /// The client end.
    pub client: Host,
    /// The server end.
    pub server: Host,
    /// Its direction-normalised key.
    pub key: FlowKey,
    /// The 802.1Q VLAN its frames carry (0: untagged).
    pub vlan: u16,
    model: Option<TcpModel>,
    phase: Phase,
    /// Exchanges left before the close.
    pub rounds: u32,
    close_rst: bool,
    /// Nodes carrying client→server and server→client packets.
    pub path: [usize; 2],
    /// Every node that ever carried one of its packets.
    pub seen: Vec<usize>,
    /// When it started (simulation time, ns).
    pub started: u64,
    /// The segment in flight.
    pub outstanding: Option<Outstanding>,
    /// Every segment was delivered.
    pub done: bool,
    /// A node crashed holding state of this flow that no live node had:
    /// the flow may be lost (a correct firewall may drop it from then on).
    pub at_risk: bool,
    /// It reuses a tuple whose old connection a fault kept some node on its
    /// path from seeing closed: that node's stale entry may block the tuple
    /// until it expires, as on a standalone firewall that missed the close.
    pub stale_tuple: bool,
    /// For a reused tuple: nodes a fault cut off from the node its SYN
    /// crossed when it began.
    pub cut_off: Vec<usize>,
    /// For a reused tuple begun while nodes were cut off: the incarnations
    /// of the old connection the nodes held then.
    pub old_incs: Vec<rampart_dataplane::sync::Incarnation>,
    /// Segments delivered.
    pub delivered: u32,
    /// Retransmissions.
    pub retransmits: u32,
    /// Held copies presumed dropped at their deadline (node, life): a late
    /// release of one proves otherwise.
    pub presumed_dropped: Vec<(usize, u32)>,
    udp_seq: u16,
    /// A segment to send again once the one it acknowledges, sent again by
    /// the other side, has arrived.
    reack: Option<Outstanding>,
}

fn host(last: u8, port: u16, iface: u8) -> Host {
    Host {
        mac: [0x02, 0, 0, 0, iface, last],
        ip: IpAddr::from([198, 18, iface, last]),
        port,
        iface: IfaceId(iface),
    }
}

impl Flow {
    /// A new flow `id` of `kind` on `path`, started at `now_ns`.
    pub fn new(id: usize, kind: Kind, path: [usize; 2], now_ns: u64, rng: &mut ChaCha8Rng) -> Flow {
        // Each odd flow is its even neighbour's twin on VLAN 10: the same
        // addresses and ports (the same tuple where the kinds agree), a
        // connection of its own (docs/asa-behaviour.md §2.6).
        let (vlan, twin) = if id % 2 == 1 {
            (TWIN_VLAN, id - 1)
        } else {
            (0, id)
        };
        let id_port = u16::try_from(twin).expect("fewer flows than ports");
        let port = PORT_BASE + id_port;
        let server_port = match kind {
            Kind::Tcp => 80,
            Kind::Bypass => BYPASS_PORT,
            Kind::Udp => 53,
            Kind::Icmp => 0,
        };
        let client = host(10 + (twin % 200) as u8, port, 0);
        let server = host(20 + (twin % 100) as u8, server_port, 1);
        let isn = [rng.random(), rng.random()];
        Flow::between(id, kind, (client, server, vlan), isn, path, now_ns, rng)
    }

    /// A new connection `id` on the same tuple as this one, which closed
    /// with FINs: the client reuses its port at once, as a stack whose side
    /// of the old connection is closed does, with an initial sequence
    /// number above the old connection's (a server in TIME-WAIT accepts
    /// such a SYN, RFC 9293 §3.6.1 and RFC 6191). `None` unless this is an
    /// inspected TCP flow closed with FINs that left no held copy behind.
    pub fn reuse(&self, id: usize, now_ns: u64, rng: &mut ChaCha8Rng) -> Option<Flow> {
        let m = self.model.as_ref()?;
        if self.kind != Kind::Tcp
            || self.close_rst
            || !self.done
            || self.at_risk
            || !self.presumed_dropped.is_empty()
        {
            return None;
        }
        let isn = [
            m.next_seq(Side::Client)
                .wrapping_add(rng.random_range(1..=1_000_000)),
            rng.random(),
        ];
        Some(Flow::between(
            id,
            self.kind,
            (self.client, self.server, self.vlan),
            isn,
            self.path,
            now_ns,
            rng,
        ))
    }

    fn between(
        id: usize,
        kind: Kind,
        (client, server, vlan): (Host, Host, u16),
        isn: [u32; 2],
        path: [usize; 2],
        now_ns: u64,
        rng: &mut ChaCha8Rng,
    ) -> Flow {
        let model = matches!(kind, Kind::Tcp | Kind::Bypass).then(|| {
            let scale = |r: &mut ChaCha8Rng| {
                if r.random_bool(0.7) {
                    Some(r.random_range(0..=9))
                } else {
                    None
                }
            };
            let wscale = [scale(rng), scale(rng)];
            TcpModel::new(
                client,
                server,
                isn,
                [
                    rng.random_range(2_000..=65_535),
                    rng.random_range(2_000..=65_535),
                ],
                wscale,
            )
        });
        let probe = tag(
            vlan,
            match &model {
                Some(m) => m.frame(&probe_syn()),
                None => exchange_frame(kind, &client, &server, Side::Client, 0),
            },
        );
        Flow {
            id,
            kind,
            client,
            server,
            key: key_of(&probe).expect("the flow's own frame parses"),
            vlan,
            model,
            phase: if matches!(kind, Kind::Tcp | Kind::Bypass) {
                Phase::Syn
            } else {
                Phase::Data
            },
            rounds: rng.random_range(2..=24),
            close_rst: rng.random_bool(0.25),
            path,
            seen: Vec::new(),
            started: now_ns,
            outstanding: None,
            done: false,
            at_risk: false,
            stale_tuple: false,
            cut_off: Vec::new(),
            old_incs: Vec::new(),
            delivered: 0,
            retransmits: 0,
            presumed_dropped: Vec::new(),
            udp_seq: 0,
            reack: None,
        }
    }

    /// A crash or a stale tuple excuses its failure.
    pub fn excused(&self) -> bool {
        self.at_risk || self.stale_tuple
    }

    /// The client→server tuple.
    pub fn tuple(&self) -> rampart_dataplane::flow::Tuple {
        let proto = match self.kind {
            Kind::Tcp | Kind::Bypass => rampart_dataplane::flow::proto::TCP,
            Kind::Udp => rampart_dataplane::flow::proto::UDP,
            Kind::Icmp => rampart_dataplane::flow::proto::ICMP,
        };
        rampart_dataplane::flow::Tuple {
            src: rampart_dataplane::flow::Endpoint {
                addr: self.client.ip.into(),
                port: self.client.port,
            },
            dst: rampart_dataplane::flow::Endpoint {
                addr: self.server.ip.into(),
                port: self.server.port,
            },
            proto,
            vlan: self.vlan,
        }
    }

    /// Tell a TCP flow the sequence offset its client's SYN was given.
    pub fn set_shift(&mut self, shift: u32) {
        if let Some(m) = &mut self.model {
            m.set_shift(shift);
        }
    }

    /// The interface a packet from `side` arrives on.
    pub fn ingress(&self, side: Side) -> IfaceId {
        match side {
            Side::Client => self.client.iface,
            Side::Server => self.server.iface,
        }
    }

    /// The segment in flight was lost. A request/response client asks
    /// again rather than the server answering again unasked: a DNS
    /// resolver repeats its query, ping sends its next sequence number (an
    /// inspected echo flow passes one reply per request, so a repeated
    /// request would get no second reply through). Returns `false` when
    /// the segment in flight is to be sent again as it is.
    pub fn lost(&mut self) -> bool {
        if matches!(self.kind, Kind::Udp | Kind::Icmp)
            && self
                .outstanding
                .as_ref()
                .is_some_and(|o| o.from == Side::Server)
        {
            self.outstanding = None;
            if self.kind == Kind::Udp {
                self.udp_seq -= 2;
            }
            self.rounds += 1;
            return true;
        }
        false
    }

    /// The next segment of the conversation (none when it is over).
    pub fn next_segment(&mut self, rng: &mut ChaCha8Rng) -> Option<Outstanding> {
        if self.done {
            return None;
        }
        if let Some(ack) = self.reack.take() {
            return Some(ack);
        }
        let made = match self.kind {
            Kind::Udp | Kind::Icmp => {
                if self.rounds == 0 {
                    None
                } else {
                    let from = if self.udp_seq.is_multiple_of(2) {
                        Side::Client
                    } else {
                        Side::Server
                    };
                    let frame = tag(
                        self.vlan,
                        exchange_frame(
                            self.kind,
                            &self.client,
                            &self.server,
                            from,
                            self.udp_seq / 2,
                        ),
                    );
                    self.udp_seq += 1;
                    if from == Side::Server {
                        self.rounds -= 1;
                    }
                    Some((from, frame, false, false))
                }
            }
            Kind::Tcp | Kind::Bypass => self.next_tcp(rng),
        };
        match made {
            None => {
                self.done = true;
                None
            }
            Some((from, frame, rst, syn)) => Some(Outstanding {
                from,
                frame,
                rst,
                syn,
                attempts: 0,
                tx: 0,
                at: None,
                held_at: 0,
            }),
        }
    }

    /// The segment in flight, which acknowledges the other side's, was
    /// lost: the other side, which never learned that its segments arrived,
    /// sends the first of them that occupies sequence space again (its own
    /// retransmission timer; RFC 9293 §3.8.1, a SYN-ACK in SYN-RECEIVED
    /// included), and the lost segment follows it again. Returns `false`
    /// when the other side has nothing unacknowledged; otherwise that
    /// segment is now in flight.
    pub fn peer_resends(&mut self) -> bool {
        let (Some(m), Some(out)) = (&self.model, &self.outstanding) else {
            return false;
        };
        let Some((last, earlier)) = m.sent.split_last() else {
            return false;
        };
        if out.from != last.from || last.flags & TcpFlags::ACK == 0 {
            return false;
        }
        // The other side's segments since this side's previous one.
        let since = earlier
            .iter()
            .rposition(|g| g.from == last.from)
            .map_or(0, |p| p + 1);
        let Some(seg) = earlier[since..]
            .iter()
            .find(|g| g.payload_len > 0 || g.flags & (TcpFlags::SYN | TcpFlags::FIN) != 0)
        else {
            return false;
        };
        // A client whose SYN went unanswered sends the SYN again, which the
        // retransmission of the SYN-ACK in flight stands for.
        if seg.flags & TcpFlags::ACK == 0 {
            return false;
        }
        let again = Outstanding {
            from: seg.from,
            frame: tag(self.vlan, m.frame(seg)),
            rst: false,
            syn: false,
            attempts: out.attempts,
            tx: 0,
            at: None,
            held_at: 0,
        };
        self.reack = self.outstanding.replace(again).map(|mut o| {
            o.at = None;
            o
        });
        true
    }

    fn next_tcp(&mut self, rng: &mut ChaCha8Rng) -> Option<(Side, Vec<u8>, bool, bool)> {
        let m = self.model.as_mut().expect("TCP flows have a model");
        let (seg, rst, syn) = match self.phase {
            Phase::Syn => {
                self.phase = Phase::SynAck;
                (m.syn(), false, true)
            }
            Phase::SynAck => {
                self.phase = Phase::Ack;
                (m.syn_ack(), false, false)
            }
            Phase::Ack => {
                self.phase = Phase::Data;
                (m.ack(Side::Client), false, false)
            }
            Phase::Data if self.rounds > 0 => {
                self.rounds -= 1;
                let side = if rng.random_bool(0.5) {
                    Side::Client
                } else {
                    Side::Server
                };
                let room = m.sendable(side);
                if room > 0 && rng.random_bool(0.7) {
                    let len = rng.random_range(1..=1400).min(room);
                    (m.data(side, len), false, false)
                } else {
                    (m.ack(side), false, false)
                }
            }
            Phase::Data => {
                let side = if rng.random_bool(0.5) {
                    Side::Client
                } else {
                    Side::Server
                };
                if self.close_rst {
                    self.phase = Phase::Done;
                    (m.rst(side), true, false)
                } else {
                    self.phase = Phase::Fin(1, side);
                    (m.fin(side), false, false)
                }
            }
            Phase::Fin(step, first) => {
                let (side, next) = match step {
                    1 => (first.other(), Phase::Fin(2, first)),
                    2 => (first.other(), Phase::Fin(3, first)),
                    _ => (first, Phase::Done),
                };
                self.phase = next;
                let seg = if step == 2 { m.fin(side) } else { m.ack(side) };
                (seg, false, false)
            }
            Phase::Done => return None,
        };
        Some((seg.from, tag(self.vlan, m.frame(&seg)), rst, syn))
    }
}

/// The VLAN of the odd flows, twins of the even ones.
const TWIN_VLAN: u16 = 10;

/// `frame` as it travels on `vlan` (untagged on 0).
fn tag(vlan: u16, frame: Vec<u8>) -> Vec<u8> {
    match vlan {
        0 => frame,
        v => rampart_dataplane::trace::vlan_tagged(frame, 0, v),
    }
}

/// The direction-normalised key of a frame's flow.
pub fn key_of(frame: &[u8]) -> Option<FlowKey> {
    match parse(frame, PacketMeta::default()) {
        Ok(Parsed::Ip { tuple, .. }) => Some(FlowKey::of(&tuple).0),
        _ => None,
    }
}

/// A SYN from the client, only to learn the flow's key.
fn probe_syn() -> rampart_dataplane::trace::Seg {
    rampart_dataplane::trace::Seg {
        from: Side::Client,
        seq: 0,
        ack: 0,
        flags: rampart_dataplane::packet::TcpFlags::SYN,
        window: 1000,
        wscale: None,
        sack: Vec::new(),
        payload_len: 0,
    }
}

/// Request (`Client`) or response (`Server`) number `seq` of a UDP or
/// ICMP echo flow.
fn exchange_frame(kind: Kind, client: &Host, server: &Host, from: Side, seq: u16) -> Vec<u8> {
    let (src, dst) = match from {
        Side::Client => (client, server),
        Side::Server => (server, client),
    };
    if kind == Kind::Icmp {
        echo_frame(src, dst, client.port, seq, from == Side::Server)
    } else {
        udp_frame(src, dst, &seq.to_be_bytes())
    }
}
