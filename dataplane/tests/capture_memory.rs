//! The memory a capture holds (docs/asa-behaviour.md §2.11): never more
//! than its buffer, whatever the frames, counted by a global allocator
//! that adds up the bytes asked of it (its own test binary for that).

mod capture_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use capture_common::{capture, engine};
use rampart_dataplane::capture::State;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{udp_frame, v4_pair};
use rampart_dataplane::{Engine, IfaceId, Instant};

/// Live heap bytes as requested of the allocator (malloc's own per-chunk
/// overhead not counted: a lower bound of the real footprint).
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static A: Counting = Counting;

const INSIDE: IfaceId = IfaceId(0);

/// docs/asa-behaviour.md §2.11: "the memory a capture holds never passes
/// its buffer whatever the traffic". The count is the process's: one
/// test, so that no other runs or ends (the harness allocating) while it
/// counts.
#[test]
fn a_capture_holds_no_more_heap_than_its_buffer() {
    a_full_capture_holds_no_more_heap_than_its_buffer();
    a_circular_asp_drop_capture_holds_no_more_heap_than_its_buffer();
}

/// A 1 MiB linear buffer of 14-byte records, filled: the heap the
/// capture takes (requested bytes only) stays within it.
fn a_full_capture_holds_no_more_heap_than_its_buffer() {
    let mut e =
        engine("access-list IN extended permit ip any any\naccess-group IN in interface inside\n");
    let (c, s) = v4_pair(40_000, 53);
    let frame = udp_frame(&c, &s, b"x");
    let t = Instant::from_secs(1);
    // Warm the flow up first, as many frames as the capture will see:
    // nothing but the capture allocates later.
    for _ in 0..50_000 {
        let mut f = frame.clone();
        e.process(&mut f, PacketMeta::default(), INSIDE, t);
    }
    let buffer = 1 << 20;
    let before = LIVE.load(Ordering::Relaxed);
    capture(
        &mut e,
        &format!("capture c interface inside buffer {buffer} packet-length 14"),
    );
    let mut n = 0;
    loop {
        let mut f = frame.clone();
        e.process(&mut f, PacketMeta::default(), INSIDE, t);
        n += 1;
        let c = &e.captures().unwrap().list()[0];
        if c.state() == State::Full || n > 1_000_000 {
            break;
        }
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    let c = &e.captures().unwrap().list()[0];
    eprintln!(
        "frames kept {}, used_bytes {} (charged), heap held {held} for a buffer of {buffer}",
        c.records().len(),
        c.used_bytes()
    );
    assert!(
        held as usize <= buffer,
        "capture holds {held} heap bytes for a {buffer}-byte buffer"
    );
}

/// A circular asp-drop capture wrapping its buffer many times over with
/// frames of every length, the arriving frame kept aside counted too:
/// still no more heap than its buffer.
fn a_circular_asp_drop_capture_holds_no_more_heap_than_its_buffer() {
    // No access-group: outside to inside is denied.
    let mut e = engine("");
    let (c, s) = v4_pair(40_000, 53);
    let t = Instant::from_secs(1);
    let denied = |e: &mut Engine, i: usize| {
        let mut f = udp_frame(&s, &c, &vec![i as u8; (i * 37) % 1_480]);
        e.process(&mut f, PacketMeta::default(), IfaceId(1), t);
    };
    // The same frames first without a capture: whatever else the engine
    // keeps of them (its logs of denied packets) is in place before.
    for i in 0..2_000 {
        denied(&mut e, i);
    }
    let buffer = 64 * 1024;
    let before = LIVE.load(Ordering::Relaxed);
    capture(
        &mut e,
        &format!("capture d type asp-drop buffer {buffer} packet-length 1522 circular-buffer"),
    );
    let mut most = 0;
    for i in 0..2_000 {
        denied(&mut e, i);
        most = most.max(LIVE.load(Ordering::Relaxed) - before);
    }
    let d = &e.captures().unwrap().list()[0];
    assert!(d.overwritten() > 100, "{}", d.overwritten());
    assert!(
        most as usize <= buffer,
        "capture holds {most} heap bytes for a {buffer}-byte buffer"
    );
}
