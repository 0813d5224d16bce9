//! The checked-in seed corpus: real frames of the trace models, encoded in
//! the target's input format. Each seed is built by driving the same engine
//! the target runs, so TCP seeds follow the engine's sequence randomization
//! (the server acknowledges the shifted numbers) and reach established and
//! closing states instead of stopping at a dropped SYN-ACK. The seeds here
//! run in the default [`Setup`]; those of the other setups (policies,
//! batch mode, the fast path off) are in `setups`.
//!
//! `cargo run --example make_corpus` writes them to
//! `corpus/engine_process/` and their outcomes (verdicts, and frames the
//! engine sent) to `expect/engine_process/`; `cargo test` checks the files
//! are current, that each seed replays to its checked-in outcomes, and that
//! its bytes replay to the outcomes the generator saw.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_dataplane::packet::{ChecksumState, PacketMeta};
use rampart_dataplane::trace::{
    Host, Side, TcpModel, echo_frame, fragment_at, fragment_frame, icmpv4_unreachable_frame,
    ip_frame, sctp_header, udp_frame, v4_pair,
};
use rampart_dataplane::{DropReason, IfaceId, Verdict};

use crate::{
    Captures, Driver, MAX_BATCH_FRAMES, Outcome, Setup, Step, UNKNOWN_IFACE, decode_advance,
    encode_record, step_control,
};

mod setups;

/// Where the seeds live, relative to `fuzz/`.
pub const DIR: &str = "corpus/engine_process";
/// The clock step between ordinary frames of a seed: 50 ms.
const TICK: u8 = 1;
/// A clock step past the 1 h TCP idle timeout: 61 minutes.
const PAST_IDLE: u8 = 0x80 | 61;

/// One seed file.
#[derive(Debug)]
pub struct Seed {
    /// File name, `seed-*`.
    pub name: &'static str,
    /// The encoded input.
    pub input: Vec<u8>,
    /// What the engine made of each frame as the generator drove it (the
    /// expected outcomes are the checked-in `.expect` file, not these).
    pub outcomes: Vec<Outcome>,
}

/// Builds one seed while driving the engine.
struct Gen {
    driver: Driver,
    input: Vec<u8>,
    outcomes: Vec<Outcome>,
    checksum: ChecksumState,
}

impl Gen {
    /// A seed of the default [`Setup`] (what every seed was before the
    /// setup could be chosen).
    fn new(checksum: ChecksumState) -> Self {
        Gen::with(Setup::default(), checksum)
    }

    /// A seed whose first record chooses `setup`.
    fn with(setup: Setup, checksum: ChecksumState) -> Self {
        Gen {
            driver: Driver::new(setup),
            input: Vec::new(),
            outcomes: Vec::new(),
            checksum,
        }
    }

    /// Append a frame to the input; the first carries the setup's bits.
    fn encode(&mut self, frame: &[u8], ingress: IfaceId, advance: u8) {
        let mut control = step_control(ingress, self.checksum);
        if self.input.is_empty() {
            control |= self.driver.setup().control_bits();
        }
        encode_record(&mut self.input, control, advance, frame);
    }

    fn meta(&self) -> PacketMeta {
        PacketMeta {
            checksum: self.checksum,
            ..PacketMeta::default()
        }
    }

    /// Record the verdicts, then what the engine sent of its own.
    fn record(&mut self, verdicts: &[Verdict]) {
        self.outcomes
            .extend(verdicts.iter().map(|&v| Outcome::Verdict(v)));
        let sent = self.driver.take_transmitted();
        self.outcomes
            .extend(sent.into_iter().map(Outcome::Transmit));
    }

    /// Send a frame `advance` after the previous one (in batch mode, as a
    /// batch of one); returns the verdict and the frame as the engine left
    /// it.
    fn send_at(&mut self, frame: &[u8], ingress: IfaceId, advance: u8) -> (Verdict, Vec<u8>) {
        if self.driver.setup().batch {
            let verdict = self.batch(&[frame.to_vec()], ingress, advance)[0];
            return (verdict, self.driver.last_frame().to_vec());
        }
        self.encode(frame, ingress, advance);
        let verdict = self.driver.step(&Step {
            frame,
            ingress,
            meta: self.meta(),
            advance: decode_advance(advance),
        });
        self.record(&[verdict]);
        (verdict, self.driver.last_frame().to_vec())
    }

