//! ASA syslog message texts (docs/asa-behaviour.md §4) for the engine's connection
//! events. No NAT: the mapped address in parentheses is the real one.

use std::net::IpAddr;

use rampart_dataplane::conntrack::entry::conn_flags;
use rampart_dataplane::conntrack::{Entry, ProtoState, TcpState};
use rampart_dataplane::counters::RemoveReason;
use rampart_dataplane::engine::connlog::{ConnEvent, DenyDetail, duration};
use rampart_dataplane::flow::{Direction, Endpoint, Tuple, proto};
use rampart_dataplane::packet::TcpFlags;
use rampart_dataplane::{DropReason, IfaceId, InterfaceConfig};

use crate::duration::hms;

/// One message: `%ASA-<severity>-<id>: <text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message id (302013, …).
    pub id: u32,
    /// Severity, 0–7.
    pub severity: u8,
    /// The text after the tag.
    pub text: String,
}

impl Message {
    /// The message as the ASA prints it after its timestamp prefix.
    pub fn line(&self) -> String {
        format!("%ASA-{}-{}: {}", self.severity, self.id, self.text)
    }
}

/// What the formatter needs of the node's configuration.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Interfaces by `IfaceId`.
    pub interfaces: &'a [InterfaceConfig],
}

impl Context<'_> {
    fn name(&self, i: IfaceId) -> &str {
        self.interfaces
            .get(usize::from(i.0))
            .map_or("unknown", |i| i.nameif.as_str())
    }

    fn level(&self, i: IfaceId) -> u8 {
        self.interfaces
            .get(usize::from(i.0))
            .map_or(0, |i| i.security_level)
    }
}

fn ep(ctx: &Context<'_>, iface: IfaceId, e: Endpoint) -> String {
    format!("{}:{}/{}", ctx.name(iface), e.addr.ip(), e.port)
}

fn mapped(e: Endpoint) -> String {
    format!("({}/{})", e.addr.ip(), e.port)
}

/// `interface:address` for a protocol without ports, `interface:address/port`
/// for one with them (SCTP).
fn ep_of(ctx: &Context<'_>, iface: IfaceId, e: Endpoint, p: u8) -> String {
    if proto::has_ports(p) {
        ep(ctx, iface, e)
    } else {
        format!("{}:{}", ctx.name(iface), e.addr.ip())
    }
}

// Cisco ASA Series Syslog Messages documents built and teardown messages
// for three IP protocols besides TCP, UDP and ICMP: GRE (302017, 302018:
// from one end to the other, the second end with its PPTP call id, which
// only `inspect pptp` knows: addresses alone here), SCTP (302035, 302036:
// as TCP's, `for` the lower-security side) and IP in IP (302037, 302038).
// It documents none for ESP or any other protocol, so Rampart logs none
// for them (docs/asa-behaviour.md §4), nor for IP in IP, whose documented
// form (`<if>:<ip>/{<mapped ip>|<port>}`) does not say what a connection
// without ports prints.
/// Built message of a GRE connection.
const GRE_BUILT: u32 = 302017;
/// Teardown message of a GRE connection.
const GRE_TEARDOWN: u32 = 302018;
/// Built message of an SCTP connection.
const SCTP_BUILT: u32 = 302035;
/// Teardown message of an SCTP connection.
const SCTP_TEARDOWN: u32 = 302036;

/// The entry's two ends with their interfaces: (initiator, responder).
fn ends(e: &Entry) -> ((IfaceId, Endpoint), (IfaceId, Endpoint)) {
    (
        (e.ingress[Direction::Orig.index()], e.initiator()),
        (e.ingress[Direction::Reply.index()], e.responder()),
    )
}

/// `for` is the lower-security side, `to` the higher; `inbound` when the
/// lower side opened it (docs/asa-behaviour.md §4).
fn for_to(ctx: &Context<'_>, e: &Entry) -> ((IfaceId, Endpoint), (IfaceId, Endpoint), bool) {
    let (init, resp) = ends(e);
    if ctx.level(init.0) < ctx.level(resp.0) {
        (init, resp, true)
    } else {
        (resp, init, false)
    }
}

