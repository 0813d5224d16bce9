//! The engine's trace steps as the ASA's `packet-tracer` phases: each
//! with the configuration lines that decided, printed as `show
//! running-config` prints them (from the configuration the running policy
//! was compiled from, `Policy::source`), and what it means.

use std::time::Duration;

use rampart_dataplane::engine::tracer::{
    Existing, FlowKind, Lookup, NewFlow, Settings, Step, Trace, TracePacket, TraceRequest,
};
use rampart_dataplane::policy::ast::{
    AccessGroup, AclLine, Action, ClassMap, ClassMatch, Config, Ethertype, EthertypeLine,
    EthertypeList, PolicyMap, ServicePolicy, ServiceScope,
};
use rampart_dataplane::policy::compile::explain::{AclHit, Admission};
use rampart_dataplane::policy::compile::{AclBinding, ConnOptions, IcmpInspection, Policy};
use rampart_dataplane::policy::render::{acl_line_named, render};
use rampart_dataplane::{DropReason, Engine, IfaceId};

use crate::duration::hms;
use crate::model::{PacketTrace, TracePhase};

/// The phases, verdict and interfaces of `trace`, a trace of `req` on
/// `engine` (its policy names the lines) by worker `worker`.
pub fn describe(engine: &Engine, req: &TraceRequest, trace: &Trace, worker: usize) -> PacketTrace {
    let policy = &**engine.policy();
    let name = |i: IfaceId| {
        engine
            .config()
            .interfaces
            .get(usize::from(i.0))
            .map_or_else(|| format!("interface {}", i.0), |c| c.nameif.clone())
    };
    let at = Lines {
        policy,
        source: policy.source(),
        input: name(trace.ingress),
        output: name(trace.egress),
    };
    // ICMP that opens no flow (echo uninspected, or a reply): the ASA's
    // "creating a new flow" is not said. Only an inspected request that
    // the rules judge may open one.
    let stateless = matches!(req.packet, TracePacket::Icmp { .. }) && {
        let has = |f: fn(&Step) -> bool| trace.steps.iter().any(f);
        !(has(|s| matches!(s, Step::Inspect(i) if i.echo)) && has(|s| matches!(s, Step::Access(_))))
    };
    let mut phases: Vec<TracePhase> = trace
        .steps
        .iter()
        .map(|step| match step {
            Step::NotReady => not_ready(),
            Step::EthertypeDeny => at.ethertype_deny(),
            Step::Shunned => shunned(),
            Step::InputCheck(reason) => input_check(*reason),
            Step::FlowLookup(lookup) => flow_lookup(lookup, req, stateless, worker),
            Step::Inspect(i) => inspect(*i),
            Step::Access(a) => at.access(a),
            Step::ConnSettings(s) => at.settings(s, req),
            Step::FlowCreation(f) => flow_creation(*f),
        })
        .collect();
    for (i, p) in phases.iter_mut().enumerate() {
        p.phase = i as u32 + 1;
    }
    let status = |shut: bool| if shut { "down" } else { "up" }.to_string();
    PacketTrace {
        packet: packet_words(req),
        phases,
        input_interface: at.input.clone(),
        input_status: status(trace.ingress_shut),
        input_line_status: status(trace.ingress_shut),
        output_interface: at.output.clone(),
        output_status: status(trace.egress_shut),
        output_line_status: status(trace.egress_shut),
        action: if trace.verdict.is_ok() {
            "allow"
        } else {
            "drop"
        }
        .into(),
        drop_reason: trace
            .verdict
            .err()
            .map(|r| format!("({}) {}", r.label(), r.description())),
        worker,
    }
}

/// The traced packet in words.
fn packet_words(req: &TraceRequest) -> String {
    let vlan = match req.vlan {
        0 => String::new(),
        v => format!(" on vlan {v}"),
    };
    let (s, d) = (req.src, req.dst);
    match req.packet {
        TracePacket::Tcp { sport, dport } => format!("TCP SYN {s}/{sport} > {d}/{dport}{vlan}"),
        TracePacket::Udp { sport, dport } => format!("UDP {s}/{sport} > {d}/{dport}{vlan}"),
        TracePacket::Sctp { sport, dport } => format!("SCTP {s}/{sport} > {d}/{dport}{vlan}"),
        TracePacket::Icmp {
            icmp_type,
            code,
            ident,
        } => format!("ICMP type {icmp_type} code {code} id {ident} {s} > {d}{vlan}"),
        TracePacket::RawIp { protocol } => format!("IP protocol {protocol} {s} > {d}{vlan}"),
    }
}

