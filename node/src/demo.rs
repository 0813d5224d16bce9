//! The built-in demo: a short trace of real frames — ordinary traffic and a
//! few attacks — through one engine with the ASA's defaults (sequence
//! randomization on), with the engine's own verdicts.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{Seg, Side, TcpModel, echo_frame, udp_frame, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, IfaceId, Instant, Verdict};
use rampart_ops::{ConnFilter, render_asp_drop, render_show_conn};

/// The engine, its clock and the transcript.
struct Demo {
    engine: Engine,
    now: Instant,
    names: Vec<String>,
    out: String,
    step: usize,
}

impl Demo {
    /// Process one frame and write a transcript line.
    fn send(&mut self, what: &str, mut frame: Vec<u8>, ingress: IfaceId) {
        self.now = self.now + Duration::from_millis(1);
        self.step += 1;
        let verdict = self
            .engine
            .process(&mut frame, PacketMeta::default(), ingress, self.now);
        let v = match verdict {
            Verdict::Forward { egress } => {
                format!("forward -> {}", self.names[usize::from(egress.0)])
            }
            Verdict::Drop(r) => format!("DROP ({})", r.label()),
            Verdict::Hold => "held for a peer's state".to_string(),
        };
        let _ = writeln!(self.out, "{:>3}  {what:<66} {v}", self.step);
    }

    fn tcp(&mut self, what: &str, m: &TcpModel, seg: &Seg) {
        self.send(what, m.frame(seg), m.iface(seg.from));
    }

    /// The three-way handshake, the endpoints following the engine's
    /// randomization offset once the SYN has passed.
    fn handshake(&mut self, name: &str, m: &mut TcpModel, notes: [&str; 3]) {
        let seg = m.syn();
        self.tcp(&format!("{name}: SYN{}", notes[0]), m, &seg);
        self.follow_randomization(m);
        let seg = m.syn_ack();
        self.tcp(&format!("{name}: SYN-ACK{}", notes[1]), m, &seg);
        let seg = m.ack(Side::Client);
        self.tcp(&format!("{name}: ACK{}", notes[2]), m, &seg);
    }

    /// Let the model pair follow the sequence offset the engine chose for
    /// its connection, as real endpoints behind the firewall would.
    fn follow_randomization(&self, m: &mut TcpModel) {
        if let Some(e) = self.engine.find(&m.tuple(), self.now) {
            m.set_shift(e.seq_offset);
        }
    }
}