/// Which side reset the connection, as `TCP Reset-I` (the higher-security
/// side) or `TCP Reset-O`, with the interface it came from (ASA 9.x).
fn reset_reason(ctx: &Context<'_>, e: &Entry) -> Option<String> {
    let dir = if e.flags & conn_flags::RESET_ORIG != 0 {
        Direction::Orig
    } else if e.flags & conn_flags::RESET_REPLY != 0 {
        Direction::Reply
    } else {
        return None;
    };
    let from = e.ingress[dir.index()];
    let other = e.ingress[dir.other().index()];
    let side = if ctx.level(from) > ctx.level(other) {
        "I"
    } else {
        "O"
    };
    Some(format!("TCP Reset-{side} from {}", ctx.name(from)))
}

/// The teardown reason of an inspected or bypass TCP connection, or of an
/// SCTP one (tracked by its idle timer alone: `Conn-timeout` as TCP's).
pub fn teardown_reason(ctx: &Context<'_>, e: &Entry, reason: RemoveReason) -> String {
    let closed_reason = |e: &Entry| match e.tcp_state() {
        Some(TcpState::TimeWait) => Some("TCP FINs".to_string()),
        Some(TcpState::Close) => Some(reset_reason(ctx, e).unwrap_or_else(|| "TCP Reset".into())),
        _ => None,
    };
    match reason {
        RemoveReason::Timeout | RemoveReason::Reopen => {
            if let Some(r) = closed_reason(e) {
                return r;
            }
            match e.tcp_state() {
                Some(s) if s.is_embryonic() => "SYN Timeout".into(),
                Some(s) if s.is_half_closed() || s == TcpState::LastAck => "FIN Timeout".into(),
                _ => "Conn-timeout".into(),
            }
        }
        RemoveReason::Reset => reset_reason(ctx, e).unwrap_or_else(|| "TCP Reset".into()),
        // Dead connection detection freed an idle connection: its idle
        // timeout ran out with an end that no longer answers
        // (docs/asa-behaviour.md §2.2, §4; the reason is *inferred*).
        RemoveReason::DeadConnection => "Conn-timeout".into(),
        // The ASA's reason for removal from the command line.
        RemoveReason::Cleared => "Xlate Clear".into(),
        // A peer's delete: as a standby removing what its active unit
        // closed.
        RemoveReason::Peer => "Failover primary closed".into(),
        RemoveReason::Superseded => "Unknown".into(),
        // Removed early to make room: a connection already over keeps the
        // reason it ended with; a half-open one never completed; a flow
        // of another protocol (SCTP) idled unanswered.
        RemoveReason::Evicted | RemoveReason::EmbryonicLimit => {
            closed_reason(e).unwrap_or_else(|| match e.tcp_state() {
                Some(_) => "SYN Timeout".into(),
                None => "Conn-timeout".into(),
            })
        }
    }
}

fn flag_names(f: TcpFlags) -> String {
    // docs/asa-behaviour.md §4: space-separated names, each followed by a
    // space (the ASA prints two spaces before `on`).
    let mut out = String::new();
    for (bit, name) in [
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
    ] {
        if f.has(bit) {
            out.push_str(name);
            out.push(' ');
        }
    }
    out
}

fn proto_lower(p: u8) -> String {
    match p {
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMP => "icmp".into(),
        proto::ICMPV6 => "icmp6".into(),
        proto::SCTP => "sctp".into(),
        // As the ASA names a protocol without a keyword of its own in
        // 106023 and 106010 (`Deny protocol 47 src …`).
        n => format!("protocol {n}"),
    }
}

fn ip(e: Endpoint) -> IpAddr {
    e.addr.ip()
}

