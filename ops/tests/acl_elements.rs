//! `show access-list` of entries over objects and object-groups: each
//! entry followed by its elements in the ASA's layout (docs/asa-behaviour.md
//! §2.9), each with its own count; the JSON with the elements in their
//! entry's object; `clear access-list` zeroing them; an expansion too
//! large to list, bounded. `RAMPART_UPDATE_GOLDEN=1` rewrites the goldens.

use std::path::PathBuf;
use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{Policy, compile};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{TcpModel, udp_frame, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};
use rampart_ops::model::AccessLists;
use rampart_ops::show_acl::{
    MAX_ELEMENTS_ANSWERED, MAX_ELEMENTS_LISTED, merge, merge_only, render_access_lists, worker_hits,
};

fn check(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("RAMPART_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with RAMPART_UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(got, want, "{name} differs from {}", path.display());
}

/// Nested groups (flattened, a member reached twice listed once),
/// objects, a port group with a range, a service group of two protocols,
/// a service object, an ICMP type group, and a plain entry (not expanded).
const POLICY: &str = "object network WEB1
 host 198.18.1.10
object network NET2
 subnet 198.18.2.0 255.255.255.0
object network R3
 range 198.18.3.1 198.18.3.9
object service SSH
 service tcp destination eq ssh
object-group network INNER
 network-object host 198.18.1.11
 network-object object WEB1
object-group network WEB
 network-object object WEB1
 group-object INNER
 network-object object R3
object-group service WEBPORTS tcp
 port-object eq www
 port-object range 8000 8080
object-group service SVC
 service-object tcp destination eq https
 service-object udp destination eq domain
object-group icmp-type PINGS
 icmp-object echo
 icmp-object time-exceeded
access-list IN remark web servers
access-list IN extended permit tcp any object-group WEB object-group WEBPORTS
access-list IN extended permit object-group SVC any object NET2
access-list IN extended permit icmp any any object-group PINGS
access-list IN extended permit object SSH host 198.18.0.10 any log
access-list IN extended deny tcp any any neq 25
access-group IN in interface inside
";

fn policy(text: &str) -> Arc<Policy> {
    let cfg = parse_config(text).unwrap().config;
    let ifaces = EngineConfig::inside_outside(NodeId(1), [1; 4]).interfaces;
    Arc::new(compile(&cfg, &ifaces).unwrap())
}

fn engine(p: &Arc<Policy>) -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1; 4])).unwrap();
    e.set_policy(p.clone()).unwrap();
    e
}

/// A SYN from inside to `server`:`port`.
fn syn(e: &mut Engine, client_port: u16, server: [u8; 4], port: u16) -> Verdict {
    let (c, mut s) = v4_pair(client_port, port);
    s.ip = server.into();
    let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    e.process(
        &mut f,
        PacketMeta::default(),
        IfaceId(0),
        Instant::from_secs(9),
    )
}

