//! `access-group ACL global` and `access-group ACL out interface IF`
//! (docs/asa-behaviour.md §2.3): the order the access rules are met in (the
//! ingress interface's list, the global list, the implicit deny; then the
//! egress interface's `out` list), on real frames and, for every
//! combination of bindings, against a reference of that order.

use std::sync::Arc;

use proptest::prelude::*;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::flow::Addr;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::classifier::Probe;
use rampart_dataplane::policy::compile::{Policy, compile, disable_randomization};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

const INSIDE: IfaceId = IfaceId(0);
const OUTSIDE: IfaceId = IfaceId(1);
const T0: Instant = Instant::from_secs(1_700_000_000);

fn engine(text: &str) -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let mut cfg = parse_config(text).expect("parses").config;
    disable_randomization(&mut cfg);
    let p = compile(&cfg, &e.config().interfaces).expect("compiles");
    e.set_policy(Arc::new(p)).expect("the classes fit");
    e
}

/// Per entry of list `name` (remarks skipped), its hit count.
fn hits(e: &Engine, name: &str) -> Vec<u64> {
    let listing = e
        .policy()
        .listings()
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no list {name}"));
    let of = e.acl_hits().of(listing);
    listing
        .entries()
        .filter_map(|l| l.entry)
        .map(|x| of[x.range()].iter().sum())
        .collect()
}

/// A connection from `from` to TCP port `port`: the SYN's verdict, and
/// for one that passes, the server's SYN-ACK's (which no access rule
/// judges: it belongs to the connection).
fn connect(e: &mut Engine, from: IfaceId, client_port: u16, port: u16) -> Result<(), DropReason> {
    let (c, s) = v4_pair(client_port, port);
    let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    match e.process(&mut f, PacketMeta::default(), from, T0) {
        Verdict::Forward { .. } => {}
        Verdict::Drop(reason) => return Err(reason),
        v => panic!("SYN to {port}: {v:?}"),
    }
    let back = if from == INSIDE { OUTSIDE } else { INSIDE };
    let synack = m.syn_ack();
    let mut f = m.frame(&synack);
    let v = e.process(&mut f, PacketMeta::default(), back, T0);
    assert!(
        matches!(v, Verdict::Forward { .. }),
        "SYN-ACK from {port}: {v:?}"
    );
    let ack = m.ack(Side::Client);
    let mut f = m.frame(&ack);
    let v = e.process(&mut f, PacketMeta::default(), from, T0);
    assert!(matches!(v, Verdict::Forward { .. }), "ACK to {port}: {v:?}");
    Ok(())
}

/// The global list judges what the interface's own list does not match,
/// on every interface; its implicit deny ends the way in, so the security
/// levels permit nothing more once a global list is bound.
#[test]
fn the_global_list_follows_the_interfaces_own_and_ends_in_the_implicit_deny() {
    let mut e = engine(
        "access-list OWN extended deny tcp any any eq telnet\n\
         access-list OWN extended permit tcp any any eq ssh\n\
         access-list GLOBAL extended permit tcp any any eq www\n\
         access-list GLOBAL extended deny tcp any any eq ssh\n\
         access-group OWN in interface inside\n\
         access-group GLOBAL global\n",
    );
    // Inside: its own list first.
    assert_eq!(
        connect(&mut e, INSIDE, 40_000, 23),
        Err(DropReason::AclDeny)
    );
    assert_eq!(connect(&mut e, INSIDE, 40_001, 22), Ok(()));
    // Then the global one.
    assert_eq!(connect(&mut e, INSIDE, 40_002, 80), Ok(()));
    // Then the implicit deny, from the higher security level too.
    assert_eq!(
        connect(&mut e, INSIDE, 40_003, 443),
        Err(DropReason::AclDeny)
    );
    // Outside has no list of its own: the global one, then the deny.
    assert_eq!(connect(&mut e, OUTSIDE, 40_004, 80), Ok(()));
    assert_eq!(
        connect(&mut e, OUTSIDE, 40_005, 22),
        Err(DropReason::AclDeny)
    );
    assert_eq!(
        connect(&mut e, OUTSIDE, 40_006, 443),
        Err(DropReason::AclDeny)
    );
    assert_eq!(hits(&e, "OWN"), [1, 1]);
    assert_eq!(hits(&e, "GLOBAL"), [2, 1]);
}

