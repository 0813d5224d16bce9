//! Hit counts of the elements of entries over object-groups (`show
//! access-list`'s expanded lines, docs/asa-behaviour.md §2.9), on real
//! frames: a connection counts on the element (the combination of group
//! members) that matched it, the entry's count is their sum, and a new
//! policy keeps the count of every element it keeps.

use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{compile, compile_at, disable_randomization};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{TcpModel, udp_frame, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};

const INSIDE: IfaceId = IfaceId(0);
const T0: Instant = Instant::from_secs(1_700_000_000);

fn install(e: &mut Engine, text: &str) {
    let mut cfg = parse_config(text).expect("parses").config;
    disable_randomization(&mut cfg);
    let p = compile(&cfg, &e.config().interfaces).expect("compiles");
    e.set_policy(Arc::new(p)).expect("the classes fit");
}

/// Per entry of list `name` (remarks skipped), its elements' counts.
fn hits(e: &Engine, name: &str) -> Vec<Vec<u64>> {
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
        .map(|x| of[x.range()].to_vec())
        .collect()
}

/// A SYN from inside to `server`:`port`, which must open a connection.
fn open(e: &mut Engine, client_port: u16, server: [u8; 4], port: u16) {
    let (c, mut s) = v4_pair(client_port, port);
    s.ip = server.into();
    let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    let v = e.process(&mut f, PacketMeta::default(), INSIDE, T0);
    assert!(matches!(v, Verdict::Forward { .. }), "{server:?}: {v:?}");
}

fn rules(web: &str) -> String {
    format!(
        "object-group network WEB\n{web}\
         object-group service PORTS tcp\n port-object eq www\n port-object eq https\n\
         access-list IN extended permit tcp any object-group WEB object-group PORTS\n\
         access-list IN extended permit udp any any\n\
         access-group IN in interface inside\n"
    )
}

const TWO: &str = " network-object host 198.18.1.10\n network-object host 198.18.1.11\n";

/// Connections to two members of a group count on two elements, in the
/// expansion's order (service, then destination port, then source and
/// destination addresses: www to .10, www to .11, https to .10, https to
/// .11); the entry's count is their sum.
#[test]
fn two_members_of_a_group_count_apart() {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    install(&mut e, &rules(TWO));
    open(&mut e, 40_000, [198, 18, 1, 10], 80);
    open(&mut e, 40_001, [198, 18, 1, 10], 80);
    open(&mut e, 40_002, [198, 18, 1, 11], 443);
    let h = hits(&e, "IN");
    assert_eq!(h, [vec![2, 0, 0, 1], vec![0]]);
    assert_eq!(h[0].iter().sum::<u64>(), 3);
    let entry = e.policy().listings()[0].lines[0].entry.unwrap();
    assert_eq!((entry.elements, entry.expands), (4, true));
}

/// A member added to the group (before the others and after them) is a
/// new element at 0; the elements the new policy keeps keep their counts,
/// wherever they now stand. A member removed takes its count with it.
#[test]
fn a_new_member_starts_at_zero_and_the_others_keep_their_counts() {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    install(&mut e, &rules(TWO));
    open(&mut e, 40_000, [198, 18, 1, 10], 80);
    open(&mut e, 40_001, [198, 18, 1, 11], 443);
    open(&mut e, 40_002, [198, 18, 1, 11], 443);
    assert_eq!(hits(&e, "IN"), [vec![1, 0, 0, 2], vec![0]]);
    install(
        &mut e,
        &rules(&format!(
            " network-object host 198.18.1.9\n{TWO} network-object host 198.18.1.12\n"
        )),
    );
    // www: .9 .10 .11 .12, then https: .9 .10 .11 .12.
    assert_eq!(hits(&e, "IN"), [vec![0, 1, 0, 0, 0, 0, 2, 0], vec![0]]);
    open(&mut e, 40_003, [198, 18, 1, 12], 443);
    assert_eq!(hits(&e, "IN"), [vec![0, 1, 0, 0, 0, 0, 2, 1], vec![0]]);
    install(&mut e, &rules(" network-object host 198.18.1.11\n"));
    assert_eq!(hits(&e, "IN"), [vec![0, 2], vec![0]]);
    // Clearing zeroes every element.
    assert_eq!(e.clear_acl_hits(Some("IN")), 1);
    assert_eq!(hits(&e, "IN"), [vec![0, 0], vec![0]]);
}

/// Members that overlap: a packet counts on the first element that
/// matches it, as on the ASA, whose expanded entries are checked in order.
#[test]
fn overlapping_members_count_on_the_first() {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    install(
        &mut e,
        &rules(" network-object 198.18.1.0 255.255.255.0\n network-object host 198.18.1.10\n"),
    );
    open(&mut e, 40_000, [198, 18, 1, 10], 80);
    assert_eq!(hits(&e, "IN"), [vec![1, 0, 0, 0], vec![0]]);
}

/// An entry over a group whose time-range ends is listed inactive and
/// keeps its elements and their counts (they count nothing meanwhile);
/// when the range is active again they count on from there
/// (docs/asa-behaviour.md §2.10).
#[test]
fn an_entry_out_of_its_time_range_keeps_its_elements_counts() {
    let text = format!(
        "time-range WORK\n periodic weekdays 8:00 to 18:00\n{}",
        rules(TWO).replace(
            "object-group PORTS\n",
            "object-group PORTS time-range WORK\n"
        )
    );
    let mut cfg = parse_config(&text).expect("parses").config;
    disable_randomization(&mut cfg);
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let at = |e: &Engine, active: &[&str]| {
        let active = active.iter().map(|s| s.to_string()).collect();
        Arc::new(compile_at(&cfg, &e.config().interfaces, &active).unwrap())
    };
    let on = at(&e, &["WORK"]);
    e.set_policy(on).unwrap();
    open(&mut e, 40_000, [198, 18, 1, 11], 443);
    assert_eq!(hits(&e, "IN"), [vec![0, 0, 0, 1], vec![0]]);
    let off = at(&e, &[]);
    e.set_policy(off).unwrap();
    let entry = e.policy().listings()[0].lines[0].entry.unwrap();
    assert!(entry.inactive);
    assert_eq!(hits(&e, "IN"), [vec![0, 0, 0, 1], vec![0]]);
    // The next entry counts on its own element, after the reserved ones.
    let (c, s) = v4_pair(5353, 53);
    let mut q = udp_frame(&c, &s, b"q");
    let v = e.process(&mut q, PacketMeta::default(), INSIDE, T0);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(hits(&e, "IN"), [vec![0, 0, 0, 1], vec![1]]);
    let on = at(&e, &["WORK"]);
    e.set_policy(on).unwrap();
    open(&mut e, 40_001, [198, 18, 1, 10], 80);
    assert_eq!(hits(&e, "IN"), [vec![1, 0, 0, 1], vec![1]]);
}
