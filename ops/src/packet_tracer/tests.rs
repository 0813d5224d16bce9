use super::*;
use crate::model::TracePhase;
use rampart_dataplane::engine::tracer::TraceRequest;

fn words(line: &str) -> Result<TraceWords, String> {
    parse_words(
        &line
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>(),
    )
}

fn query(input: &str, src: &str, dst: &str, packet: TracePacket) -> TraceQuery {
    TraceQuery {
        input: input.into(),
        vlan: 0,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        packet,
    }
}

// === the ASA's words ===

#[test]
fn the_asa_words_parse_with_names_and_abbreviations() {
    let w = words("input outside tcp 198.18.1.10 1025 198.18.0.10 www detailed").unwrap();
    assert_eq!(
        w,
        TraceWords {
            query: query(
                "outside",
                "198.18.1.10",
                "198.18.0.10",
                TracePacket::Tcp {
                    sport: 1025,
                    dport: 80
                }
            ),
            detailed: true,
            xml: false,
        }
    );
    let w = words("in inside vlan 10 u 2001:db8::1 domain 2001:db8:1::1 53 x det").unwrap();
    assert_eq!(w.query.vlan, 10);
    assert_eq!(
        w.query.packet,
        TracePacket::Udp {
            sport: 53,
            dport: 53
        }
    );
    assert!(w.detailed && w.xml);
    let icmp = |line| words(line).unwrap().query.packet;
    assert_eq!(
        icmp("input inside icmp 198.18.0.10 echo 0 198.18.1.10"),
        TracePacket::Icmp {
            icmp_type: 8,
            code: 0,
            ident: 0
        }
    );
    assert_eq!(
        icmp("input inside icmp 2001:db8::1 echo 0 7 2001:db8:1::1"),
        TracePacket::Icmp {
            icmp_type: 128,
            code: 0,
            ident: 7
        }
    );
    // Any type name of the access-lists, by the addresses' family.
    for (line, icmp_type) in [
        ("input outside icmp 198.18.1.10 echo-reply 0 198.18.0.10", 0),
        (
            "input outside icmp 198.18.1.10 time-exceeded 0 198.18.0.10",
            11,
        ),
        (
            "input outside icmp 198.18.1.10 mask-reply 0 198.18.0.10",
            18,
        ),
        (
            "input outside icmp 2001:db8::1 echo-reply 0 2001:db8:1::1",
            129,
        ),
        (
            "input outside icmp 2001:db8::1 packet-too-big 0 2001:db8:1::1",
            2,
        ),
        (
            "input outside icmp 2001:db8::1 router-advertisement 0 2001:db8:1::1",
            134,
        ),
    ] {
        assert!(
            matches!(icmp(line), TracePacket::Icmp { icmp_type: t, .. } if t == icmp_type),
            "{line}"
        );
    }
    assert_eq!(
        icmp("input inside rawip 198.18.0.10 gre 198.18.1.10"),
        TracePacket::RawIp { protocol: 47 }
    );
    assert_eq!(
        icmp("input inside sctp 198.18.0.10 5000 198.18.1.10 38412"),
        TracePacket::Sctp {
            sport: 5000,
            dport: 38_412
        }
    );
}