/// An `out` list judges what the way in let through, as it leaves its
/// interface: its deny and its implicit deny drop; what it permits passes,
/// and the connection's replies are not judged again. Both lists' entries
/// count the hit.
#[test]
fn an_out_list_judges_what_the_way_in_let_through() {
    let mut e = engine(
        "access-list OUTSIDE_OUT extended deny tcp any any eq telnet\n\
         access-list OUTSIDE_OUT extended permit tcp any any eq www\n\
         access-list OUTSIDE_IN extended permit tcp any any\n\
         access-list INSIDE_OUT extended permit tcp any any eq ssh\n\
         access-group OUTSIDE_OUT out interface outside\n\
         access-group OUTSIDE_IN in interface outside\n\
         access-group INSIDE_OUT out interface inside\n",
    );
    // Inside to outside: the security levels let it in, the out list decides.
    assert_eq!(connect(&mut e, INSIDE, 40_000, 80), Ok(()));
    assert_eq!(
        connect(&mut e, INSIDE, 40_001, 23),
        Err(DropReason::AclDeny)
    );
    assert_eq!(
        connect(&mut e, INSIDE, 40_002, 443),
        Err(DropReason::AclDeny)
    );
    // Outside to inside: its in list permits all TCP, inside's out list
    // only ssh.
    assert_eq!(connect(&mut e, OUTSIDE, 40_003, 22), Ok(()));
    assert_eq!(
        connect(&mut e, OUTSIDE, 40_004, 80),
        Err(DropReason::AclDeny)
    );
    assert_eq!(hits(&e, "OUTSIDE_OUT"), [1, 1]);
    assert_eq!(hits(&e, "OUTSIDE_IN"), [2]);
    assert_eq!(hits(&e, "INSIDE_OUT"), [1]);
    // The security levels still refuse first: outside to inside without
    // an in list is refused before inside's out list is asked.
    let mut e = engine(
        "access-list INSIDE_OUT extended permit tcp any any\n\
         access-group INSIDE_OUT out interface inside\n",
    );
    assert_eq!(
        connect(&mut e, OUTSIDE, 40_000, 22),
        Err(DropReason::AclDeny)
    );
    assert_eq!(hits(&e, "INSIDE_OUT"), [0]);
}

/// One binding of the reference: no list, or a list of entries, each a
/// permit (true) or deny of one TCP destination port.
type List = Option<Vec<(bool, u16)>>;

/// The reference's decision for a TCP packet to `port` from `ingress`:
/// docs/asa-behaviour.md §2.3's order, written plainly.
fn reference(lists: &[List; 5], ingress: usize, port: u16) -> bool {
    // [inside in, outside in, global, inside out, outside out]
    let egress = 1 - ingress;
    let first = |l: &List| -> Option<bool> {
        l.as_ref()?
            .iter()
            .find(|(_, p)| *p == port)
            .map(|(permit, _)| *permit)
    };
    let levels = [100u8, 0];
    let inbound = match (&lists[ingress], &lists[2]) {
        (None, None) => levels[ingress] >= levels[egress],
        (own, global) => first(own).or_else(|| first(global)).unwrap_or(false),
    };
    inbound
        && match &lists[3 + egress] {
            None => true,
            out => first(out).unwrap_or(false),
        }
}

fn text(lists: &[List; 5]) -> String {
    let names = ["IN_I", "IN_O", "GLOBAL", "OUT_I", "OUT_O"];
    let bindings = [
        "in interface inside",
        "in interface outside",
        "global",
        "out interface inside",
        "out interface outside",
    ];
    let mut t = String::new();
    for ((list, name), binding) in lists.iter().zip(names).zip(bindings) {
        let Some(entries) = list else { continue };
        for (permit, port) in entries {
            let action = if *permit { "permit" } else { "deny" };
            t += &format!("access-list {name} extended {action} tcp any any eq {port}\n");
        }
        t += &format!("access-group {name} {binding}\n");
    }
    t
}

fn probe(port: u16) -> Probe {
    Probe {
        v6: false,
        proto: 6,
        src: Addr::v4([198, 18, 0, 1]),
        dst: Addr::v4([198, 18, 1, 1]),
        sport: 40_000,
        dport: port,
    }
}

fn list() -> impl Strategy<Value = List> {
    proptest::option::of(proptest::collection::vec((any::<bool>(), 1u16..6), 1..4))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// For any bindings, `permits` is the reference's decision, and
    /// `packet-tracer`'s explanation (the way in, then the out list when
    /// the way in permits) says the same.
    #[test]
    fn permits_follows_the_documented_order(
        lists in [list(), list(), list(), list(), list()],
        ingress in 0usize..2,
        port in 1u16..7,
    ) {
        let ifaces = rampart_dataplane::InterfaceConfig::inside_outside();
        let cfg = parse_config(&text(&lists)).expect("parses").config;
        let p: Policy = compile(&cfg, &ifaces).expect("compiles");
        let (i, o) = (IfaceId(ingress as u8), IfaceId(1 - ingress as u8));
        let want = reference(&lists, ingress, port);
        prop_assert_eq!(p.permits(i, o, &probe(port)), want, "{}", text(&lists));
        let way_in = p.explain_admission(i, o, &probe(port));
        let explained = way_in.permits()
            && p.explain_egress(o, &probe(port)).is_none_or(|out| out.permits());
        prop_assert_eq!(explained, want);
    }
}