/// Two workers, hits on members of the web group on both, a DNS query
/// to the object's subnet, a telnet SYN denied by the `neq` entry.
fn shown() -> (AccessLists, Vec<Engine>) {
    let p = policy(POLICY);
    let (mut w0, mut w1) = (engine(&p), engine(&p));
    assert!(matches!(
        syn(&mut w0, 40_000, [198, 18, 1, 10], 80),
        Verdict::Forward { .. }
    ));
    syn(&mut w1, 40_001, [198, 18, 1, 10], 80);
    syn(&mut w1, 40_002, [198, 18, 3, 5], 8080);
    syn(&mut w0, 40_003, [198, 18, 1, 11], 23);
    let (c, mut s) = v4_pair(5353, 53);
    s.ip = [198, 18, 2, 7].into();
    let mut q = udp_frame(&c, &s, b"q");
    let v = w1.process(
        &mut q,
        PacketMeta::default(),
        IfaceId(0),
        Instant::from_secs(9),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    let a = merge(vec![worker_hits(&w0), worker_hits(&w1)]);
    (a, vec![w0, w1])
}

#[test]
fn entries_over_groups_list_their_elements_as_the_asa_does() {
    let (a, _) = shown();
    let text = render_access_lists(&a);
    check("show_access_list_elements.txt", &text);
    // The web entry: 3 connections, 2 on the first element, 1 on the
    // range's second port block; its elements sum to it.
    let web = &a.lists[0].lines[1];
    assert_eq!(web.hitcnt, Some(3));
    let sum: u64 = web.children.iter().map(|c| c.hitcnt).sum();
    assert_eq!(sum, 3);
    assert_eq!(web.children.len(), 6);
    assert_eq!(web.elements, 6);
    assert!(text.contains(
        "\n  access-list IN line 2 extended permit tcp any host 198.18.1.10 eq www (hitcnt=2) "
    ));
    // A plain entry is not expanded, though `neq` is two elements.
    assert_eq!(a.lists[0].lines[5].children, []);
    assert_eq!(a.lists[0].lines[5].hitcnt, Some(1));
}

#[test]
fn the_json_carries_each_entrys_elements() {
    let (a, _) = shown();
    let json = serde_json::to_string_pretty(&a).unwrap();
    check("show_access_list_elements.json", &format!("{json}\n"));
    let back: AccessLists = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
}

#[test]
fn a_clear_zeroes_every_element() {
    let (_, mut workers) = shown();
    for w in &mut workers {
        assert_eq!(w.clear_acl_hits(Some("IN")), 1);
    }
    let a = merge(workers.iter().map(worker_hits).collect());
    for line in &a.lists[0].lines {
        assert!(line.hitcnt.is_none_or(|n| n == 0), "{line:?}");
        assert!(line.children.iter().all(|c| c.hitcnt == 0), "{line:?}");
    }
    assert_eq!(a.lists[0].lines[1].children.len(), 6);
}

/// An entry crossing 400 × 400 hosts has 160,000 elements: the first
/// 10,000 are listed, the rest said to be left out (and counted: a hit on
/// the last one shows in the entry's total); eleven such entries stop at
/// the answer's bound.
#[test]
fn a_large_expansion_is_listed_within_bounds() {
    let mut text = String::new();
    for g in ["A", "B"] {
        text += &format!("object-group network {g}\n");
        for i in 0..400u32 {
            let o = if g == "A" { 18 } else { 19 };
            text += &format!(" network-object host 198.{o}.{}.{}\n", i / 200, i % 200 + 1);
        }
    }
    for i in 0..11 {
        text += &format!(
            "access-list BIG extended permit tcp object-group A object-group B eq {}\n",
            1000 + i
        );
    }
    text += "access-list SMALL extended permit udp any object-group B eq 53\n\
             access-group BIG in interface inside\n";
    let p = policy(&text);
    let mut e = engine(&p);
    // The last element of the first entry: A's last host to B's last.
    let (mut c, mut s) = v4_pair(40_000, 1000);
    c.ip = [198, 18, 1, 200].into();
    s.ip = [198, 19, 1, 200].into();
    let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    let v = e.process(
        &mut f,
        PacketMeta::default(),
        IfaceId(0),
        Instant::from_secs(9),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    let started = std::time::Instant::now();
    let a = merge(vec![worker_hits(&e)]);
    let took = started.elapsed();
    let lines = &a.lists[0].lines;
    assert_eq!(lines[0].elements, 160_000);
    assert_eq!(lines[0].hitcnt, Some(1));
    assert_eq!(lines[0].children.len(), MAX_ELEMENTS_LISTED);
    assert_eq!(lines[0].children_omitted, 150_000);
    let listed: usize = lines.iter().map(|l| l.children.len()).sum();
    assert_eq!(listed, MAX_ELEMENTS_ANSWERED);
    assert_eq!(lines[10].children, []);
    assert_eq!(lines[10].children_omitted, 160_000);
    let rendered = render_access_lists(&a);
    assert!(rendered.contains("\n  access-list BIG line 1: 150000 more elements not listed\n"));
    assert_eq!(
        rendered.lines().count(),
        1 + 11 + MAX_ELEMENTS_ANSWERED + 11 + 2 + 1
    );
    // Past the answer's bound, another list's elements are not listed;
    // asked for alone, they are.
    assert_eq!(a.lists[1].lines[0].children, []);
    let small = merge_only(vec![worker_hits(&e)], Some("SMALL"));
    assert_eq!(small.lists.len(), 1);
    assert_eq!(small.lists[0].lines[0].children.len(), 400);
    eprintln!("1,760,000 elements, 100,000 listed: {took:?}");
}