/// Every wrong word is refused with what was expected, never a panic.
#[test]
fn wrong_words_are_refused_with_what_was_expected() {
    for (line, says) in [
        ("", "% Incomplete command: packet-tracer needs input"),
        (
            "output inside",
            "% Invalid input: \"output\" (expected input)",
        ),
        ("input inside", "needs a protocol"),
        (
            "input inside gre 198.18.0.10",
            "(expected tcp, udp, sctp, icmp or rawip)",
        ),
        (
            "input inside tcp 198.18.0.10 1 198.18.1.10",
            "needs the destination port",
        ),
        (
            "input inside tcp 198.18.0.10 70000 198.18.1.10 80",
            "% Invalid port: \"70000\" (a number 0-65535 or a tcp port name)",
        ),
        (
            "input inside udp 198.18.0.10 1 198.18.1.10 -1",
            "% Invalid port: \"-1\"",
        ),
        (
            "input inside tcp 198.18.0.300 1 198.18.1.10 80",
            "% Invalid address: \"198.18.0.300\"",
        ),
        (
            "input inside tcp 198.18.0.10 1 2001:db8::1 80",
            "must both be IPv4 or both IPv6",
        ),
        (
            "input inside vlan-id 0 tcp",
            "% Invalid VLAN id: \"0\" (1-4094)",
        ),
        ("input inside vlan-id 4095 tcp", "% Invalid VLAN id"),
        (
            "input inside icmp 198.18.0.10 256 0 198.18.1.10",
            "% Invalid ICMP type: \"256\" (0-255 or an icmp type name)",
        ),
        (
            "input inside icmp 198.18.0.10 packet-too-big 0 198.18.1.10",
            "% Invalid ICMP type: \"packet-too-big\" (0-255 or an icmp type name)",
        ),
        (
            "input inside icmp 2001:db8::1 mask-request 0 2001:db8:1::1",
            "% Invalid ICMP type: \"mask-request\" (0-255 or an icmp6 type name)",
        ),
        (
            "input inside rawip 198.18.0.10 ip 198.18.1.10",
            "% Invalid protocol: \"ip\"",
        ),
        (
            "input inside tcp 198.18.0.10 1 198.18.1.10 80 verbose",
            "(expected detailed or xml)",
        ),
    ] {
        let e = words(line).unwrap_err();
        assert!(e.contains(says), "{line}: {e}");
    }
}

// === the API's query ===

/// What the CLI sends is what the server reads, for every kind of packet.
#[test]
fn the_query_round_trips() {
    for (src, dst, packet, vlan) in [
        (
            "198.18.1.10",
            "198.18.0.10",
            TracePacket::Tcp {
                sport: 1,
                dport: 65_535,
            },
            0,
        ),
        (
            "2001:db8::1",
            "2001:db8:1::1",
            TracePacket::Udp {
                sport: 0,
                dport: 53,
            },
            4094,
        ),
        (
            "198.18.1.10",
            "198.18.0.10",
            TracePacket::Sctp {
                sport: 9,
                dport: 38_412,
            },
            1,
        ),
        (
            "198.18.1.10",
            "198.18.0.10",
            TracePacket::Icmp {
                icmp_type: 8,
                code: 0,
                ident: 512,
            },
            0,
        ),
        (
            "2001:db8::1",
            "2001:db8:1::1",
            TracePacket::RawIp { protocol: 47 },
            7,
        ),
    ] {
        let q = TraceQuery {
            vlan,
            input: "dmz 2&x".into(),
            ..query("x", src, dst, packet)
        };
        assert_eq!(parse_query(&q.to_query()).unwrap(), q, "{}", q.to_query());
    }
}

#[test]
fn a_bad_query_is_the_callers_fault_and_names_the_parameter() {
    let base = "input=inside&protocol=tcp&src=198.18.0.10&dst=198.18.1.10";
    for (q, says) in [
        (base.to_string(), "parameter 'sport' is missing"),
        (
            format!("{base}&sport=1&dport=70000"),
            "dport '70000' is not a number 0-65535",
        ),
        (
            format!("{base}&sport=1&dport=80&type=8"),
            "unknown parameter 'type' for a tcp trace",
        ),
        (
            format!("{base}&sport=1&dport=80&sport=2"),
            "parameter 'sport' is given twice",
        ),
        (
            format!("{base}&sport=1&dport=80&vlan=4095"),
            "vlan '4095' is not a number 0-4094",
        ),
        (
            "input=inside&protocol=tcp&src=198.18.0.10&dst=2001:db8::1&sport=1&dport=2".into(),
            "must both be IPv4 or both IPv6",
        ),
        (
            "input=inside&protocol=tcp&src=nowhere&dst=198.18.1.10&sport=1&dport=2".into(),
            "src 'nowhere' is not an IP address",
        ),
        (
            "input=inside&protocol=gre&src=198.18.0.10&dst=198.18.1.10".into(),
            "protocol 'gre' is not tcp, udp, sctp, icmp or rawip",
        ),
        (
            "protocol=rawip&src=198.18.0.10&dst=198.18.1.10&proto=47".into(),
            "parameter 'input' is missing",
        ),
    ] {
        match parse_query(&q) {
            Err(OpsError::BadRequest(m)) => assert!(m.contains(says), "{q}: {m}"),
            other => panic!("{q}: {other:?}"),
        }
    }
}