fn denied(
    ctx: &Context<'_>,
    t: &Tuple,
    (ingress, egress): (IfaceId, IfaceId),
    by: Option<&str>,
    reason: DropReason,
    detail: DenyDetail,
) -> Option<Message> {
    let (src, dst) = (t.src, t.dst);
    match reason {
        DropReason::TcpNotSyn => {
            let DenyDetail::Tcp(f) = detail else {
                return None;
            };
            Some(Message {
                id: 106015,
                severity: 6,
                text: format!(
                    "Deny TCP (no connection) from {}/{} to {}/{} flags {} on interface {}",
                    ip(src),
                    src.port,
                    ip(dst),
                    dst.port,
                    flag_names(f),
                    ctx.name(ingress)
                ),
            })
        }
        DropReason::AclDeny => {
            // The list that refused it, as the policy in force then
            // named it.
            Some(match (by, detail) {
                // An access-group denied it (106023 is logged even without
                // `log` on the ACE). No ACE hashes: 0x0 as for the implicit deny.
                (Some(acl), DenyDetail::Icmp { icmp_type, code }) => Message {
                    id: 106023,
                    severity: 4,
                    text: format!(
                        "Deny {} src {}:{} dst {}:{} (type {icmp_type}, code {code}) by access-group \"{acl}\" [0x0, 0x0]",
                        proto_lower(t.proto),
                        ctx.name(ingress),
                        ip(src),
                        ctx.name(egress),
                        ip(dst)
                    ),
                },
                (Some(acl), _) => Message {
                    id: 106023,
                    severity: 4,
                    text: format!(
                        "Deny {} src {} dst {} by access-group \"{acl}\" [0x0, 0x0]",
                        proto_lower(t.proto),
                        ep_of(ctx, ingress, src, t.proto),
                        ep_of(ctx, egress, dst, t.proto)
                    ),
                },
                // No access-group: the security levels refused it, which the
                // ASA logs as 106001 (TCP), 106006 (UDP), 106014 (ICMP).
                (None, DenyDetail::Tcp(f)) => Message {
                    id: 106001,
                    severity: 2,
                    text: format!(
                        "Inbound TCP connection denied from {}/{} to {}/{} flags {} on interface {}",
                        ip(src),
                        src.port,
                        ip(dst),
                        dst.port,
                        flag_names(f),
                        ctx.name(ingress)
                    ),
                },
                (None, DenyDetail::Icmp { icmp_type, code }) => Message {
                    id: 106014,
                    severity: 3,
                    text: format!(
                        "Deny inbound {} src {}:{} dst {}:{} (type {icmp_type}, code {code})",
                        proto_lower(t.proto),
                        ctx.name(ingress),
                        ip(src),
                        ctx.name(egress),
                        ip(dst)
                    ),
                },
                // Any other protocol: 106010, `Deny inbound protocol`.
                (None, DenyDetail::None) if t.proto != proto::UDP => Message {
                    id: 106010,
                    severity: 3,
                    text: format!(
                        "Deny inbound {} src {} dst {}",
                        proto_lower(t.proto),
                        ep_of(ctx, ingress, src, t.proto),
                        ep_of(ctx, egress, dst, t.proto)
                    ),
                },
                (None, DenyDetail::None) => Message {
                    id: 106006,
                    severity: 2,
                    text: format!(
                        "Deny inbound UDP from {}/{} to {}/{} on interface {}",
                        ip(src),
                        src.port,
                        ip(dst),
                        dst.port,
                        ctx.name(ingress)
                    ),
                },
            })
        }
        _ => None,
    }
}

