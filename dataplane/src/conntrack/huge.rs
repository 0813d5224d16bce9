//! Fixed-size buffers on transparent huge pages where the kernel offers
//! them, for the connection table's slab and index.
//!
//! A table of a million entries spans some 150 MB: in 4 KiB pages every
//! packet's index bucket and entry sit on pages the TLB does not hold, and
//! each costs a page walk on top of the cache miss. A buffer of more than
//! half a huge page (2 MiB) is mapped on its own (mmap(2), not the heap,
//! whose pages may already be in use as small ones), aligned to a huge
//! page and advised `MADV_HUGEPAGE` before it is first written, so the
//! kernel backs it with huge pages when its transparent huge page mode is
//! `madvise` or `always` (madvise(2)); smaller buffers, and every buffer
//! off Linux, are ordinary allocations. The mapping is memory, not I/O:
//! the engine stays sans-IO.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The huge page size advised for (x86_64 and most arm64 kernels).
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// `len` values of `T`, allocated once, never moved or resized.
pub(crate) struct HugeBuf<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    from: Source,
}

/// Where a buffer's memory came from, to give it back the same way.
enum Source {
    Heap(Layout),
    /// A private anonymous mapping: its start and length.
    #[cfg(target_os = "linux")]
    Map(*mut libc::c_void, usize),
}

// SAFETY: a HugeBuf owns its values as a Box<[T]> does; sharing or sending
// it shares or sends them.
unsafe impl<T: Copy + Send> Send for HugeBuf<T> {}
// SAFETY: as above.
unsafe impl<T: Copy + Sync> Sync for HugeBuf<T> {}

impl<T: Copy> HugeBuf<T> {
    /// `len` copies of `fill`; on huge pages when the buffer fills more
    /// than half of one.
    pub(crate) fn new(len: usize, fill: T) -> Self {
        assert!(size_of::<T>() > 0, "no buffers of zero-sized values");
        let bytes = len
            .checked_mul(size_of::<T>())
            .expect("buffer size overflows")
            .max(size_of::<T>());
        let (raw, from) = if bytes > HUGE_PAGE / 2 {
            map_huge(bytes)
        } else {
            heap(bytes, align_of::<T>())
        };
        let ptr = raw.cast::<T>();
        for i in 0..len {
            // SAFETY: i < len, within the allocation (aligned for T), and
            // T: Copy needs no drop of the uninitialised value it replaces.
            unsafe { ptr.as_ptr().add(i).write(fill) };
        }
        HugeBuf { ptr, len, from }
    }
}

fn heap(bytes: usize, align: usize) -> (NonNull<u8>, Source) {
    let layout = Layout::from_size_align(bytes, align).expect("valid layout");
    // SAFETY: the layout's size is nonzero.
    let raw = unsafe { alloc(layout) };
    match NonNull::new(raw) {
        Some(p) => (p, Source::Heap(layout)),
        None => handle_alloc_error(layout),
    }
}

/// A mapping of its own for `bytes`, its start aligned to a huge page and
/// advised to use them. Refused advice (an old kernel, THP `never`) leaves
/// ordinary pages; a refused mapping falls back to the heap.
#[cfg(target_os = "linux")]
fn map_huge(bytes: usize) -> (NonNull<u8>, Source) {
    let span = bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    // One huge page more, to align the start within the mapping.
    let len = span + HUGE_PAGE;
    // SAFETY: a fresh private anonymous mapping; no existing memory is
    // touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return heap(bytes, HUGE_PAGE);
    }
    let at = (base as usize).div_ceil(HUGE_PAGE) * HUGE_PAGE - base as usize;
    // SAFETY: the start lies within the mapping (at < HUGE_PAGE) and
    // [start, start + span) ends within it; the advice changes how the
    // range is backed, never its contents or validity.
    let p = unsafe {
        let p = base.cast::<u8>().add(at);
        libc::madvise(p.cast(), span, libc::MADV_HUGEPAGE);
        p
    };
    match NonNull::new(p) {
        Some(p) => (p, Source::Map(base, len)),
        None => unreachable!("a mapping is never at address zero"),
    }
}

#[cfg(not(target_os = "linux"))]
fn map_huge(bytes: usize) -> (NonNull<u8>, Source) {
    heap(bytes, HUGE_PAGE)
}

impl<T: Copy> Deref for HugeBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr holds len initialised values for the buffer's life.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> DerefMut for HugeBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for deref, and &mut self is the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeBuf<T> {
    fn drop(&mut self) {
        match self.from {
            // SAFETY: allocated in `heap` with this layout; T: Copy has no
            // drop.
            Source::Heap(layout) => unsafe { dealloc(self.ptr.as_ptr().cast(), layout) },
            // SAFETY: the mapping made in `map_huge`, unmapped once.
            #[cfg(target_os = "linux")]
            Source::Map(base, len) => unsafe {
                libc::munmap(base, len);
            },
        }
    }
}

impl<T: Copy> fmt::Debug for HugeBuf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HugeBuf({} values)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_huge_buffers_hold_their_values() {
        let mut small = HugeBuf::new(100, 7u32);
        assert_eq!(small.len(), 100);
        assert!(small.iter().all(|&v| v == 7));
        small[99] = 1;
        assert_eq!(small[99], 1);
        let n = HUGE_PAGE / 8 + 3;
        let mut big = HugeBuf::new(n, 0u64);
        assert_eq!(
            big.as_ptr() as usize % HUGE_PAGE,
            0,
            "aligned to a huge page"
        );
        big[n - 1] = 5;
        assert_eq!(big.iter().sum::<u64>(), 5);
        let empty = HugeBuf::new(0, 1u8);
        assert!(empty.is_empty());
    }
}
