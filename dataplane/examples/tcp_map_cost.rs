//! Instructions per packet of the engine with and without a tcp-map, for
//! callgrind (scripts/bench/README.md, "tcp-map cost"):
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='tcp_map_cost::workload::measure_established' \
//!     target/release/examples/tcp_map_cost none
//! ```
//!
//! The workload of `capture_cost.rs` (2,000 connections opened, then
//! 10,000 in-window data segments over 1,000 other established ones), but
//! every data segment carries a timestamps option (kind 8, RFC 7323 §3),
//! as most stacks send. The argument picks the policy of class-default
//! (randomization off in all): `none` (no tcp-map), `allow` (a map that
//! changes nothing these frames carry: `tcp-options range 19 19 allow`)
//! or `clear` (the same and `tcp-options timestamp clear`, which rewrites
//! every data segment).

use std::sync::Arc;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::{Side, TcpModel};
use rampart_dataplane::{Engine, EngineConfig};

#[path = "workload/mod.rs"]
mod workload;
use workload::{EST_CONNS, EST_ROUNDS, NEW_CONNS};

fn policy(scenario: &str) -> rampart_dataplane::policy::ast::Config {
    let map = match scenario {
        "none" => return randomization_off(),
        "allow" => " tcp-options range 19 19 allow\n",
        "clear" => " tcp-options range 19 19 allow\n tcp-options timestamp clear\n",
        other => panic!("unknown scenario {other}"),
    };
    let text = format!(
        "tcp-map M\n{map}policy-map global_policy\n class class-default\n  \
         set connection random-sequence-number disable\n  set connection advanced-options M\n\
         service-policy global_policy global\n"
    );
    rampart_dataplane::policy::parse::parse_config(&text)
        .unwrap()
        .config
}

/// The IPv4 frame's TCP checksum set right (RFC 9293 §3.1).
fn fix_checksum(f: &mut [u8]) {
    let l4 = 14 + 20;
    f[l4 + 16..l4 + 18].fill(0);
    let mut sum = 6 + (f.len() - l4) as u32;
    for w in f[14 + 12..14 + 20].chunks(2).chain(f[l4..].chunks(2)) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[l4 + 16..l4 + 18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// A data segment of `m` with a timestamps option (a one-block SACK
/// option, as long, made one).
fn data_with_timestamps(m: &mut TcpModel, n: u32) -> Vec<u8> {
    let mut d = m.data(Side::Client, 100);
    d.sack = vec![(1, 2)];
    let mut f = m.frame(&d);
    let at = (14 + 40..).find(|&i| f[i] == 5).unwrap();
    f[at] = 8;
    f[at + 2..at + 10].copy_from_slice(&[0, 0, 0, n as u8, 0, 0, 0, 1]);
    fix_checksum(&mut f);
    f
}

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_else(|| "none".into());
    let mut cfg = EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4]);
    cfg.max_conns = 8_192;
    let mut e = Engine::new(cfg).unwrap();
    let p = compile(&policy(&scenario), &e.config().interfaces).unwrap();
    e.set_policy(Arc::new(p)).unwrap();
    workload::run(&mut e, data_with_timestamps);
    assert_eq!(e.counters().total_dropped(), 0);
    let cleared = e.counters().normalizer.options_cleared;
    assert_eq!(
        cleared,
        if scenario == "clear" {
            u64::from(EST_CONNS * EST_ROUNDS)
        } else {
            0
        }
    );
    println!(
        "{scenario}: {} forwarded, {} new, {} established, {cleared} options cleared",
        e.counters().forwarded_packets,
        NEW_CONNS,
        EST_CONNS * EST_ROUNDS
    );
}