/// The message for an event (`None`: the ASA logs nothing for it, as for
/// ICMP echo connections here, or documents nothing to log: ESP and the
/// other protocols besides GRE and SCTP).
pub fn format_event(ctx: &Context<'_>, ev: &ConnEvent) -> Option<Message> {
    match ev {
        ConnEvent::Built(e) => match e.proto {
            ProtoState::TcpBypass => {
                let (init, resp) = ends(e);
                Some(Message {
                    id: 302303,
                    severity: 6,
                    text: format!(
                        "Built TCP state-bypass connection {} from {} {} to {} {}",
                        e.id,
                        ep(ctx, init.0, init.1),
                        mapped(init.1),
                        ep(ctx, resp.0, resp.1),
                        mapped(resp.1)
                    ),
                })
            }
            ProtoState::Tcp(_) | ProtoState::Udp => {
                let (f, t, inbound) = for_to(ctx, e);
                let (id, p) = if matches!(e.proto, ProtoState::Udp) {
                    (302015, "UDP")
                } else {
                    (302013, "TCP")
                };
                Some(Message {
                    id,
                    severity: 6,
                    text: format!(
                        "Built {} {p} connection {} for {} {} to {} {}",
                        if inbound { "inbound" } else { "outbound" },
                        e.id,
                        ep(ctx, f.0, f.1),
                        mapped(f.1),
                        ep(ctx, t.0, t.1),
                        mapped(t.1)
                    ),
                })
            }
            ProtoState::IcmpEcho(_) => None,
            ProtoState::Other => match e.key.proto {
                proto::GRE => {
                    let (init, resp) = ends(e);
                    let (_, _, inbound) = for_to(ctx, e);
                    Some(Message {
                        id: GRE_BUILT,
                        severity: 6,
                        text: format!(
                            "Built {} GRE connection {} from {} ({}) to {} ({})",
                            if inbound { "inbound" } else { "outbound" },
                            e.id,
                            ep_of(ctx, init.0, init.1, proto::GRE),
                            ip(init.1),
                            ep_of(ctx, resp.0, resp.1, proto::GRE),
                            ip(resp.1)
                        ),
                    })
                }
                proto::SCTP => {
                    let (f, t, inbound) = for_to(ctx, e);
                    Some(Message {
                        id: SCTP_BUILT,
                        severity: 6,
                        text: format!(
                            "Built {} SCTP connection {} for {} {} to {} {}",
                            if inbound { "inbound" } else { "outbound" },
                            e.id,
                            ep(ctx, f.0, f.1),
                            mapped(f.1),
                            ep(ctx, t.0, t.1),
                            mapped(t.1)
                        ),
                    })
                }
                _ => None,
            },
        },
        ConnEvent::Teardown {
            entry: e,
            reason,
            ended,
        } => {
            let d = hms(duration(e, *ended));
            let bytes = e.total_bytes();
            match e.proto {
                ProtoState::TcpBypass => {
                    let (init, resp) = ends(e);
                    Some(Message {
                        id: 302304,
                        severity: 6,
                        text: format!(
                            "Teardown TCP state-bypass connection {} from {} to {} duration {d} bytes {bytes} {}",
                            e.id,
                            ep(ctx, init.0, init.1),
                            ep(ctx, resp.0, resp.1),
                            teardown_reason(ctx, e, *reason)
                        ),
                    })
                }
                ProtoState::Tcp(_) => {
                    let (f, t, _) = for_to(ctx, e);
                    Some(Message {
                        id: 302014,
                        severity: 6,
                        text: format!(
                            "Teardown TCP connection {} for {} to {} duration {d} bytes {bytes} {}",
                            e.id,
                            ep(ctx, f.0, f.1),
                            ep(ctx, t.0, t.1),
                            teardown_reason(ctx, e, *reason)
                        ),
                    })
                }
                ProtoState::Udp => {
                    let (f, t, _) = for_to(ctx, e);
                    Some(Message {
                        id: 302016,
                        severity: 6,
                        text: format!(
                            "Teardown UDP connection {} for {} to {} duration {d} bytes {bytes}",
                            e.id,
                            ep(ctx, f.0, f.1),
                            ep(ctx, t.0, t.1)
                        ),
                    })
                }
                ProtoState::IcmpEcho(_) => None,
                ProtoState::Other => match e.key.proto {
                    proto::GRE => {
                        let (init, resp) = ends(e);
                        Some(Message {
                            id: GRE_TEARDOWN,
                            severity: 6,
                            text: format!(
                                "Teardown GRE connection {} from {} to {} duration {d} bytes {bytes}",
                                e.id,
                                ep_of(ctx, init.0, init.1, proto::GRE),
                                ep_of(ctx, resp.0, resp.1, proto::GRE)
                            ),
                        })
                    }
                    proto::SCTP => {
                        let (f, t, _) = for_to(ctx, e);
                        Some(Message {
                            id: SCTP_TEARDOWN,
                            severity: 6,
                            text: format!(
                                "Teardown SCTP connection {} for {} to {} duration {d} bytes {bytes} {}",
                                e.id,
                                ep(ctx, f.0, f.1),
                                ep(ctx, t.0, t.1),
                                teardown_reason(ctx, e, *reason)
                            ),
                        })
                    }
                    _ => None,
                },
            }
        }
        ConnEvent::Denied {
            tuple,
            ingress,
            egress,
            by,
            reason,
            detail,
            ..
        } => denied(
            ctx,
            tuple,
            (*ingress, *egress),
            by.as_ref().map(|(_, name)| &**name),
            *reason,
            *detail,
        ),
        // "Shunned packet: IP_address ==> IP_address on interface
        // interface_name" (Cisco ASA Series Syslog Messages, 401004).
        ConnEvent::Shunned {
            src, dst, ingress, ..
        } => Some(Message {
            id: 401004,
            severity: 2,
            text: format!(
                "Shunned packet: {src} ==> {dst} on interface {}",
                ctx.name(*ingress)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    //! Every message from a real engine fed real frames, checked against
    //! the templates of docs/asa-behaviour.md §4 with this engine's addresses.
    use super::*;
    use rampart_dataplane::conntrack::NodeId;
    use rampart_dataplane::packet::PacketMeta;
    use rampart_dataplane::policy::compile::{compile, randomization_off};
    use rampart_dataplane::policy::parse::parse_config;
    use rampart_dataplane::trace::{
        Seg, Side, TcpModel, ip_frame, sctp_header, udp_frame, v4_pair,
    };
    use rampart_dataplane::{Engine, EngineConfig, Instant};
    use std::sync::Arc;
    use std::time::Duration;

    struct H {
        eng: Engine,
        now: Instant,
    }

    impl H {
        fn new(policy: Option<&str>) -> Self {
            let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(1), [5; 4])).unwrap();
            let cfg = match policy {
                Some(text) => {
                    let mut c = parse_config(text).unwrap().config;
                    rampart_dataplane::policy::compile::disable_randomization(&mut c);
                    c
                }
                None => randomization_off(),
            };
            let p = compile(&cfg, &eng.config().interfaces).unwrap();
            eng.set_policy(Arc::new(p))
                .expect("the policy's classes fit");
            eng.set_conn_log(64);
            H {
                eng,
                now: Instant::from_secs(10_000),
            }
        }

        fn tcp(&mut self, m: &TcpModel, s: &Seg) {
            self.eng.process(
                &mut m.frame(s),
                PacketMeta::default(),
                m.iface(s.from),
                self.now,
            );
        }

        fn ip(
            &mut self,
            src: &rampart_dataplane::trace::Host,
            dst: &rampart_dataplane::trace::Host,
            p: u8,
            payload: &[u8],
        ) {
            self.eng.process(
                &mut ip_frame(src, dst, p, payload),
                PacketMeta::default(),
                src.iface,
                self.now,
            );
        }

        fn later(&mut self, secs: u64) {
            self.now = self.now + Duration::from_secs(secs);
        }

        /// Messages so far, as lines.
        fn lines(&mut self) -> Vec<String> {
            let mut evs = Vec::new();
            self.eng.take_conn_events(&mut evs);
            let ctx = Context {
                interfaces: &self.eng.config().interfaces,
            };
            evs.iter()
                .filter_map(|e| format_event(&ctx, e))
                .map(|m| m.line())
                .collect()
        }
    }

    #[test]
    fn tcp_built_and_teardown_by_fins() {
        let mut h = H::new(None);
        let (c, s) = v4_pair(40_000, 80);
        let mut m = TcpModel::new(c, s, [1, 2], [64_000, 64_000], [None, None]);
        for seg in m.handshake() {
            h.tcp(&m, &seg);
        }
        let d = m.data(Side::Client, 100);
        h.tcp(&m, &d);
        h.later(5);
        for seg in [
            m.fin(Side::Client),
            m.ack(Side::Server),
            m.fin(Side::Server),
            m.ack(Side::Client),
        ] {
            h.tcp(&m, &seg);
        }
        h.later(3600);
        h.eng.expire(h.now);
        let lines = h.lines();
        assert_eq!(
            lines,
            [
                "%ASA-6-302013: Built outbound TCP connection 1 for outside:198.18.1.10/80 (198.18.1.10/80) to inside:198.18.0.10/40000 (198.18.0.10/40000)",
                // SYN and SYN-ACK with their MSS option (48 bytes), the ACK
                // and 4 closing segments (40), 140 of data; ended at the
                // last segment.
                "%ASA-6-302014: Teardown TCP connection 1 for outside:198.18.1.10/80 to inside:198.18.0.10/40000 duration 0:00:05 bytes 436 TCP FINs",
            ]
        );
    }

    #[test]
    fn tcp_reset_from_outside_and_syn_timeout() {
        let mut h = H::new(None);
        let (c, s) = v4_pair(40_001, 443);
        let mut m = TcpModel::new(c, s, [1, 2], [64_000, 64_000], [None, None]);
        for seg in m.handshake() {
            h.tcp(&m, &seg);
        }
        h.later(2);
        let r = m.rst(Side::Server);
        h.tcp(&m, &r);
        let (c2, s2) = v4_pair(40_002, 443);
        let mut m2 = TcpModel::new(c2, s2, [1, 2], [64_000, 64_000], [None, None]);
        let syn = m2.syn();
        h.tcp(&m2, &syn);
        h.later(3600);
        h.eng.expire(h.now);
        let lines = h.lines();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines.contains(&"%ASA-6-302014: Teardown TCP connection 1 for outside:198.18.1.10/443 to inside:198.18.0.10/40001 duration 0:00:02 bytes 176 TCP Reset-O from outside".to_string()), "{lines:#?}");
        // An embryonic connection lasts its embryonic timeout.
        assert!(lines.contains(&"%ASA-6-302014: Teardown TCP connection 2 for outside:198.18.1.10/443 to inside:198.18.0.10/40002 duration 0:00:30 bytes 48 SYN Timeout".to_string()), "{lines:#?}");
    }

    #[test]
    fn udp_built_and_teardown() {
        let mut h = H::new(None);
        let (c, s) = v4_pair(5353, 53);
        h.eng.process(
            &mut udp_frame(&c, &s, b"q"),
            PacketMeta::default(),
            c.iface,
            h.now,
        );
        h.eng.process(
            &mut udp_frame(&s, &c, b"answer"),
            PacketMeta::default(),
            s.iface,
            h.now,
        );
        h.later(600);
        h.eng.expire(h.now);
        assert_eq!(
            h.lines(),
            [
                "%ASA-6-302015: Built outbound UDP connection 1 for outside:198.18.1.10/53 (198.18.1.10/53) to inside:198.18.0.10/5353 (198.18.0.10/5353)",
                "%ASA-6-302016: Teardown UDP connection 1 for outside:198.18.1.10/53 to inside:198.18.0.10/5353 duration 0:02:00 bytes 63",
            ]
        );
    }

    const BYPASS: &str = "access-list byp extended permit tcp any any eq 445
access-list byp extended permit tcp any eq 445 any
class-map byp
 match access-list byp
policy-map global_policy
 class byp
  set connection advanced-options tcp-state-bypass
service-policy global_policy global
";

    #[test]
    fn state_bypass_built_from_initiator_and_teardown() {
        let mut h = H::new(Some(BYPASS));
        // Mid-stream: the client's data opens the entry (bypass creates
        // entries from any packet the access rules permit).
        let (c, s) = v4_pair(40_010, 445);
        let mut m = TcpModel::new(c, s, [1, 2], [64_000, 64_000], [None, None]);
        m.handshake();
        let d = m.data(Side::Client, 10);
        h.tcp(&m, &d);
        h.later(1000);
        h.eng.expire(h.now);
        assert_eq!(
            h.lines(),
            [
                "%ASA-6-302303: Built TCP state-bypass connection 1 from inside:198.18.0.10/40010 (198.18.0.10/40010) to outside:198.18.1.10/445 (198.18.1.10/445)",
                "%ASA-6-302304: Teardown TCP state-bypass connection 1 from inside:198.18.0.10/40010 to outside:198.18.1.10/445 duration 0:02:00 bytes 50 Conn-timeout",
            ]
        );
    }

    #[test]
    fn a_shunned_packet_is_401004() {
        let interfaces = InterfaceConfig::inside_outside();
        let ctx = Context {
            interfaces: &interfaces,
        };
        let ev = ConnEvent::Shunned {
            src: "198.18.1.66".parse().unwrap(),
            dst: "2001:db8::1".parse().unwrap(),
            ingress: IfaceId(1),
            at: rampart_dataplane::time::Instant::from_nanos(0),
        };
        assert_eq!(
            format_event(&ctx, &ev).map(|m| m.line()).as_deref(),
            Some("%ASA-2-401004: Shunned packet: 198.18.1.66 ==> 2001:db8::1 on interface outside")
        );
    }

    #[test]
    fn denies_by_access_group_security_level_and_no_connection() {
        let mut h = H::new(Some(
            "access-list OUT_IN extended permit tcp any any eq 22\naccess-group OUT_IN in interface outside\n",
        ));
        let (c, s) = v4_pair(40_020, 23);
        // From outside to port 23: the access-group denies it.
        let mut m = TcpModel::new(s, c, [1, 2], [1000, 1000], [None, None]);
        let syn = m.syn();
        h.tcp(&m, &syn);
        // From inside, an ACK with no connection.
        let mut m2 = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
        m2.handshake();
        let ack = m2.ack(Side::Client);
        h.tcp(&m2, &ack);
        let lines = h.lines();
        assert_eq!(
            lines,
            [
                "%ASA-4-106023: Deny tcp src outside:198.18.1.10/23 dst inside:198.18.0.10/40020 by access-group \"OUT_IN\" [0x0, 0x0]",
                "%ASA-6-106015: Deny TCP (no connection) from 198.18.0.10/40020 to 198.18.1.10/23 flags ACK  on interface inside",
            ]
        );
        // Without an access-group the security levels refuse it: 106001.
        let mut h = H::new(None);
        h.tcp(&m, &syn);
        let (uc, us) = v4_pair(5000, 53);
        h.eng.process(
            &mut udp_frame(&us, &uc, b"x"),
            PacketMeta::default(),
            us.iface,
            h.now,
        );
        assert_eq!(
            h.lines(),
            [
                "%ASA-2-106001: Inbound TCP connection denied from 198.18.1.10/23 to 198.18.0.10/40020 flags SYN  on interface outside",
                "%ASA-2-106006: Deny inbound UDP from 198.18.1.10/53 to 198.18.0.10/5000 on interface outside",
            ]
        );
    }

    /// 106023 names the list that refused the packet: the global list for
    /// what the interface's own does not match, the egress interface's
    /// `out` list for what the way in let through (docs/asa-behaviour.md
    /// §2.3, §4).
    #[test]
    fn denies_name_the_global_or_out_list_that_refused() {
        let mut h = H::new(Some(
            "access-list OWN extended permit tcp any any eq 22\n\
             access-list GLOBAL extended deny tcp any any eq 25\n\
             access-list OUTSIDE_OUT extended deny tcp any any eq 80\n\
             access-group OWN in interface inside\n\
             access-group GLOBAL global\n\
             access-group OUTSIDE_OUT out interface outside\n",
        ));
        for (port, client_port) in [(25, 40_030), (26, 40_031), (22, 40_032)] {
            let (c, s) = v4_pair(client_port, port);
            let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
            let syn = m.syn();
            h.tcp(&m, &syn);
        }
        assert_eq!(
            h.lines(),
            [
                "%ASA-4-106023: Deny tcp src inside:198.18.0.10/40030 dst outside:198.18.1.10/25 by access-group \"GLOBAL\" [0x0, 0x0]",
                "%ASA-4-106023: Deny tcp src inside:198.18.0.10/40031 dst outside:198.18.1.10/26 by access-group \"GLOBAL\" [0x0, 0x0]",
                "%ASA-4-106023: Deny tcp src inside:198.18.0.10/40032 dst outside:198.18.1.10/22 by access-group \"OUTSIDE_OUT\" [0x0, 0x0]",
            ]
        );
    }

    /// A deny logged before a policy change names the list of the policy
    /// that refused it, not whatever the new policy binds when the
    /// logger takes the events.
    #[test]
    fn a_deny_names_the_list_of_the_policy_that_refused_it() {
        let mut h = H::new(Some(
            "access-list OLD extended deny tcp any any eq 25\naccess-group OLD global\n",
        ));
        let (c, s) = v4_pair(40_050, 25);
        let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
        let syn = m.syn();
        h.tcp(&m, &syn);
        for next in [
            "",
            "access-list NEW extended deny tcp any any\naccess-group NEW global\n",
        ] {
            let cfg = parse_config(next).unwrap().config;
            let p = compile(&cfg, &h.eng.config().interfaces).unwrap();
            h.eng.set_policy(Arc::new(p)).unwrap();
        }
        assert_eq!(
            h.lines(),
            [
                "%ASA-4-106023: Deny tcp src inside:198.18.0.10/40050 dst outside:198.18.1.10/25 by access-group \"OLD\" [0x0, 0x0]",
            ]
        );
    }

    #[test]
    fn cleared_connections_say_so() {
        let mut h = H::new(None);
        let (c, s) = v4_pair(40_030, 80);
        let mut m = TcpModel::new(c, s, [1, 2], [64_000, 64_000], [None, None]);
        for seg in m.handshake() {
            h.tcp(&m, &seg);
        }
        h.eng.clear_conns(|_| true);
        let lines = h.lines();
        assert_eq!(
            lines[1],
            "%ASA-6-302014: Teardown TCP connection 1 for outside:198.18.1.10/80 to inside:198.18.0.10/40030 duration 0:00:00 bytes 136 Xlate Clear"
        );
    }

    /// GRE in 302017/302018, from the initiator to the responder by
    /// address alone; SCTP in 302035/302036, as TCP's (`for` the lower
    /// side, with ports); ESP and the protocols the syslog guide has no
    /// message for (115, L2TPv3) log nothing. Each lasts its idle timeout
    /// after its last packet: 2 minutes (ESP's 30 s end unlogged).
    #[test]
    fn gre_and_sctp_built_and_teardown_others_unlogged() {
        let mut h = H::new(None);
        let (c, s) = v4_pair(0, 0);
        h.ip(&c, &s, 47, &[0, 0, 0x08, 0, 0x45, 0, 0, 20]);
        h.ip(&s, &c, 47, &[0, 0, 0x08, 0, 0x45, 0, 0, 20]);
        h.later(10);
        h.ip(&c, &s, 50, &[0, 0, 1, 0, 0, 0, 0, 1]);
        h.ip(&c, &s, 115, b"l2tp");
        let (sc, ss) = v4_pair(40_000, 2905);
        h.ip(&sc, &ss, 132, &sctp_header(&sc, &ss));
        h.later(3600);
        h.eng.expire(h.now);
        assert_eq!(
            h.lines(),
            [
                "%ASA-6-302017: Built outbound GRE connection 1 from inside:198.18.0.10 (198.18.0.10) to outside:198.18.1.10 (198.18.1.10)",
                "%ASA-6-302035: Built outbound SCTP connection 4 for outside:198.18.1.10/2905 (198.18.1.10/2905) to inside:198.18.0.10/40000 (198.18.0.10/40000)",
                "%ASA-6-302018: Teardown GRE connection 1 from inside:198.18.0.10 to outside:198.18.1.10 duration 0:02:00 bytes 56",
                "%ASA-6-302036: Teardown SCTP connection 4 for outside:198.18.1.10/2905 to inside:198.18.0.10/40000 duration 0:02:00 bytes 32 Conn-timeout",
            ]
        );
        assert_eq!(h.eng.table().len(), 0, "ESP and 115 ended too, unlogged");
    }

    /// Opened from the lower-security side: `inbound`, the GRE message
    /// still from the initiator.
    #[test]
    fn inbound_gre_and_sctp() {
        let mut h = H::new(Some(
            "access-list OUT_IN extended permit gre any any
access-list OUT_IN extended permit sctp any any eq 2905
access-group OUT_IN in interface outside
",
        ));
        let (c, s) = v4_pair(2905, 40_000);
        h.ip(&s, &c, 47, &[0, 0, 0x08, 0]);
        h.ip(&s, &c, 132, &sctp_header(&s, &c));
        assert_eq!(
            h.lines(),
            [
                "%ASA-6-302017: Built inbound GRE connection 1 from outside:198.18.1.10 (198.18.1.10) to inside:198.18.0.10 (198.18.0.10)",
                "%ASA-6-302035: Built inbound SCTP connection 2 for outside:198.18.1.10/40000 (198.18.1.10/40000) to inside:198.18.0.10/2905 (198.18.0.10/2905)",
            ]
        );
    }

    #[test]
    fn other_protocols_denied_by_access_group_and_security_level() {
        let mut h = H::new(Some(
            "access-list OUT_IN extended permit tcp any any eq 22\naccess-group OUT_IN in interface outside\n",
        ));
        let (c, s) = v4_pair(40_000, 2905);
        h.ip(&s, &c, 47, &[0, 0, 0x08, 0]);
        h.ip(&s, &c, 132, &sctp_header(&s, &c));
        let mut h2 = H::new(None);
        h2.ip(&s, &c, 50, &[0, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(
            [h.lines(), h2.lines()].concat(),
            [
                "%ASA-4-106023: Deny protocol 47 src outside:198.18.1.10 dst inside:198.18.0.10 by access-group \"OUT_IN\" [0x0, 0x0]",
                "%ASA-4-106023: Deny sctp src outside:198.18.1.10/2905 dst inside:198.18.0.10/40000 by access-group \"OUT_IN\" [0x0, 0x0]",
                "%ASA-3-106010: Deny inbound protocol 50 src outside:198.18.1.10 dst inside:198.18.0.10",
            ]
        );
    }
}