    /// Send `frames` as one batch (batch mode) `advance` after the
    /// previous frame; returns the verdicts. The advance must not be zero
    /// and the batch at most [`MAX_BATCH_FRAMES`] long, or the target
    /// would not group the frames as sent here.
    fn batch(&mut self, frames: &[Vec<u8>], ingress: IfaceId, advance: u8) -> Vec<Verdict> {
        assert!(self.driver.setup().batch, "a batch-mode seed");
        assert!(advance != 0, "a batch starts with a clock step");
        assert!(
            !frames.is_empty() && frames.len() <= MAX_BATCH_FRAMES,
            "a batch the target forms"
        );
        for (i, frame) in frames.iter().enumerate() {
            self.encode(frame, ingress, if i == 0 { advance } else { 0 });
        }
        let meta = self.meta();
        let steps: Vec<Step<'_>> = frames
            .iter()
            .enumerate()
            .map(|(i, frame)| Step {
                frame,
                ingress,
                meta,
                advance: decode_advance(if i == 0 { advance } else { 0 }),
            })
            .collect();
        let verdicts = self.driver.step_batch(&steps);
        self.record(&verdicts);
        verdicts
    }

    /// A connection on VLAN [`SEED_VLAN`]: its handshake and 20 bytes of
    /// data, tagged, all forwarded. Returns the randomization offset the
    /// engine gave it (the model shifts by it).
    fn vlan_connection(&mut self, m: &mut TcpModel) -> u32 {
        let syn = m.syn();
        self.pass(&vlan_tagged(&m.frame(&syn)), IfaceId(0));
        let tuple = rampart_dataplane::flow::Tuple {
            vlan: SEED_VLAN,
            ..m.tuple()
        };
        let offset = self
            .driver
            .engine()
            .find(&tuple, self.driver.now())
            .expect("open")
            .seq_offset;
        m.set_shift(offset);
        for seg in [m.syn_ack(), m.ack(Side::Client), m.data(Side::Client, 20)] {
            self.pass(&vlan_tagged(&m.frame(&seg)), m.iface(seg.from));
        }
        offset
    }

    /// Send a frame that must be forwarded; returns it as forwarded.
    fn pass(&mut self, frame: &[u8], ingress: IfaceId) -> Vec<u8> {
        let (verdict, out) = self.send_at(frame, ingress, TICK);
        assert!(
            matches!(verdict, Verdict::Forward { .. }),
            "seed frame dropped: {verdict:?}"
        );
        out
    }

    /// Send a frame the engine must keep (a fragment of a datagram).
    fn held(&mut self, frame: &[u8], ingress: IfaceId) {
        let (verdict, _) = self.send_at(frame, ingress, TICK);
        assert_eq!(verdict, Verdict::Hold, "seed frame not kept");
    }

    /// Send a frame that must be dropped for `reason`.
    fn drop_for(&mut self, frame: &[u8], ingress: IfaceId, advance: u8, reason: DropReason) {
        let (verdict, _) = self.send_at(frame, ingress, advance);
        assert_eq!(verdict, Verdict::Drop(reason));
    }

    /// SYN, SYN-ACK, ACK through the engine, the model learning the
    /// engine's sequence shift after the SYN.
    fn open(&mut self, m: &mut TcpModel) {
        let syn = m.syn();
        self.pass(&m.frame(&syn), m.iface(Side::Client));
        let entry = self
            .driver
            .engine()
            .find(&m.tuple(), self.driver.now())
            .expect("the SYN opened an entry");
        m.set_shift(entry.seq_offset);
        for seg in [m.syn_ack(), m.ack(Side::Client)] {
            self.pass(&m.frame(&seg), m.iface(seg.from));
        }
    }