/// Run the trace and render the report.
pub fn run() -> anyhow::Result<String> {
    let cfg = EngineConfig::inside_outside(NodeId(1), [0x5eed, 1, 2, 3]);
    let mut engine = Engine::new(cfg).context("building the demo engine")?;
    let policy = rampart_dataplane::policy::parse::parse_config(crate::lab::ICMP_INSPECTION_POLICY)
        .map_err(|e| anyhow::anyhow!("the demo policy: {e:?}"))?
        .config;
    let policy = rampart_dataplane::policy::compile::compile(&policy, &engine.config().interfaces)
        .context("compiling the demo policy")?;
    engine
        .set_policy(std::sync::Arc::new(policy))
        .context("installing the demo policy")?;
    let names = engine
        .config()
        .interfaces
        .iter()
        .map(|i| i.nameif.clone())
        .collect();
    let mut d = Demo {
        engine,
        now: Instant::from_secs(1),
        names,
        out: String::new(),
        step: 0,
    };
    writeln!(
        d.out,
        "Rampart demo: a built-in trace through one engine (inside = security 100, outside = 0,\n\
         ASA defaults: strict TCP tracking, normalizer, sequence randomization; ICMP inspected)\n"
    )?;

    // A web fetch that completes and closes, with two attacks mid-stream.
    let (c, s) = v4_pair(40_000, 80);
    let mut web = TcpModel::new(
        c,
        s,
        [0x1000_0000, 0x7000_0000],
        [64_240, 65_160],
        [Some(7), Some(7)],
    );
    d.handshake(
        "web",
        &mut web,
        [
            " (inside -> outside)",
            " (acks the randomized ISN)",
            ", connection up",
        ],
    );
    let req = web.data(Side::Client, 300);
    d.tcp("web: HTTP request, 300 bytes", &web, &req);
    let seg = web.data(Side::Server, 1400);
    d.tcp("web: response, 1400 bytes", &web, &seg);
    d.tcp(
        "web: late retransmission of the request (already acked: passes)",
        &web,
        &req,
    );
    // Attackers are not the real endpoints: build their segments on a copy
    // of the pair so the real conversation does not account for them.
    let mut inject = web.clone().data(Side::Server, 200);
    inject.seq = inject.seq.wrapping_add(0x4000_0000);
    d.tcp("attack: data injected far beyond the window", &web, &inject);
    let mut rst = web.clone().rst(Side::Server);
    rst.seq = rst.seq.wrapping_add(0x2000_0000);
    d.tcp("attack: blind RST outside the window", &web, &rst);
    let seg = web.fin(Side::Client);
    d.tcp("web: client FIN", &web, &seg);
    let seg = web.fin(Side::Server);
    d.tcp("web: server FIN", &web, &seg);
    let seg = web.ack(Side::Client);
    d.tcp("web: last ACK, connection closed", &web, &seg);

    // A long-lived session that stays up.
    let (c2, s2) = v4_pair(40_001, 22);
    let mut ssh = TcpModel::new(c2, s2, [5, 9], [64_240, 65_160], [Some(7), Some(7)]);
    d.handshake("ssh", &mut ssh, ["", "", ""]);
    let seg = ssh.data(Side::Client, 48);
    d.tcp("ssh: keystrokes", &ssh, &seg);

    let (dc, ds) = v4_pair(53_535, 53);
    d.send(
        "dns: query",
        udp_frame(&dc, &ds, b"example query"),
        dc.iface,
    );
    d.send(
        "dns: answer",
        udp_frame(&ds, &dc, b"example answer!"),
        ds.iface,
    );
    let (pc, ps) = v4_pair(0, 0);
    d.send(
        "ping: echo request",
        echo_frame(&pc, &ps, 77, 1, false),
        pc.iface,
    );
    d.send(
        "ping: echo reply",
        echo_frame(&ps, &pc, 77, 1, true),
        ps.iface,
    );

    let (oc, os) = v4_pair(3389, 51_000);
    let mut scan = TcpModel::new(os, oc, [1, 1], [1024, 1024], [None, None]);
    let probe = scan.syn();
    d.tcp(
        "attack: SYN from outside to an inside host (no access rule)",
        &scan,
        &probe,
    );
    let (ac, as_) = v4_pair(40_002, 443);
    let mut ack_scan = TcpModel::new(ac, as_, [1, 1], [1024, 1024], [None, None]);
    ack_scan.handshake();
    let stray = ack_scan.data(Side::Server, 10);
    d.tcp(
        "attack: mid-stream packet with no connection",
        &ack_scan,
        &stray,
    );
    let mut corrupt = udp_frame(&dc, &ds, b"bits flipped in transit");
    let n = corrupt.len();
    corrupt[n - 1] ^= 0x55;
    d.send("noise: UDP datagram with a bad checksum", corrupt, dc.iface);
    d.now = d.now + Duration::from_secs(3);
    d.send(
        "ping: reply after the 2 s ICMP timeout",
        echo_frame(&ps, &pc, 77, 2, true),
        ps.iface,
    );

    let Demo {
        engine,
        now,
        mut out,
        ..
    } = d;
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
        "\n{} frames forwarded, {} dropped; {} connection(s) with randomized sequence numbers",
        c.forwarded_packets,
        c.total_dropped(),
        c.normalizer.seq_randomized_conns,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The demo is the README's main job: its verdicts must stay what the
    /// transcript claims.
    #[test]
    fn demo_verdicts() {
        let out = super::run().unwrap();
        let verdicts: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("forward ->") || l.contains("DROP ("))
            .map(|l| {
                if l.contains("DROP") {
                    l.rsplit('(').next().unwrap().trim_end_matches(')')
                } else {
                    "fwd"
                }
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "tcp-seq-past-win",
                "tcp-rstfin-ooo",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "fwd",
                "acl-drop",
                "tcp-not-syn",
                "bad-udp-cksum",
                "icmp-no-connection",
            ]
        );
        assert!(out.contains("flags UfFrRIO"), "{out}");
        assert!(
            out.contains("2 connection(s) with randomized sequence numbers"),
            "{out}"
        );
    }
}