fn phase(kind: &str, allow: bool) -> TracePhase {
    TracePhase {
        phase: 0,
        kind: kind.into(),
        subtype: String::new(),
        result: if allow { "ALLOW" } else { "DROP" }.into(),
        config: Vec::new(),
        info: Vec::new(),
        detail: Vec::new(),
        access_list: None,
        line: None,
        class: None,
        flow_id: None,
    }
}

fn not_ready() -> TracePhase {
    let mut p = phase("CLUSTER", false);
    p.subtype = "ready".into();
    p.info.push(
        "This node has not finished joining its cluster (its first bulk sync, or the \
         cluster's policy): it forwards nothing"
            .into(),
    );
    p
}

fn shunned() -> TracePhase {
    let mut p = phase("SHUN", false);
    p.subtype = "shunned".into();
    p.info.push(
        "The source is shunned on this interface (rampart show shun): every packet from it is \
         dropped, its connections' included"
            .into(),
    );
    p
}

fn input_check(reason: DropReason) -> TracePhase {
    let mut p = phase("INPUT-CHECK", false);
    p.subtype = reason.label().into();
    p.info.push(reason.description().into());
    if reason == DropReason::InvalidSource {
        p.info.push(
            "The source is an address no host sends from (multicast, broadcast, loopback, \
             0.0.0.0/8, ::), or the destination itself; dropped before any rule"
                .into(),
        );
    }
    p
}

fn flow_lookup(lookup: &Lookup, req: &TraceRequest, stateless: bool, worker: usize) -> TracePhase {
    let (allow, info, flow_id) = match *lookup {
        Lookup::NotFound if stateless => (true, vec!["Found no matching flow".into()], None),
        Lookup::NotFound => (
            true,
            vec!["Found no matching flow, creating a new flow".into()],
            None,
        ),
        Lookup::Untracked => {
            let t = match req.packet {
                TracePacket::Icmp { icmp_type, .. } => icmp_type,
                _ => 0,
            };
            (
                true,
                vec![format!(
                    "ICMP type {t} opens no flow: the access rules judge each such packet"
                )],
                None,
            )
        }
        Lookup::Found { id, kind, outcome } => {
            let (allow, what) = existing(id, kind, outcome);
            (allow, what, Some(id))
        }
    };
    let mut p = phase("FLOW-LOOKUP", allow);
    p.info = info;
    if matches!(req.packet, TracePacket::Tcp { .. }) {
        p.info.push(
            "The traced TCP packet is a SYN, the packet that opens a connection, as the \
             ASA's virtual TCP packet is"
                .into(),
        );
    }
    p.flow_id = flow_id;
    p.detail.push(format!(
        "Looked up in the connection table of worker {worker}, vlan {}",
        req.vlan
    ));
    p
}

/// What an existing flow does with the packet, in words; whether it passes.
fn existing(id: u32, flow: FlowKind, outcome: Existing) -> (bool, Vec<String>) {
    let kind = match flow {
        FlowKind::Tcp(state) => format!("TCP, {}", state.name()),
        FlowKind::Bypass => "TCP state bypass, flag b".into(),
        FlowKind::Udp => "UDP".into(),
        FlowKind::Echo => "ICMP echo".into(),
        FlowKind::Other => "IP".into(),
    };
    let found = format!("Found flow with id {id} ({kind})");
    match outcome {
        Existing::Uses => (
            true,
            vec![
                format!("{found}, using existing flow"),
                match flow {
                    FlowKind::Tcp(_) => "The access rules are not consulted; a real packet \
                                         meets the connection's TCP state and sequence \
                                         windows"
                        .into(),
                    _ => "The access rules are not consulted".into(),
                },
            ],
        ),
        Existing::Passive => (
            true,
            vec![format!(
                "{found}, a passive copy of a peer's connection: the packet waits until its \
                 state is pulled from the peer, and is judged on it"
            )],
        ),
        Existing::WrongInterface { .. } => (
            false,
            vec![format!(
                "{found}, whose packets in this direction arrive on another interface"
            )],
        ),
        Existing::Reopens => (
            true,
            vec![format!(
                "{found}, which is over: the SYN opens a new connection on the tuple, \
                 creating a new flow"
            )],
        ),
        Existing::Refused(_) => (
            false,
            vec![format!(
                "{found}, whose TCP state takes no SYN from this side"
            )],
        ),
        Existing::RequestJudged => (
            true,
            vec![format!(
                "{found}: each echo request is judged by the access rules in force"
            )],
        ),
        Existing::NotPart => (
            true,
            vec![format!(
                "{found}, of which an echo request from the responder's side is no part: \
                 the access rules judge it"
            )],
        ),
        Existing::NoReply => (
            false,
            vec![format!(
                "{found}, which no echo reply from its requester's side answers"
            )],
        ),
    }
}