// === the workers' answers ===

fn phase(kind: &str) -> TracePhase {
    TracePhase {
        phase: 1,
        kind: kind.into(),
        subtype: String::new(),
        result: "ALLOW".into(),
        config: vec![],
        info: vec![],
        detail: vec![],
        access_list: None,
        line: None,
        class: None,
        flow_id: None,
    }
}

fn answer(worker: usize, found: bool, owner: bool) -> Result<WorkerTrace, OpsError> {
    Ok(WorkerTrace {
        trace: PacketTrace {
            packet: String::new(),
            phases: vec![phase("FLOW-LOOKUP")],
            input_interface: "inside".into(),
            input_status: "up".into(),
            input_line_status: "up".into(),
            output_interface: "outside".into(),
            output_status: "up".into(),
            output_line_status: "up".into(),
            action: "allow".into(),
            drop_reason: None,
            worker,
        },
        found,
        owner,
    })
}

/// The answer is the worker's whose table holds the flow, else the
/// owner's, else the first's; a refusal is a refusal.
#[test]
fn the_worker_that_holds_the_flow_answers() {
    let pick = |parts| merge(parts).unwrap().worker;
    assert_eq!(
        pick(vec![answer(0, false, true), answer(1, true, false)]),
        1
    );
    assert_eq!(
        pick(vec![answer(0, false, false), answer(1, false, true)]),
        1
    );
    assert_eq!(
        pick(vec![answer(0, false, false), answer(1, false, false)]),
        0
    );
    let refused = OpsError::BadRequest("no".into());
    assert_eq!(
        merge(vec![answer(0, true, true), Err(refused.clone())]).unwrap_err(),
        refused
    );
}

/// The ASA's layout: `Subtype:` bare when empty, a blank line after each
/// phase, `Drop-reason` only for a drop; `detailed` adds the details;
/// XML escapes what it carries.
#[test]
fn the_text_and_xml_layouts() {
    let mut t = answer(0, false, false).unwrap().trace;
    t.phases = vec![TracePhase {
        subtype: "log".into(),
        result: "DROP".into(),
        config: vec!["access-list A extended deny tcp any any lt 1024".into()],
        info: vec!["Matched access-list A line 2".into()],
        detail: vec!["Classifier rule 1 of access-list A".into()],
        ..phase("ACCESS-LIST")
    }];
    t.action = "drop".into();
    t.drop_reason = Some("(acl-drop) Flow is denied by configured rule".into());
    let text = "Phase: 1
Type: ACCESS-LIST
Subtype: log
Result: DROP
Config:
access-list A extended deny tcp any any lt 1024
Additional Information:
Matched access-list A line 2

Result:
input-interface: inside
input-status: up
input-line-status: up
output-interface: outside
output-status: up
output-line-status: up
Action: drop
Drop-reason: (acl-drop) Flow is denied by configured rule
";
    assert_eq!(render_text(&t, false), text);
    assert!(
        render_text(&t, true)
            .contains("Matched access-list A line 2\nClassifier rule 1 of access-list A\n\n")
    );
    let xml = render_xml(&t, false);
    assert!(
        xml.starts_with(
            "<Phase>\n<id>1</id>\n<type>ACCESS-LIST</type>\n<subtype>log</subtype>\n\
             <result>DROP</result>\n<config>access-list A extended deny tcp any any lt 1024</config>\n"
        ),
        "{xml}"
    );
    assert!(xml.contains("<config>access-list A extended deny tcp any any lt 1024</config>"));
    assert!(xml.ends_with(
        "<action>drop</action>\n<drop-reason>(acl-drop) Flow is denied by configured rule</drop-reason>\n</result>\n"
    ));
    t.phases[0].info = vec!["a < b & c".into()];
    assert!(render_xml(&t, false).contains("<extra>a &lt; b &amp; c</extra>"));
}