    /// Data both ways, twice; returns the client's last data frame as
    /// forwarded (shifted).
    fn exchange(&mut self, m: &mut TcpModel) -> Vec<u8> {
        let mut last = Vec::new();
        for _ in 0..2 {
            let d = m.data(Side::Client, 40);
            last = self.pass(&m.frame(&d), m.iface(Side::Client));
            let r = m.data(Side::Server, 60);
            self.pass(&m.frame(&r), m.iface(Side::Server));
        }
        last
    }

    fn done(self, name: &'static str) -> Seed {
        Seed {
            name,
            input: self.input,
            outcomes: self.outcomes,
        }
    }
}

fn tcp_model(port: u16) -> TcpModel {
    let (c, s) = v4_pair(port, 80);
    TcpModel::new(
        c,
        s,
        [1_000, 2_000_000],
        [64_240, 65_160],
        [Some(7), Some(7)],
    )
}

fn v6_pair(client_port: u16, server_port: u16) -> (Host, Host) {
    let (c, s) = v4_pair(client_port, server_port);
    (
        Host {
            ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
            ..c
        },
        Host {
            ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10)),
            ..s
        },
    )
}

/// An 802.1Q tag (VLAN 100) inserted after the MAC addresses.
fn vlan_tagged(frame: &[u8]) -> Vec<u8> {
    rampart_dataplane::trace::vlan_tagged(frame.to_vec(), 0, SEED_VLAN)
}

/// The VLAN of the tagged seeds.
const SEED_VLAN: u16 = 100;