fn inspect(i: IcmpInspection) -> TracePhase {
    let mut p = phase("INSPECT", true);
    p.subtype = "icmp".into();
    p.info.push(if i.echo {
        "inspect icmp: an echo request opens a connection that passes one reply per request".into()
    } else {
        "ICMP is not inspected: echo opens no connection, and each request and reply is \
         judged by the access rules on its own"
            .into()
    });
    p
}

fn flow_creation(f: NewFlow) -> TracePhase {
    let mut p = phase("FLOW-CREATION", true);
    match f {
        NewFlow::Inspected {
            randomized,
            deferred,
        } => {
            p.info.push(
                "New flow would be created, packet dispatched to next module (the trace \
                 creates none)"
                    .into(),
            );
            if randomized {
                p.info
                    .push("Its TCP sequence numbers would be randomized".into());
            }
            if deferred {
                p.info.push(
                    "With a peer up, this first packet waits until a peer acknowledges the \
                     new flow"
                        .into(),
                );
            }
        }
        NewFlow::Bypass => p.info.push(
            "New flow with flag b (tcp-state-bypass) would be created: no state checks, \
             never synced (the trace creates none)"
                .into(),
        ),
    }
    p
}

/// A time as the ASA prints it; `0:00:00` is never.
fn time(d: Duration) -> String {
    if d == Duration::MAX {
        "0:00:00 (never)".into()
    } else {
        hms(d)
    }
}

/// The lines of the running configuration a phase names.
struct Lines<'a> {
    policy: &'a Policy,
    source: Option<&'a Config>,
    input: String,
    output: String,
}

/// `cfg` as `show running-config` prints it, its `!` separators left out.
fn shown(cfg: &Config) -> Vec<String> {
    render(cfg)
        .lines()
        .filter(|l| *l != "!")
        .map(str::to_string)
        .collect()
}

