//! Real pcap files as fixtures: the test writes a trace with the pcap-file
//! crate, reads it back and replays it through the engine. Direction comes
//! from the source MAC (client frames enter on `inside`).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::policy::compile::{compile, randomization_off};
use rampart_dataplane::trace::{Side, TcpModel, udp_frame, v4_pair};
use rampart_dataplane::{DropReason, Engine, EngineConfig, IfaceId, Instant, Verdict};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rampart-{}-{name}.pcap", std::process::id()))
}

/// Write frames to a pcap file, 1 ms apart.
fn write_pcap(path: &PathBuf, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(File::create(path).expect("create pcap")).expect("pcap header");
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_millis(1_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .expect("write packet");
    }
}

/// Replay a pcap file; frames from `inside_mac` enter on interface 0.
fn replay(path: &PathBuf, inside_mac: [u8; 6]) -> (Engine, Vec<Verdict>) {
    let mut eng = Engine::new(EngineConfig::inside_outside(NodeId(1), [5; 4])).unwrap();
    // The recorded endpoints did not pass a randomizing firewall.
    let off = compile(&randomization_off(), &eng.config().interfaces).unwrap();
    eng.set_policy(Arc::new(off))
        .expect("the policy's classes fit");
    let mut r = PcapReader::new(File::open(path).expect("open pcap")).expect("pcap header");
    let mut verdicts = Vec::new();
    while let Some(pkt) = r.next_packet() {
        let pkt = pkt.expect("pcap record");
        let mut data = pkt.data.into_owned();
        let iface = if data.get(6..12) == Some(&inside_mac[..]) {
            IfaceId(0)
        } else {
            IfaceId(1)
        };
        let now = Instant::from_nanos(pkt.timestamp.as_nanos() as u64);
        verdicts.push(eng.process(&mut data, PacketMeta::default(), iface, now));
    }
    (eng, verdicts)
}

#[test]
fn recorded_conversation_replays_clean() {
    let (c, s) = v4_pair(41_000, 8080);
    let mut m = TcpModel::new(
        c,
        s,
        [3_000_000_000, 17],
        [29_200, 28_960],
        [Some(7), Some(9)],
    );
    let mut segs = m.handshake().to_vec();
    for _ in 0..20 {
        segs.push(m.data(Side::Client, 536));
        segs.push(m.data(Side::Server, 1448));
    }
    segs.push(m.fin(Side::Server));
    segs.push(m.fin(Side::Client));
    segs.push(m.ack(Side::Server));
    let mut frames: Vec<Vec<u8>> = segs.iter().map(|g| m.frame(g)).collect();
    frames.push(udp_frame(&c, &s, b"one more flow"));

    let path = temp_path("clean");
    write_pcap(&path, &frames);
    let (eng, verdicts) = replay(&path, c.mac);
    std::fs::remove_file(&path).ok();

    assert_eq!(verdicts.len(), frames.len());
    assert!(
        verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Forward { .. })),
        "{verdicts:?}"
    );
    assert_eq!(eng.table().len(), 2);
    assert_eq!(eng.counters().total_dropped(), 0);
}

#[test]
fn recorded_injection_is_dropped_on_replay() {
    let (c, s) = v4_pair(41_001, 8080);
    let mut m = TcpModel::new(c, s, [1, 2], [1000, 1000], [None, None]);
    let mut segs = m.handshake().to_vec();
    // The forger is not the real server: the model pair does not learn of it.
    let mut forged = m.clone().data(Side::Server, 100);
    forged.seq = forged.seq.wrapping_add(100_000);
    segs.push(forged);
    segs.push(m.data(Side::Client, 10));
    let frames: Vec<Vec<u8>> = segs.iter().map(|g| m.frame(g)).collect();

    let path = temp_path("inject");
    write_pcap(&path, &frames);
    let (eng, verdicts) = replay(&path, c.mac);
    std::fs::remove_file(&path).ok();

    assert_eq!(verdicts[3], Verdict::Drop(DropReason::TcpSeqPastWindow));
    assert!(matches!(verdicts[4], Verdict::Forward { .. }));
    assert_eq!(eng.counters().dropped(DropReason::TcpSeqPastWindow), 1);
}
