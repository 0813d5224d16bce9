//! A connection in a tcp-state-bypass class keeps its sequence numbers
//! under a policy that randomizes everything else (docs/asa-behaviour.md
//! §1.2, §6.2): bypass skips the TCP checks, and randomization is one.
//! The other bypass tests run with randomization off, so none of them
//! would see a bypass flow randomized.

use super::*;

#[test]
fn a_bypass_connection_is_not_randomized_where_others_are() {
    let mut h = Harness::new();
    // The seed policy as written: randomization on, the ASA's default.
    h.install(crate::policy::compile::tests::seed());
    let mut m = bypass_model(41_500);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    let v = h
        .engine
        .process(&mut f, PacketMeta::default(), m.client.iface, h.now);
    assert_eq!(v, FWD_OUT);
    assert_eq!(h.only_entry().proto, ProtoState::TcpBypass);
    assert_eq!(h.only_entry().seq_offset, 0);
    assert_eq!(delivered(&f).seq.0, syn.seq, "the SYN leaves as sent");
    let mut segs = vec![m.syn_ack(), m.ack(Side::Client)];
    segs.push(m.data(Side::Client, 300));
    segs.push(m.data(Side::Server, 300));
    for seg in segs {
        let mut f = m.frame(&seg);
        let v = h
            .engine
            .process(&mut f, PacketMeta::default(), m.iface(seg.from), h.now);
        assert!(matches!(v, Verdict::Forward { .. }), "{seg:?}: {v:?}");
        let out = delivered(&f);
        assert_eq!((out.seq.0, out.ack.0), (seg.seq, seg.ack), "{seg:?}");
    }
    // An inspected connection under the same policy is randomized: the
    // policy does randomize.
    let mut m = model(41_501);
    let syn = m.syn();
    let mut f = m.frame(&syn);
    h.engine
        .process(&mut f, PacketMeta::default(), m.client.iface, h.now);
    assert_ne!(delivered(&f).seq.0, syn.seq);
}