/// An ARP request from `src` for `target`.
fn arp_request(src: &Host, target: Ipv4Addr) -> Vec<u8> {
    let IpAddr::V4(spa) = src.ip else {
        panic!("ARP is IPv4");
    };
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src.mac);
    f.extend_from_slice(&[0x08, 0x06]);
    // htype Ethernet, ptype IPv4, hlen 6, plen 4, request.
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&src.mac);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// Every seed, built afresh.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();

    // TCP, from the handshake to a close, a reset and a retransmission.
    let mut g = Gen::new(ChecksumState::Verified);
    g.open(&mut tcp_model(40_000));
    seeds.push(g.done("seed-tcp-handshake"));

    let mut g = Gen::new(ChecksumState::Verified);
    let mut m = tcp_model(40_001);
    g.open(&mut m);
    g.exchange(&mut m);
    seeds.push(g.done("seed-tcp-data"));

    let mut g = Gen::new(ChecksumState::Verified);
    let mut m = tcp_model(40_002);
    g.open(&mut m);
    g.exchange(&mut m);
    for seg in [
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        g.pass(&m.frame(&seg), m.iface(seg.from));
    }
    seeds.push(g.done("seed-tcp-close"));

    let mut g = Gen::new(ChecksumState::Verified);
    let mut m = tcp_model(40_003);
    g.open(&mut m);
    g.exchange(&mut m);
    let r = m.rst(Side::Server);
    g.pass(&m.frame(&r), m.iface(Side::Server));
    seeds.push(g.done("seed-tcp-reset"));

    let mut g = Gen::new(ChecksumState::Verified);
    let mut m = tcp_model(40_004);
    g.open(&mut m);
    g.exchange(&mut m);
    // The client's first data segment again (the 4th segment sent).
    let again = m.retransmit(3).expect("sent");
    g.pass(&m.frame(&again), m.iface(Side::Client));
    seeds.push(g.done("seed-tcp-retransmit"));

    // The same conversation with the checksums left to the engine.
    for (checksum, name) in [
        (ChecksumState::Unverified, "seed-tcp-unverified"),
        (ChecksumState::Partial, "seed-tcp-partial"),
    ] {
        let mut g = Gen::new(checksum);
        let mut m = tcp_model(40_005);
        g.open(&mut m);
        g.exchange(&mut m);
        seeds.push(g.done(name));
    }

    // Data after the idle timeout: the entry is gone.
    let mut g = Gen::new(ChecksumState::Verified);
    let mut m = tcp_model(40_006);
    g.open(&mut m);
    let d = m.data(Side::Client, 40);
    g.drop_for(
        &m.frame(&d),
        m.iface(Side::Client),
        PAST_IDLE,
        DropReason::TcpNotSyn,
    );
    seeds.push(g.done("seed-tcp-idle-expiry"));

    // A connection attempt from outside, and a stray ACK.
    let mut g = Gen::new(ChecksumState::Verified);
    let (c, s) = v4_pair(40_007, 80);
    let mut m = TcpModel::new(s, c, [5, 6], [65_535, 65_535], [None, None]);
    let syn = m.syn();
    let (verdict, _) = g.send_at(&m.frame(&syn), IfaceId(1), TICK);
    assert!(matches!(verdict, Verdict::Drop(_)), "{verdict:?}");
    let mut m = tcp_model(40_008);
    m.handshake();
    let stray = m.data(Side::Client, 10);
    g.drop_for(&m.frame(&stray), IfaceId(0), TICK, DropReason::TcpNotSyn);
    seeds.push(g.done("seed-tcp-refused"));

    // A VLAN-tagged handshake and data.
    let mut g = Gen::new(ChecksumState::Verified);
    let mut m = tcp_model(40_009);
    g.vlan_connection(&mut m);
    seeds.push(g.done("seed-tcp-vlan"));

    // An ICMP error about an established TCP connection, quoting the
    // segment as the server saw it (shifted).
    let mut g = Gen::new(ChecksumState::Verified);
    let mut m = tcp_model(40_010);
    g.open(&mut m);
    let quoted = g.exchange(&mut m);
    let err = icmpv4_unreachable_frame(&m.server, &m.client, &quoted);
    g.pass(&err, IfaceId(1));
    seeds.push(g.done("seed-icmp-error-tcp"));

    // UDP: a query and its answer, then an ICMP error about the flow.
    let (uc, us) = v4_pair(5353, 53);
    let q = udp_frame(&uc, &us, b"query");
    let mut g = Gen::new(ChecksumState::Verified);
    g.pass(&q, uc.iface);
    g.pass(&udp_frame(&us, &uc, b"answer"), us.iface);
    seeds.push(g.done("seed-udp"));

    let mut g = Gen::new(ChecksumState::Verified);
    g.pass(&q, uc.iface);
    g.pass(&icmpv4_unreachable_frame(&us, &uc, &q), us.iface);
    seeds.push(g.done("seed-icmp-error-udp"));

    // ICMP echo.
    let (pc, ps) = v4_pair(0, 0);
    let mut g = Gen::new(ChecksumState::Verified);
    g.pass(&echo_frame(&pc, &ps, 9, 1, false), pc.iface);
    g.pass(&echo_frame(&ps, &pc, 9, 1, true), ps.iface);
    seeds.push(g.done("seed-ping"));

    // IPv6: TCP to a close, UDP, echo.
    let (c6, s6) = v6_pair(40_011, 443);
    let mut m = TcpModel::new(c6, s6, [7, 8], [65_535, 65_535], [None, Some(3)]);
    let mut g = Gen::new(ChecksumState::Verified);
    g.open(&mut m);
    g.exchange(&mut m);
    for seg in [
        m.fin(Side::Client),
        m.fin(Side::Server),
        m.ack(Side::Client),
    ] {
        g.pass(&m.frame(&seg), m.iface(seg.from));
    }
    seeds.push(g.done("seed-tcp6"));

    let (uc6, us6) = v6_pair(5353, 53);
    let mut g = Gen::new(ChecksumState::Unverified);
    g.pass(&udp_frame(&uc6, &us6, b"query"), uc6.iface);
    g.pass(&udp_frame(&us6, &uc6, b"answer"), us6.iface);
    seeds.push(g.done("seed-udp6"));

    let (pc6, ps6) = v6_pair(0, 0);
    let mut g = Gen::new(ChecksumState::Unverified);
    g.pass(&echo_frame(&pc6, &ps6, 3, 1, false), pc6.iface);
    g.pass(&echo_frame(&ps6, &pc6, 3, 1, true), ps6.iface);
    seeds.push(g.done("seed-ping6"));

    // Other IP protocols: a GRE flow and its reply, an SCTP association
    // (with its ports), ESP over IPv6, and GRE from outside that nothing
    // permits.
    let (oc, os) = v4_pair(40_012, 2905);
    let gre = [0, 0, 0x08, 0, 0x45, 0, 0, 20];
    let mut g = Gen::new(ChecksumState::Verified);
    g.pass(&ip_frame(&oc, &os, 47, &gre), oc.iface);
    g.pass(&ip_frame(&os, &oc, 47, &gre), os.iface);
    g.pass(&ip_frame(&oc, &os, 132, &sctp_header(&oc, &os)), oc.iface);
    g.pass(&ip_frame(&os, &oc, 132, &sctp_header(&os, &oc)), os.iface);
    let (ec6, es6) = v6_pair(0, 0);
    let esp = [0, 0, 1, 0, 0, 0, 0, 1];
    g.pass(&ip_frame(&ec6, &es6, 50, &esp), ec6.iface);
    g.pass(&ip_frame(&es6, &ec6, 50, &esp), es6.iface);
    let stranger = Host {
        ip: "198.18.1.11".parse().expect("address"),
        ..os
    };
    g.drop_for(
        &ip_frame(&stranger, &oc, 47, &gre),
        os.iface,
        TICK,
        DropReason::AclDeny,
    );
    seeds.push(g.done("seed-other-protocols"));

    // IP fragments: a UDP datagram in three fragments (the last out of
    // order) and an IPv6 one, each kept until complete; fragments that
    // overlap, whose datagram is dropped whole.
    let (fc, fs) = v4_pair(40_014, 5_000);
    let payload: Vec<u8> = (0..2_000u32).map(|i| i as u8).collect();
    let mut g = Gen::new(ChecksumState::Unverified);
    let mut frags = fragment_frame(&udp_frame(&fc, &fs, &payload), 1_000, 7);
    frags.swap(1, 2);
    for f in &frags {
        g.held(f, fc.iface);
    }
    let (fc6, fs6) = v6_pair(40_015, 5_000);
    for f in fragment_frame(&udp_frame(&fc6, &fs6, &payload), 1_232, 8) {
        g.held(&f, fc6.iface);
    }
    let whole = udp_frame(&fc, &fs, &payload[..64]);
    g.held(
        &fragment_at(&whole, 34, &whole[34..66], 0, true, 9),
        fc.iface,
    );
    g.drop_for(
        &fragment_at(&whole, 34, &[0xee; 24], 24, false, 9),
        fc.iface,
        TICK,
        DropReason::FragmentOverlap,
    );
    seeds.push(g.done("seed-fragments"));

    // ARP passes; a frame on an interface that is not configured does not.
    let mut g = Gen::new(ChecksumState::Verified);
    g.pass(&arp_request(&pc, Ipv4Addr::new(198, 18, 1, 10)), IfaceId(0));
    g.drop_for(&q, UNKNOWN_IFACE, TICK, DropReason::UnknownInterface);
    seeds.push(g.done("seed-arp-unknown-iface"));

    // Shuns (bits 4-7 of the third record, docs/asa-behaviour.md
    // §2.12): the server shunned on the outside (its SYN-ACK, its reply
    // and its fragment dropped; from the inside it passes), the IPv6
    // client on VLAN 100 (tagged dropped, untagged passes), a mapped
    // address that matches nothing, a duplicate the table leaves out.
    let bits = 0x20 | 0x40 | 0x80;
    let mut g = Gen::new(ChecksumState::Verified);
    g.driver
        .set_shuns(crate::shuns::table(bits).expect("shuns"));
    let shunned = DropReason::Shunned;
    let mut m = tcp_model(40_300);
    let syn = m.syn();
    g.pass(&m.frame(&syn), IfaceId(0));
    let synack = m.syn_ack();
    g.drop_for(&m.frame(&synack), IfaceId(1), TICK, shunned);
    let (uc, us) = v4_pair(40_301, 53);
    g.pass(&udp_frame(&uc, &us, b"query"), uc.iface);
    g.drop_for(&udp_frame(&us, &uc, b"answer"), us.iface, TICK, shunned);
    let (ic, is) = v4_pair(40_303, 53);
    let inside = Host {
        iface: IfaceId(0),
        ..is
    };
    g.pass(&udp_frame(&inside, &ic, b"from inside"), IfaceId(0));
    let (vc, vs) = v6_pair(40_302, 53);
    let v6 = udp_frame(&vc, &vs, b"query");
    g.drop_for(&vlan_tagged(&v6), vc.iface, TICK, shunned);
    g.pass(&v6, vc.iface);
    let frags = fragment_frame(&udp_frame(&us, &uc, &[5; 600]), 256, 11);
    g.drop_for(&frags[1], us.iface, TICK, shunned);
    let mut seed = g.done("seed-shunned");
    seed.input = crate::shuns::with_shuns(&seed.input, bits);
    seeds.push(seed);

    // The other setups: the ASA policies, batch mode, the fast path off.
    seeds.extend(setups::all());

    // Captures (bits 4-6 of the second record): the same frames, the same
    // outcomes, every frame kept checked and decoded.
    let inside = Some(IfaceId(0));
    let outside = Some(IfaceId(1));
    let captured = [
        ("seed-tcp-data", "seed-captured-tcp-data", inside, true),
        ("seed-acl-deny", "seed-captured-acl-deny", outside, true),
        ("seed-batch", "seed-captured-batch", inside, false),
        ("seed-idle-reset", "seed-captured-idle-reset", outside, true),
    ];
    for (from, name, raw, drops) in captured {
        let base = seeds
            .iter()
            .find(|s| s.name == from)
            .expect("a seed to capture");
        let input = crate::captures::with_captures(&base.input, Captures { raw, drops });
        let outcomes = base.outcomes.clone();
        seeds.push(Seed {
            name,
            input,
            outcomes,
        });
    }
    seeds
}

