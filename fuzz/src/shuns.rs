//! `engine_process` with shuns (docs/asa-behaviour.md §2.12): control
//! bits 4-7 of an input's *third* record (ignored before the choice
//! existed, and clear in every seed written then) put a shun table in
//! force before the first frame, each bit adding shuns of the seeds'
//! hosts:
//!
//! - bit 4: `198.18.0.10` (the IPv4 client, inside) on every interface;
//! - bit 5: `198.18.1.10` (the IPv4 server) on the outside only;
//! - bit 6: `2001:db8::10` (the IPv6 client) on VLAN 100 (the tagged
//!   seeds');
//! - bit 7: `::ffff:198.18.0.10`, the IPv4 client's mapped form (no
//!   packet's source), and the server again on the outside (a duplicate,
//!   which the table leaves out) and on VLAN 100.
//!
//! The shuns are set on the engine and on its capture twin alike.

use std::net::IpAddr;
use std::sync::Arc;

use rampart_dataplane::IfaceId;
use rampart_dataplane::shun::{Shun, ShunScope, ShunTable};

/// The bits of the third record's control byte that choose the shuns.
pub const BITS: u8 = 0xf0;

/// The shun bits an input's third record carries (0 for an input of fewer
/// records).
pub fn of_input(data: &[u8]) -> u8 {
    crate::records(data).nth(2).map_or(0, |(c, _, _)| c & BITS)
}

/// The shun table `bits` choose; `None` for none.
pub fn table(bits: u8) -> Option<Arc<ShunTable>> {
    let ip = |s: &str| -> IpAddr { s.parse().expect("an address") };
    let shun = |source: &str, scope| Shun {
        source: ip(source),
        conn: None,
        scope,
    };
    let (client, server) = ("198.18.0.10", "198.18.1.10");
    let outside = ShunScope::Interface(IfaceId(1));
    let mut shuns = Vec::new();
    if bits & 0x10 != 0 {
        shuns.push(shun(client, ShunScope::Any));
    }
    if bits & 0x20 != 0 {
        shuns.push(shun(server, outside));
    }
    if bits & 0x40 != 0 {
        shuns.push(shun("2001:db8::10", ShunScope::Vlan(100)));
    }
    if bits & 0x80 != 0 {
        shuns.push(shun("::ffff:198.18.0.10", ShunScope::Any));
        shuns.push(shun(server, outside));
        shuns.push(shun(server, ShunScope::Vlan(100)));
    }
    (!shuns.is_empty()).then(|| Arc::new(ShunTable::new(shuns)))
}

/// `input` with its third record's shun bits set to `bits` (an input of
/// fewer records is returned as it is).
pub fn with_shuns(input: &[u8], bits: u8) -> Vec<u8> {
    let mut out = input.to_vec();
    let mut at = 0;
    for _ in 0..2 {
        let Some(&[hi, lo]) = out.get(at + 2..at + 4) else {
            return out;
        };
        at += crate::STEP_HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo]));
    }
    if let Some(c) = out.get_mut(at) {
        *c = (*c & !BITS) | (bits & BITS);
    }
    out
}