// === phases of a real engine ===

fn engine(policy: &str) -> rampart_dataplane::Engine {
    use rampart_dataplane::policy::compile::compile;
    use rampart_dataplane::policy::parse_config;
    let mut e = rampart_dataplane::Engine::new(rampart_dataplane::EngineConfig::inside_outside(
        rampart_dataplane::conntrack::NodeId(1),
        [5; 4],
    ))
    .unwrap();
    let cfg = std::sync::Arc::new(parse_config(policy).unwrap().config);
    let p = compile(&cfg, &e.config().interfaces).unwrap();
    e.set_policy(std::sync::Arc::new(p.with_source(cfg)))
        .unwrap();
    e
}

fn phases_of(e: &rampart_dataplane::Engine, line: &str) -> PacketTrace {
    let q = words(line).unwrap().query;
    let req = TraceRequest {
        ingress: IfaceId(
            e.config()
                .interfaces
                .iter()
                .position(|i| i.nameif == q.input)
                .unwrap() as u8,
        ),
        vlan: q.vlan,
        src: q.src,
        dst: q.dst,
        packet: q.packet,
    };
    let now = rampart_dataplane::Instant::from_secs(1);
    describe(e, &req, &e.packet_trace(&req, now).unwrap(), 0)
}

/// ICMP that opens no flow is not said to create one: echo without
/// inspection, and a reply, which only a request's flow carries.
#[test]
fn icmp_that_opens_no_flow_is_not_said_to_create_one() {
    let inspected = "policy-map global_policy\n class class-default\n  inspect icmp\n\
                     service-policy global_policy global\n";
    for (policy, line, lookup, action) in [
        (
            "",
            "input inside icmp 198.18.0.10 echo 0 198.18.1.10",
            "Found no matching flow",
            "allow",
        ),
        (
            inspected,
            "input inside icmp 198.18.0.10 echo 0 198.18.1.10",
            "Found no matching flow, creating a new flow",
            "allow",
        ),
        (
            inspected,
            "input outside icmp 198.18.1.10 echo-reply 0 198.18.0.10",
            "Found no matching flow",
            "drop",
        ),
    ] {
        let t = phases_of(&engine(policy), line);
        assert_eq!(t.phases[0].info[0], lookup, "{line}");
        assert_eq!(t.action, action, "{line}");
    }
}

/// An ICMP message is traced with its type and code against typed
/// entries: an `echo-reply` permit allows type 0, printed as written, and
/// a request (type 8) meets the implicit deny.
#[test]
fn icmp_is_traced_against_typed_entries() {
    let e = engine(
        "access-list OUT_IN extended permit icmp any any echo-reply\n\
         access-list OUT_IN extended permit icmp any any router-advertisement 16\n\
         access-group OUT_IN in interface outside\n",
    );
    let acl = |t: &PacketTrace| {
        t.phases
            .iter()
            .find(|p| p.kind == "ACCESS-LIST")
            .cloned()
            .unwrap_or_else(|| panic!("no access-list phase: {t:?}"))
    };
    let t = phases_of(
        &e,
        "input outside icmp 198.18.1.10 echo-reply 0 198.18.0.10",
    );
    assert_eq!(t.action, "allow");
    assert_eq!(
        acl(&t).config,
        [
            "access-group OUT_IN in interface outside",
            "access-list OUT_IN extended permit icmp any any echo-reply"
        ]
    );
    let t = phases_of(&e, "input outside icmp 198.18.1.10 echo 0 198.18.0.10");
    assert_eq!(t.action, "drop");
    assert_eq!(acl(&t).config, ["Implicit Rule"]);
    let t = phases_of(&e, "input outside icmp 198.18.1.10 9 16 198.18.0.10");
    assert_eq!(
        acl(&t).config[1],
        "access-list OUT_IN extended permit icmp any any router-advertisement 16"
    );
    let t = phases_of(
        &e,
        "input outside icmp 198.18.1.10 router-advertisement 0 198.18.0.10",
    );
    assert_eq!(t.action, "drop", "another code");
}

