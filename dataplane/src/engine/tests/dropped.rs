//! A dropped packet never changes its entry: what it claimed must not
//! judge the packets after it.

use super::*;

/// A SYN-ACK that acknowledges the SYN exactly, with a SACK block past the
/// data the initiator sent, is dropped (`tcp-ack-past-win`, check 3). It
/// once left the responder's half set from its ISN, window and options:
/// the state stayed SYN_SENT, and the responder's plain segments that
/// followed passed, window-checked against the forged half and refreshing
/// the entry.
#[test]
fn a_dropped_syn_ack_leaves_the_entry_as_it_was() {
    let mut h = Harness::new();
    let mut m = model(41_000);
    let syn = m.syn();
    assert_eq!(h.tcp(&m, &syn), FWD_OUT);
    let before = *h.only_entry();
    let mut sa = m.syn_ack();
    sa.sack = vec![(sa.ack, sa.ack.wrapping_add(5000))];
    h.advance(Duration::from_secs(1));
    assert_eq!(h.tcp(&m, &sa), Verdict::Drop(DropReason::TcpAckPastWindow));
    assert_eq!(*h.only_entry(), before);
    // Without the responder's SYN, its data has no sequence space to be
    // judged in.
    let data = m.data(Side::Server, 100);
    assert_eq!(h.tcp(&m, &data), Verdict::Drop(DropReason::TcpInvalidState));
    assert_eq!(*h.only_entry(), before);
}