impl Lines<'_> {
    fn acl_name(&self, acl: usize) -> String {
        self.policy
            .acls()
            .get(acl)
            .map_or_else(String::new, |a| a.name.clone())
    }

    /// `access-list NAME extended …` of entry `entry` (from 1) of `acl`,
    /// or `access-list NAME line N` where the source is not kept.
    fn entry_line(&self, acl: &str, entry: usize) -> String {
        let line = self.source.and_then(|s| {
            let list = s.access_lists.iter().find(|a| a.name == acl)?;
            Some((list.lines.get(entry.checked_sub(1)?)?, &s.names))
        });
        match line {
            Some((l @ AclLine::Ace(_), names)) => {
                format!("access-list {acl} {}", acl_line_named(l, names))
            }
            _ => format!("access-list {acl} line {entry}"),
        }
    }

    /// The `access-group` line that binds `acl` as `binding`, as `show
    /// running-config` prints it.
    fn access_group(&self, acl: &str, binding: AclBinding) -> String {
        let group = |interface: &String| {
            vec![AccessGroup {
                acl: acl.to_string(),
                interface: interface.clone(),
            }]
        };
        let config = match binding {
            AclBinding::In => Config {
                access_groups: group(&self.input),
                ..Config::default()
            },
            AclBinding::Out => Config {
                access_groups_out: group(&self.output),
                ..Config::default()
            },
            AclBinding::Global => Config {
                global_access_group: Some(acl.to_string()),
                ..Config::default()
            },
        };
        shown(&config).concat()
    }

    fn ethertype_deny(&self) -> TracePhase {
        let mut p = phase("ACCESS-LIST", false);
        p.subtype = "ether-type".into();
        let group = self
            .source
            .and_then(|s| {
                let g = s
                    .ethertype_groups
                    .iter()
                    .find(|g| g.interface == self.input)?;
                Some((g, s.ethertype_lists.iter().find(|l| l.name == g.acl)?))
            })
            .map(|(g, list)| {
                let deny_any = list
                    .lines
                    .iter()
                    .filter(|l| {
                        matches!(l, EthertypeLine::Ace(a)
                            if a.action == Action::Deny && a.ethertype == Ethertype::Any)
                    })
                    .cloned()
                    .collect();
                let mut lines = shown(&Config {
                    ethertype_lists: vec![EthertypeList {
                        name: list.name.clone(),
                        lines: deny_any,
                    }],
                    ..Config::default()
                });
                lines.insert(
                    0,
                    format!("access-group {} in interface {}", g.acl, g.interface),
                );
                (g.acl.clone(), lines)
            });
        if let Some((acl, lines)) = group {
            p.access_list = Some(acl);
            p.config = lines;
        }
        p.info.push(
            "The EtherType access-list of the interface denies all frames, IPv4, IPv6 and \
             ARP included"
                .into(),
        );
        p
    }

    fn access(&self, a: &Admission) -> TracePhase {
        let mut p = phase("ACCESS-LIST", a.permits());
        let (input, output) = (&self.input, &self.output);
        match *a {
            Admission::AccessGroup {
                acl,
                binding,
                hit,
                passed_over,
            } => {
                let acl = self.acl_name(acl);
                if let Some(own) = passed_over {
                    p.info.push(format!(
                        "No entry of access-list {} ({}) matched: the global access-group decides",
                        self.acl_name(own),
                        self.access_group(&self.acl_name(own), AclBinding::In)
                    ));
                }
                match hit {
                    Some(AclHit { rule, entry, .. }) => {
                        p.subtype = "log".into();
                        p.config = vec![
                            self.access_group(&acl, binding),
                            self.entry_line(&acl, entry),
                        ];
                        p.info
                            .push(format!("Matched access-list {acl} line {entry}"));
                        p.detail
                            .push(format!("Classifier rule {rule} of access-list {acl}"));
                        p.line = Some(entry);
                    }
                    None => {
                        p.config = vec!["Implicit Rule".into()];
                        p.info.push(format!(
                            "The implicit deny at the end of access-list {acl} ({})",
                            self.access_group(&acl, binding)
                        ));
                    }
                }
                p.access_list = Some(acl);
            }
            Admission::SecurityLevels { ingress, egress } => {
                p.config = vec!["Implicit Rule".into()];
                if ingress == egress {
                    p.config
                        .push("same-security-traffic permit inter-interface".into());
                }
                p.info.push(match ingress.cmp(&egress) {
                    std::cmp::Ordering::Greater => format!(
                        "No access-group on {input}: a connection may open from security \
                         level {ingress} ({input}) to a lower one, {egress} ({output})"
                    ),
                    std::cmp::Ordering::Equal => format!(
                        "No access-group on {input}: between equal security levels \
                         ({ingress}) everything passes with same-security-traffic"
                    ),
                    std::cmp::Ordering::Less => format!(
                        "No access-group on {input}: no connection opens from security \
                         level {ingress} ({input}) to a higher one, {egress} ({output})"
                    ),
                });
            }
            Admission::SameSecurity { level } => {
                p.config = vec!["Implicit Rule".into()];
                p.info.push(format!(
                    "{input} and {output} share security level {level}, and \
                     same-security-traffic permit inter-interface is not configured: nothing \
                     passes between them"
                ));
            }
            Admission::UnknownInterface => {
                p.config = vec!["Implicit Rule".into()];
                p.info
                    .push("An interface the policy does not know: nothing passes".into());
            }
        }
        p
    }

    /// `class-map`, `policy-map … class …` and `service-policy` of class
    /// `class` (an index into the policy's classes).
    fn class_lines(&self, class: usize) -> Vec<String> {
        let Some(c) = self.policy.classes().get(class) else {
            return Vec::new();
        };
        let Some(src) = self.source else {
            return vec![format!("class {}", c.name)];
        };
        let found = src.service_policies.iter().find_map(|sp| {
            if sp.scope != c.scope {
                return None;
            }
            let pm = src.policy_maps.iter().find(|p| p.name == sp.policy_map)?;
            let pc = pm
                .classes
                .iter()
                .find(|pc| format!("{}/{}", pm.name, pc.class) == c.name)?;
            Some((sp, pm, pc))
        });
        let Some((sp, pm, pc)) = found else {
            return vec![format!("class {}", c.name)];
        };
        let class_map = if pc.class == "class-default" {
            Some(ClassMap {
                name: pc.class.clone(),
                description: None,
                matcher: Some(ClassMatch::Any),
            })
        } else {
            src.class_maps.iter().find(|m| m.name == pc.class).cloned()
        };
        // The class's tcp-map, printed before the class-maps as `show
        // running-config` does (docs/asa-behaviour.md §6.1).
        let tcp_maps = src
            .tcp_maps
            .iter()
            .filter(|m| pc.tcp_map.as_deref() == Some(m.name.as_str()))
            .cloned()
            .collect();
        shown(&Config {
            tcp_maps,
            class_maps: class_map.into_iter().collect(),
            policy_maps: vec![PolicyMap {
                name: pm.name.clone(),
                classes: vec![pc.clone()],
            }],
            service_policies: vec![ServicePolicy {
                policy_map: sp.policy_map.clone(),
                scope: sp.scope.clone(),
            }],
            ..Config::default()
        })
    }

    fn settings(&self, s: &Settings, req: &TraceRequest) -> TracePhase {
        let mut p = phase("CONN-SETTINGS", true);
        let d = &s.decision;
        let classes = d.class.into_iter().chain(d.bypass_class);
        for c in classes {
            p.config.extend(self.class_lines(c));
        }
        let name = |c: usize| {
            self.policy
                .classes()
                .get(c)
                .map_or_else(String::new, |c| c.name.clone())
        };
        p.class = d.class.map(name);
        if d.class.is_none() {
            p.info
                .push("No class sets connection settings: the defaults apply".into());
        }
        for (class, hit) in [(d.class, s.class_acl), (d.bypass_class, s.bypass_acl)] {
            if let (Some(c), Some((acl, Some(h)))) = (class, hit) {
                p.info.push(format!(
                    "class {} matches by access-list {} line {}",
                    name(c),
                    self.acl_name(acl),
                    h.entry
                ));
            }
        }
        let o: &ConnOptions = &d.options;
        let limit = |n: u32| {
            if n == 0 {
                "unlimited".to_string()
            } else {
                n.to_string()
            }
        };
        p.info.push(format!(
            "conn-max {}, embryonic-conn-max {}, per-client-max {}, \
             per-client-embryonic-max {} (the trace does not count them)",
            limit(o.conn_max),
            limit(o.embryonic_conn_max),
            limit(o.per_client_max),
            limit(o.per_client_embryonic_max)
        ));
        let t = &s.timeouts;
        let mut timeouts = Vec::new();
        if let Some(e) = t.embryonic {
            timeouts.push(format!("embryonic {}", time(e)));
        }
        timeouts.push(format!(
            "idle {}{}",
            time(t.idle),
            if o.idle_reset { " reset" } else { "" }
        ));
        if let Some(h) = t.half_closed {
            timeouts.push(format!("half-closed {}", time(h)));
        }
        p.info.push(format!("timeout {}", timeouts.join(", ")));
        if matches!(req.packet, TracePacket::Tcp { .. }) {
            p.info.push(if o.tcp_state_bypass {
                "advanced-options tcp-state-bypass".to_string()
            } else {
                format!(
                    "random-sequence-number {}",
                    if o.random_sequence_number {
                        "enable"
                    } else {
                        "disable"
                    }
                )
            });
        }
        for c in d.class.into_iter().chain(d.bypass_class) {
            if let Some(class) = self.policy.classes().get(c) {
                let scope = match &class.scope {
                    ServiceScope::Global => "global".to_string(),
                    ServiceScope::Interface(i) => format!("interface {i}"),
                };
                p.detail.push(format!(
                    "class {} of the service-policy {scope}",
                    class.name
                ));
            }
        }
        p
    }
}