/// The way in and the way out are two `ACCESS-LIST` phases: the
/// interface's own list or, for what it does not match, the global one
/// (which says so), then the egress interface's `out` list.
#[test]
fn global_and_out_access_groups_are_traced_as_the_engine_judges() {
    let e = engine(
        "access-list OWN extended permit tcp any any eq ssh\n\
         access-list GLOBAL extended permit tcp any any eq www\n\
         access-list OUTSIDE_OUT extended permit tcp any any eq ssh\n\
         access-group OWN in interface inside\n\
         access-group GLOBAL global\n\
         access-group OUTSIDE_OUT out interface outside\n",
    );
    let acls = |t: &PacketTrace| -> Vec<TracePhase> {
        t.phases
            .iter()
            .filter(|p| p.kind == "ACCESS-LIST")
            .cloned()
            .collect()
    };
    let t = phases_of(&e, "input inside tcp 198.18.0.10 1025 198.18.1.10 ssh");
    assert_eq!(t.action, "allow");
    let p = acls(&t);
    assert_eq!(p.len(), 2, "{t:?}");
    assert_eq!(
        p[0].config,
        [
            "access-group OWN in interface inside",
            "access-list OWN extended permit tcp any any eq ssh"
        ]
    );
    assert_eq!(
        p[1].config,
        [
            "access-group OUTSIDE_OUT out interface outside",
            "access-list OUTSIDE_OUT extended permit tcp any any eq ssh"
        ]
    );
    // The global list lets www in; the out list's implicit deny drops it.
    let t = phases_of(&e, "input inside tcp 198.18.0.10 1025 198.18.1.10 www");
    assert_eq!(t.action, "drop");
    let p = acls(&t);
    assert_eq!(p[0].config[0], "access-group GLOBAL global");
    assert!(
        p[0].info[0].contains("No entry of access-list OWN"),
        "{:?}",
        p[0].info
    );
    assert_eq!(p[1].config, ["Implicit Rule"]);
    assert!(p[1].info[0].contains("access-group OUTSIDE_OUT out interface outside"));
    // Refused on the way in: no out phase.
    let t = phases_of(&e, "input inside tcp 198.18.0.10 1025 198.18.1.10 https");
    assert_eq!(t.action, "drop");
    assert_eq!(acls(&t).len(), 1);
}

/// Under `names`, the entry that decided is printed as `show
/// running-config` prints it: with the name of an address that has one.
#[test]
fn the_deciding_entry_is_printed_with_its_names() {
    let e = engine(
        "names\n\
         name 198.18.1.10 web-server\n\
         access-list IN extended permit tcp any host 198.18.1.10 eq www\n\
         access-group IN in interface inside\n",
    );
    let t = phases_of(&e, "input inside tcp 198.18.0.10 1025 198.18.1.10 www");
    let p = t
        .phases
        .iter()
        .find(|p| p.kind == "ACCESS-LIST")
        .expect("an access-list phase");
    assert_eq!(
        p.config[1],
        "access-list IN extended permit tcp any host web-server eq www"
    );
}

