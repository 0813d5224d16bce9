//! The transmit ring's bookkeeping, on anonymous memory in place of the
//! kernel's ring: the test plays the kernel by writing slot statuses, and
//! the kick's syscall is a closure.

use std::ptr::NonNull;

use super::test_support::eth;
use super::*;

const NONE: [u8; VNET_HDR_BYTES] = [0; VNET_HDR_BYTES];
/// `TP_STATUS_SENDING`: taken by the kernel, not yet freed.
const TP_STATUS_SENDING: u32 = 2;

/// A ring socket with a transmit ring only, on memory of its own, its
/// egress MTU 1500.
fn ring_socket() -> RingSocket {
    RingSocket::tx_only(
        Some(1500),
        PacketSocket::for_tests("t0"),
        None,
        Mapping::anonymous(TxRing::BYTES),
    )
}

/// Write slot `i`'s status, as the kernel does.
fn set_status(map: NonNull<u8>, i: usize, v: u32) {
    let at = i * TX_FRAME_BYTES as usize + H_STATUS;
    // SAFETY: `at` is a 4-aligned status word inside the test's mapping,
    // which outlives the call; written atomically as the kernel would.
    unsafe { AtomicU32::from_ptr(map.as_ptr().add(at).cast()) }.store(v, Ordering::Release);
}

/// Queue `n` frames of `len` bytes with EtherType or TPID `tpid`.
fn queue(r: &mut RingSocket, n: usize, len: usize, tpid: u16) -> usize {
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut f = eth(i as u8, len);
            f[12..14].copy_from_slice(&tpid.to_be_bytes());
            f
        })
        .collect();
    r.queue_all(n, |i| (&NONE, &frames[i]))
}

fn pending(r: &RingSocket) -> usize {
    r.tx.as_ref().expect("a transmit ring").pending
}

fn drops(r: &RingSocket, reason: TxDrop) -> u64 {
    r.tx_stats().drops[reason as usize]
}

#[test]
fn a_refused_kick_keeps_its_frames_for_the_next_kick() {
    let mut r = ring_socket();
    let map = r.map.ptr;
    assert_eq!(queue(&mut r, 5, 60, 0x0800), 5);
    // The device refuses the head frame: the kernel re-arms its slot and
    // fails the send.
    r.kick_with(|| Err(libc::ENOBUFS));
    assert_eq!(pending(&r), 5, "nothing was taken: all still queued");
    assert_eq!(r.tx_stats().kick_errors, 1);
    assert_eq!(r.tx_stats().stalled_kicks, 1);
    // It takes two, then refuses the third.
    r.kick_with(|| {
        set_status(map, 0, TP_STATUS_SENDING);
        set_status(map, 1, TP_STATUS_AVAILABLE);
        Err(libc::ENOBUFS)
    });
    assert_eq!(pending(&r), 3);
    // The kick of a later turn, with nothing new queued, sends the rest.
    r.kick_with(|| {
        (2..5).for_each(|i| set_status(map, i, TP_STATUS_AVAILABLE));
        Ok(())
    });
    assert_eq!(pending(&r), 0);
    // And a kick with nothing pending makes no syscall.
    r.kick_with(|| panic!("no syscall with nothing queued"));
    assert_eq!(r.tx_stats().dropped(), 0, "none lost");
}

#[test]
fn a_ring_stalled_on_a_down_link_counts_new_frames_instead_of_queuing_them() {
    let mut r = ring_socket();
    let map = r.map.ptr;
    assert_eq!(queue(&mut r, 3, 60, 0x0800), 3);
    for _ in 0..TX_STALL_KICKS {
        assert_eq!(queue(&mut r, 1, 60, 0x0800), 1, "not stalled yet: queued");
        r.kick_with(|| Err(libc::ENETDOWN));
    }
    assert_eq!(r.take_link_errno(), Some(libc::ENETDOWN));
    let queued = pending(&r);
    assert_eq!(queue(&mut r, 4, 60, 0x0800), 0);
    assert_eq!(pending(&r), queued, "what leaves later is bounded");
    assert_eq!(drops(&r, TxDrop::LinkDown), 4);
    // The device takes frames again: the ring moves and queues again.
    r.kick_with(|| {
        (0..queued).for_each(|i| set_status(map, i, TP_STATUS_AVAILABLE));
        Ok(())
    });
    assert_eq!(pending(&r), 0);
    assert_eq!(queue(&mut r, 2, 60, 0x0800), 2);
}

#[test]
fn a_ring_stalled_with_the_link_up_queues_on() {
    // A slow receiver, not a down link: frames wait in the ring.
    let mut r = ring_socket();
    queue(&mut r, 1, 60, 0x0800);
    for _ in 0..TX_STALL_KICKS * 2 {
        r.kick_with(|| Err(libc::EAGAIN));
    }
    assert_eq!(queue(&mut r, 3, 60, 0x0800), 3);
    // Until the bridge says the link is down.
    r.set_link_down(true);
    assert_eq!(queue(&mut r, 3, 60, 0x0800), 0);
    assert_eq!(drops(&r, TxDrop::LinkDown), 3);
}

#[test]
fn a_full_ring_counts_once_as_a_send_drop() {
    let mut r = ring_socket();
    // The head slot is still the kernel's (a frame not yet freed).
    set_status(r.map.ptr, 0, TP_STATUS_SENDING);
    assert_eq!(queue(&mut r, 2, 60, 0x0800), 0);
    assert_eq!(drops(&r, TxDrop::RingFull), 2);
    assert_eq!(r.tx_stats().dropped(), 2);
}

#[test]
fn frames_the_kernel_would_skip_for_their_size_are_counted_not_queued() {
    let mut r = ring_socket();
    // A full-size 802.1Q frame may ride 4 bytes over the MTU.
    assert_eq!(queue(&mut r, 1, 1518, 0x8100), 1);
    // A full-size 802.1ad frame may not (the kernel's rule), nor an
    // untagged frame over the MTU.
    assert_eq!(queue(&mut r, 1, 1518, 0x88a8), 0);
    assert_eq!(queue(&mut r, 1, 1515, 0x0800), 0);
    assert_eq!(drops(&r, TxDrop::TaggedTooBig), 1);
    assert_eq!(drops(&r, TxDrop::TooBig), 1);
    assert_eq!(pending(&r), 1);
}
