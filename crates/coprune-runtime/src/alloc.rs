//! A global allocator that starts every block of 4 KiB or more on a cache line.
//!
//! Tensors are `Vec<f32>`, which the system allocator aligns to 16 bytes only: a large block
//! (served by `mmap`) then starts 16 bytes past a page, so that every 64-byte AVX-512 load of
//! an activation read in place spans two cache lines.
#![allow(unsafe_code)] // a `GlobalAlloc` is unsafe by definition; it only forwards to `System`

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of this many bytes or more are aligned to [`LINE`].
const LARGE: usize = 4096;
/// A cache line.
const LINE: usize = 64;

/// Install with `#[global_allocator] static A: coprune_runtime::alloc::LineAligned =
/// coprune_runtime::alloc::LineAligned;` in a binary that runs sessions.
pub struct LineAligned;

fn widen(l: Layout) -> Layout {
    match l.size() >= LARGE && l.align() < LINE {
        // A power of two no smaller than the old alignment, and the size is unchanged: valid.
        true => Layout::from_size_align(l.size(), LINE).unwrap_or(l),
        false => l,
    }
}

// SAFETY: every call forwards to `System` with the same layout transformation (`widen`, a
// function of the layout alone), so a block is freed or resized with the layout it was
// allocated with; `realloc` moves a block whose new size changes that layout.
unsafe impl GlobalAlloc for LineAligned {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: `widen` keeps a valid non-zero-size layout.
        unsafe { System.alloc(widen(l)) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(widen(l)) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated with `widen(l)` (the caller passes the allocation layout).
        unsafe { System.dealloc(p, widen(l)) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let (old, next) = (
            widen(l),
            widen(Layout::from_size_align(new, l.align()).unwrap_or(l)),
        );
        if old.align() == next.align() {
            // SAFETY: `p` was allocated with `old`, and `next` has its alignment.
            return unsafe { System.realloc(p, old, new) };
        }
        // SAFETY: a fresh block of `next`; the smaller of the two sizes is copied, then `p`
        // is freed with the layout it was allocated with.
        unsafe {
            let q = System.alloc(next);
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(p, q, l.size().min(new));
                System.dealloc(p, old);
            }
            q
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_start_on_a_line_and_keep_their_bytes_when_resized() {
        let a = LineAligned;
        // SAFETY: every block is used within its size and freed with its current layout.
        unsafe {
            for size in [LARGE, 5000, 1 << 20, 3 << 20] {
                let l = Layout::from_size_align(size, 4).unwrap();
                let p = a.alloc(l);
                assert!(!p.is_null() && (p as usize).is_multiple_of(LINE), "{size}");
                a.dealloc(p, l);
                let z = a.alloc_zeroed(l);
                assert!(
                    (z as usize).is_multiple_of(LINE) && *z.add(size - 1) == 0,
                    "{size} zeroed"
                );
                a.dealloc(z, l);
            }
            // Small to large to small to large: the bytes written first survive each move.
            let mut l = Layout::from_size_align(100, 4).unwrap();
            let mut p = a.alloc(l);
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            for size in [9000, 64, 1 << 21, 8192] {
                p = a.realloc(p, l, size);
                l = Layout::from_size_align(size, 4).unwrap();
                assert!(size < LARGE || (p as usize).is_multiple_of(LINE), "{size}");
                for i in 0..64 {
                    assert_eq!(*p.add(i), i as u8, "{size}");
                }
            }
            a.dealloc(p, l);
        }
    }
}
