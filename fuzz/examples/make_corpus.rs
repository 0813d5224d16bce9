//! Writes the seed corpus for `engine_process` from real frames of the
//! model endpoint pair: `cargo run --example make_corpus` (in fuzz/).

use std::fs;
use std::path::Path;

use rampart_dataplane::IfaceId;
use rampart_dataplane::trace::{
    Host, Side, TcpModel, echo_frame, icmpv4_unreachable_frame, udp_frame, v4_pair,
};

/// Encode frames in the target's input format (checksums verified, 20 ms apart).
fn encode(frames: &[(Vec<u8>, IfaceId)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (f, iface) in frames {
        out.push(iface.0 | 0b100);
        out.push(1);
        out.extend_from_slice(&(f.len() as u16).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn main() {
    let dir = Path::new("corpus/engine_process");
    fs::create_dir_all(dir).expect("corpus dir");
    let (c, s) = v4_pair(40_000, 80);
    let mut m = TcpModel::new(c, s, [1, 2], [64_240, 65_160], [Some(7), Some(7)]);
    let mut tcp: Vec<(Vec<u8>, IfaceId)> = Vec::new();
    for seg in m.handshake() {
        tcp.push((m.frame(&seg), m.iface(seg.from)));
    }
    for _ in 0..2 {
        let d = m.data(Side::Client, 40);
        tcp.push((m.frame(&d), c.iface));
        let a = m.data(Side::Server, 60);
        tcp.push((m.frame(&a), s.iface));
    }
    let mut close = tcp.clone();
    for seg in [
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        close.push((m.frame(&seg), m.iface(seg.from)));
    }
    let mut reset = tcp.clone();
    let r = m.clone().rst(Side::Server);
    reset.push((m.frame(&r), s.iface));

    let (uc, us) = v4_pair(5353, 53);
    let q = udp_frame(&uc, &us, b"query");
    let udp = vec![
        (q.clone(), uc.iface),
        (udp_frame(&us, &uc, b"answer"), us.iface),
    ];
    let icmp_err = vec![
        (q.clone(), uc.iface),
        (icmpv4_unreachable_frame(&us, &uc, &q), us.iface),
    ];
    let (pc, ps) = v4_pair(0, 0);
    let ping = vec![
        (echo_frame(&pc, &ps, 9, 1, false), pc.iface),
        (echo_frame(&ps, &pc, 9, 1, true), ps.iface),
    ];
    let v6c = Host {
        ip: "2001:db8::10".parse().unwrap(),
        ..c
    };
    let v6s = Host {
        ip: "2001:db8:1::10".parse().unwrap(),
        ..s
    };
    let mut m6 = TcpModel::new(v6c, v6s, [7, 8], [65_535, 65_535], [None, Some(3)]);
    let v6: Vec<_> = m6
        .handshake()
        .iter()
        .map(|seg| (m6.frame(seg), m6.iface(seg.from)))
        .collect();

    for (name, frames) in [
        ("seed-tcp-data", tcp),
        ("seed-tcp-close", close),
        ("seed-tcp-reset", reset),
        ("seed-udp", udp),
        ("seed-icmp-error", icmp_err),
        ("seed-ping", ping),
        ("seed-tcp6", v6),
    ] {
        fs::write(dir.join(name), encode(&frames)).expect("write seed");
    }
}
