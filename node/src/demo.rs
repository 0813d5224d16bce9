//! The built-in demo: a short trace of real frames — ordinary traffic and a
//! few attacks — through one engine, with the engine's own verdicts.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Side, TcpModel, echo_frame, udp_frame, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};
use rampart_ops::{ConnFilter, render_asp_drop, render_show_conn};

/// One step of the trace.
struct Step {
    what: String,
    frame: Vec<u8>,
    ingress: IfaceId,
    /// Time since the previous step.
    after: Duration,
}

fn step(what: impl Into<String>, frame: Vec<u8>, ingress: IfaceId) -> Step {
    Step {
        what: what.into(),
        frame,
        ingress,
        after: Duration::from_millis(1),
    }
}

/// The trace: a web fetch that completes and closes, a long-lived session,
/// DNS, ping, and the attacks a stateful firewall exists to stop.
fn trace() -> Vec<Step> {
    let mut steps = Vec::new();

    let (c, s) = v4_pair(40_000, 80);
    let mut web = TcpModel::new(
        c,
        s,
        [0x1000_0000, 0x7000_0000],
        [64_240, 65_160],
        [Some(7), Some(7)],
    );
    let [syn, sa, ack] = web.handshake();
    steps.push(step(
        "web: client SYN (inside -> outside)",
        web.frame(&syn),
        c.iface,
    ));
    steps.push(step("web: server SYN-ACK", web.frame(&sa), s.iface));
    steps.push(step(
        "web: client ACK, connection up",
        web.frame(&ack),
        c.iface,
    ));
    let req = web.data(Side::Client, 300);
    steps.push(step(
        "web: HTTP request, 300 bytes",
        web.frame(&req),
        c.iface,
    ));
    let resp = web.data(Side::Server, 1400);
    steps.push(step("web: response, 1400 bytes", web.frame(&resp), s.iface));
    let stale = web.retransmit(3).expect("the request was sent");
    steps.push(step(
        "web: late retransmission of the request (already acked: passes)",
        web.frame(&stale),
        c.iface,
    ));
    // Attackers are not the real endpoints: build their segments on a copy
    // of the pair so the real conversation does not account for them.
    let mut inject = web.clone().data(Side::Server, 200);
    inject.seq = inject.seq.wrapping_add(0x4000_0000);
    steps.push(step(
        "attack: data injected far beyond the window",
        web.frame(&inject),
        s.iface,
    ));
    let mut rst = web.clone().rst(Side::Server);
    rst.seq = rst.seq.wrapping_add(0x2000_0000);
    steps.push(step(
        "attack: blind RST outside the window",
        web.frame(&rst),
        s.iface,
    ));
    let f1 = web.fin(Side::Client);
    steps.push(step("web: client FIN", web.frame(&f1), c.iface));
    let f2 = web.fin(Side::Server);
    steps.push(step("web: server FIN", web.frame(&f2), s.iface));
    let last = web.ack(Side::Client);
    steps.push(step(
        "web: last ACK, connection closed",
        web.frame(&last),
        c.iface,
    ));

    let (c2, s2) = v4_pair(40_001, 22);
    let mut ssh = TcpModel::new(c2, s2, [5, 9], [64_240, 65_160], [Some(7), Some(7)]);
    for (i, seg) in ssh.handshake().iter().enumerate() {
        let side = if i == 1 { s2.iface } else { c2.iface };
        steps.push(step(
            format!("ssh: handshake {}/3", i + 1),
            ssh.frame(seg),
            side,
        ));
    }
    let keys = ssh.data(Side::Client, 48);
    steps.push(step("ssh: keystrokes", ssh.frame(&keys), c2.iface));

    let (dc, ds) = v4_pair(53_535, 53);
    steps.push(step(
        "dns: query",
        udp_frame(&dc, &ds, b"example query"),
        dc.iface,
    ));
    steps.push(step(
        "dns: answer",
        udp_frame(&ds, &dc, b"example answer!"),
        ds.iface,
    ));
    let (pc, ps) = v4_pair(0, 0);
    steps.push(step(
        "ping: echo request",
        echo_frame(&pc, &ps, 77, 1, false),
        pc.iface,
    ));
    steps.push(step(
        "ping: echo reply",
        echo_frame(&ps, &pc, 77, 1, true),
        ps.iface,
    ));

    let (oc, os) = v4_pair(3389, 51_000);
    let mut scan = TcpModel::new(os, oc, [1, 1], [1024, 1024], [None, None]);
    let probe = scan.syn();
    steps.push(step(
        "attack: SYN from outside to an inside host (no access rule)",
        scan.frame(&probe),
        os.iface,
    ));
    let (ac, as_) = v4_pair(40_002, 443);
    let mut ack_scan = TcpModel::new(ac, as_, [1, 1], [1024, 1024], [None, None]);
    ack_scan.handshake();
    let stray = ack_scan.data(Side::Server, 10);
    steps.push(step(
        "attack: mid-stream packet with no connection",
        ack_scan.frame(&stray),
        as_.iface,
    ));
    let mut corrupt = udp_frame(&dc, &ds, b"bits flipped in transit");
    let n = corrupt.len();
    corrupt[n - 1] ^= 0x55;
    steps.push(step(
        "noise: UDP datagram with a bad checksum",
        corrupt,
        dc.iface,
    ));
    let mut late = step(
        "ping: reply after the 2 s ICMP timeout",
        echo_frame(&ps, &pc, 77, 2, true),
        ps.iface,
    );
    late.after = Duration::from_secs(3);
    steps.push(late);
    steps
}

/// Run the trace and render the report.
pub fn run() -> anyhow::Result<String> {
    let cfg = EngineConfig::inside_outside(NodeId(1), [0x5eed, 1, 2, 3]);
    let mut engine = Engine::new(cfg).context("building the demo engine")?;
    let names: Vec<String> = engine
        .config()
        .interfaces
        .iter()
        .map(|i| i.nameif.clone())
        .collect();
    let mut now = Instant::from_secs(1);
    let mut out = String::new();
    writeln!(
        out,
        "Rampart demo: a built-in trace through one engine (inside = security 100, outside = 0)\n"
    )?;
    for (n, s) in trace().into_iter().enumerate() {
        now = now + s.after;
        let mut frame = s.frame;
        let verdict = engine.process(&mut frame, PacketMeta::default(), s.ingress, now);
        let v = match verdict {
            Verdict::Forward { egress } => format!("forward -> {}", names[usize::from(egress.0)]),
            Verdict::Drop(r) => format!("DROP ({})", r.label()),
        };
        writeln!(out, "{:>3}  {:<66} {v}", n + 1, s.what)?;
    }
    writeln!(out, "\nrampart# show conn")?;
    out.push_str(&render_show_conn(
        &engine,
        now,
        &ConnFilter::default(),
        false,
    ));
    writeln!(out, "\nrampart# show asp drop")?;
    out.push_str(&render_asp_drop(engine.counters()));
    let c = engine.counters();
    writeln!(
        out,
        "\n{} frames forwarded, {} dropped",
        c.forwarded_packets,
        c.total_dropped(),
    )?;
    Ok(out)
}