/// A shut interface: no phase, the status `down`, `interface-down`; an
/// EtherType `deny any`: its lines; a source no host sends from:
/// `sp-security-failed` before any rule; equal levels without
/// `same-security-traffic`: the implicit rule says why.
#[test]
fn the_phases_before_and_beside_the_access_list() {
    let e = engine("interface GigabitEthernet0/1\n nameif outside\n shutdown\n!\n");
    let t = phases_of(&e, "input inside udp 198.18.0.10 1 198.18.1.10 53");
    assert!(t.phases.is_empty());
    assert_eq!(
        (
            t.input_status.as_str(),
            t.output_status.as_str(),
            t.output_line_status.as_str()
        ),
        ("up", "down", "down")
    );
    assert_eq!(
        t.drop_reason.as_deref(),
        Some("(interface-down) Interface is down")
    );
    let e = engine(
        "access-list L2 ethertype permit bpdu\naccess-list L2 ethertype deny any\naccess-group L2 in interface outside\n",
    );
    let t = phases_of(&e, "input outside udp 198.18.1.10 53 198.18.0.10 1");
    assert_eq!(
        (t.phases[0].kind.as_str(), t.phases[0].subtype.as_str()),
        ("ACCESS-LIST", "ether-type")
    );
    assert_eq!(
        t.phases[0].config,
        [
            "access-group L2 in interface outside",
            "access-list L2 ethertype deny any"
        ]
    );
    let t = phases_of(&engine(""), "input inside tcp 224.0.0.5 1 198.18.1.10 80");
    assert_eq!(
        (t.phases[0].kind.as_str(), t.phases[0].subtype.as_str()),
        ("INPUT-CHECK", "sp-security-failed")
    );
    assert_eq!(
        t.drop_reason.as_deref(),
        Some("(sp-security-failed) Slowpath security checks failed")
    );
    let e = engine("interface GigabitEthernet0/1\n nameif outside\n security-level 100\n!\n");
    let t = phases_of(&e, "input inside tcp 198.18.0.10 1 198.18.1.10 80");
    assert_eq!(t.phases[1].config, ["Implicit Rule"]);
    assert!(
        t.phases[1].info[0].contains("share security level 100"),
        "{:?}",
        t.phases[1].info
    );
}

/// CONN-SETTINGS prints the class's `set connection advanced-options MAP`
/// line and the map's own lines (docs/asa-behaviour.md §6.1).
#[test]
fn conn_settings_print_the_class_tcp_map() {
    let e = engine(
        "class-map BGP\n match port tcp eq 179\ntcp-map BGP-MAP\n tcp-options range 19 19 allow\n\
         policy-map global_policy\n class BGP\n  set connection random-sequence-number disable\n\
         \x20 set connection advanced-options BGP-MAP\nservice-policy global_policy global\n",
    );
    let t = phases_of(&e, "input inside tcp 198.18.0.10 40000 198.18.1.10 179");
    let p = t
        .phases
        .iter()
        .find(|p| p.kind == "CONN-SETTINGS")
        .expect("a CONN-SETTINGS phase");
    assert_eq!(
        p.config,
        [
            "tcp-map BGP-MAP",
            "  tcp-options range 19 19 allow",
            "class-map BGP",
            " match port tcp eq bgp",
            "policy-map global_policy",
            " class BGP",
            "  set connection random-sequence-number disable",
            "  set connection advanced-options BGP-MAP",
            "service-policy global_policy global",
        ]
    );
}

// === any input ===

mod any_input {
    use proptest::prelude::*;

    use super::*;

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "input",
                "in",
                "inside",
                "outside",
                "vlan-id",
                "vlan",
                "tcp",
                "t",
                "udp",
                "sctp",
                "icmp",
                "rawip",
                "echo",
                "echo-reply",
                "www",
                "gre",
                "ip",
                "detailed",
                "xml",
                "198.18.0.10",
                "2001:db8::1",
                "0",
                "65535",
                "65536",
                "4094",
                "-1",
                "",
            ])
            .prop_map(String::from),
            "\\PC{0,12}",
        ]
    }

    proptest! {
        /// Any words and any query are parsed or refused, never a panic;
        /// what parses as words goes through the query unchanged.
        #[test]
        fn any_words_or_query_parse_or_are_refused(
            words in prop::collection::vec(word(), 0..12),
            query in "\\PC{0,80}",
        ) {
            if let Ok(w) = parse_words(&words) {
                prop_assert_eq!(parse_query(&w.query.to_query()).unwrap(), w.query);
            }
            let _ = parse_query(&query);
        }
    }
}
