//! Instructions per new connection through an access-group whose entries
//! cross object-groups, for callgrind (scripts/bench/README.md, "Access-list
//! element counts"):
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='acl_elements_cost::measure_new' \
//!     target/release/examples/acl_elements_cost
//! ```
//!
//! A fixed workload: 2,000 connections opened (SYN, SYN-ACK, ACK) from
//! inside to the members of a 20-server group on three ports of a port
//! group, past four entries over groups that do not match them
//! (`measure_new`); then 2,000 SYNs an entry over a group denies
//! (`measure_deny`). Frames are built outside both.

use std::hint::black_box;
use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{compile, disable_randomization};
use rampart_dataplane::policy::parse_config;
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

const CONNS: u32 = 2_000;
const NOW: Instant = Instant::from_secs(1_700_000_000);

type Frames = Vec<(Vec<u8>, IfaceId)>;

fn policy() -> String {
    let mut t = String::from("object-group network WEB\n");
    for i in 1..=20 {
        t += &format!(" network-object host 198.18.1.{i}\n");
    }
    t += "object-group network OTHER\n";
    for i in 1..=20 {
        t += &format!(" network-object host 198.18.2.{i}\n");
    }
    t += "object-group service PORTS tcp\n port-object eq www\n port-object eq https\n \
          port-object eq 8080\n\
          object-group service MAIL tcp\n port-object eq smtp\n port-object eq pop3\n \
          port-object eq imap4\n\
          object-group network CLIENTS\n network-object 198.18.0.0 255.255.255.0\n";
    for acl in [
        "deny tcp any object-group WEB eq telnet",
        "permit tcp any object-group OTHER object-group MAIL",
        "permit udp any object-group WEB eq domain",
        "permit tcp object-group CLIENTS object-group OTHER object-group PORTS",
        "permit tcp any object-group WEB object-group MAIL",
        "permit tcp object-group CLIENTS object-group WEB object-group PORTS",
    ] {
        t += &format!("access-list IN extended {acl}\n");
    }
    t + "access-group IN in interface inside\n"
}

fn engine() -> Engine {
    let mut e = Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap();
    let mut cfg = parse_config(&policy()).unwrap().config;
    disable_randomization(&mut cfg);
    let p = compile(&cfg, &e.config().interfaces).unwrap();
    e.set_policy(Arc::new(p)).unwrap();
    e
}

fn model(i: u32, port: u16) -> TcpModel {
    let (c, mut s) = v4_pair(10_000 + i as u16, port);
    s.ip = [198, 18, 1, (i % 20 + 1) as u8].into();
    TcpModel::new(c, s, [1, 2], [64_000, 64_000], [None, None])
}

fn handshakes() -> Frames {
    let ports = [80, 443, 8080];
    let mut out = Vec::new();
    for i in 0..CONNS {
        let mut m = model(i, ports[i as usize % 3]);
        for seg in m.handshake().to_vec() {
            out.push((m.frame(&seg), m.iface(seg.from)));
        }
    }
    out
}

fn denied() -> Frames {
    (0..CONNS)
        .map(|i| {
            let mut m = model(30_000 + i, 23);
            let syn = m.syn();
            (m.frame(&syn), m.iface(Side::Client))
        })
        .collect()
}

#[inline(never)]
fn measure_new(e: &mut Engine, frames: &mut Frames) {
    for (f, iface) in frames.iter_mut() {
        black_box(e.process(f, PacketMeta::default(), *iface, NOW));
    }
}

#[inline(never)]
fn measure_deny(e: &mut Engine, frames: &mut Frames) -> usize {
    let mut n = 0;
    for (f, iface) in frames.iter_mut() {
        let v = e.process(f, PacketMeta::default(), *iface, NOW);
        n += usize::from(!matches!(v, Verdict::Forward { .. }));
    }
    n
}

fn main() {
    let mut e = engine();
    let mut new = handshakes();
    let mut deny = denied();
    measure_new(&mut e, &mut new);
    black_box(measure_deny(&mut e, &mut deny));
    // Every handshake passed, every telnet SYN was denied by its entry.
    let denied = e.counters().dropped(DropReason::AclDeny);
    assert_eq!(
        (denied, e.counters().total_dropped()),
        (u64::from(CONNS), denied)
    );
    println!("{} frames, {} denied", new.len(), deny.len());
}