/// Frames of every kind `show capture` decodes, for the `capture`
/// target's seeds (and the captures of `engine_process`): a TCP SYN with
/// its options, TCP data, UDP, an ICMP echo and an error quoting TCP, a
/// VLAN-tagged segment, IPv6 TCP and echo, SCTP, a first fragment, ARP.
pub fn capture_frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut m = tcp_model(40_100);
    let seg = m.syn();
    let syn = m.frame(&seg);
    let seg = m.syn_ack();
    let syn_ack = m.frame(&seg);
    let seg = m.ack(Side::Client);
    let ack = m.frame(&seg);
    let seg = m.data(Side::Client, 100);
    let data = m.frame(&seg);
    let (uc, us) = v4_pair(40_101, 53);
    let (ec, es) = v4_pair(7, 7);
    let (vc, vs) = v6_pair(40_102, 80);
    let mut v6 = TcpModel::new(vc, vs, [1, 2], [64_240, 65_160], [Some(7), Some(7)]);
    let seg = v6.syn();
    let v6_syn = v6.frame(&seg);
    let (oc, os) = v4_pair(40_103, 9);
    let udp = udp_frame(&uc, &us, &[0; 40]);
    let first_fragment = fragment_frame(&udp_frame(&uc, &us, &[7; 600]), 256, 9)
        .into_iter()
        .next()
        .expect("a fragment");
    vec![
        ("tcp-syn", syn),
        ("tcp-syn-ack", syn_ack),
        ("tcp-ack", ack.clone()),
        ("tcp-data", data),
        ("udp", udp),
        ("echo", echo_frame(&ec, &es, 1, 1, false)),
        ("icmp-error", icmpv4_unreachable_frame(&es, &ec, &ack)),
        ("vlan", vlan_tagged(&ack)),
        ("v6-tcp", v6_syn),
        ("v6-echo", echo_frame(&vc, &vs, 2, 1, true)),
        ("sctp", ip_frame(&oc, &os, 132, &sctp_header(&oc, &os))),
        ("fragment", first_fragment),
        ("arp", arp_request(&ec, Ipv4Addr::new(198, 18, 1, 1))),
    ]
}
