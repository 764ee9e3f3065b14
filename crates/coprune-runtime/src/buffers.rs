//! Output buffers recycled between kernel runs.
//!
//! A session hands the data of each value it frees back here, and kernels that write every
//! element of their output take their next output from here instead of a zeroed allocation.
//! Zeroing a fresh output (or faulting in fresh pages) was a serial 7% of mobilenet_v2 at two
//! threads; a recycled buffer is also still in cache. The pool is per thread: a session runs
//! its steps on the caller's thread (their parallel regions also on the session's workers),
//! which both frees and takes.

use std::cell::RefCell;

/// Buffers kept per thread at most (the smallest is dropped beyond this).
const MAX_KEPT: usize = 48;

/// Buffers smaller than this are not kept: allocating them is cheap.
const MIN_LEN: usize = 4096;

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    /// The session whose buffers `FREE` holds (0: none).
    static OWNER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Makes this thread's pool the one of session `owner` (a run starts): another session's
/// buffers are dropped, so two sessions run in turn on one thread (a dense model and its
/// pruned plan, measured in alternation) never shorten each other's buffers into ones too
/// short to reuse.
pub(crate) fn claim(owner: u64) {
    if OWNER.with(|o| o.replace(owner)) != owner {
        FREE.with(|f| f.borrow_mut().clear());
    }
}

/// Drops this thread's buffers if they are session `owner`'s (it is being dropped).
pub(crate) fn release(owner: u64) {
    if OWNER.with(|o| o.get()) == owner {
        clear();
    }
}

/// A buffer of `len` floats whose contents are unspecified: the caller must write every
/// element before reading any. Debug builds fill recycled buffers with NaN so that a kernel
/// that reads before writing fails its tests.
pub(crate) fn take(len: usize) -> Vec<f32> {
    if len < MIN_LEN {
        return vec![0f32; len];
    }
    let found = FREE.with(|f| {
        let mut f = f.borrow_mut();
        // The latest kept buffer of exactly `len` (the likeliest still in cache): in a loop of
        // inferences the same lengths come back each run. A longer one shortened would come
        // back short and miss its own length next run, and a longer capacity past its length
        // would have to be filled.
        let best = f.iter().rposition(|v| v.len() == len);
        best.map(|i| f.remove(i))
    });
    match found {
        Some(mut v) => {
            if cfg!(debug_assertions) {
                v.fill(f32::NAN);
            }
            v
        }
        None => vec![0f32; len],
    }
}

/// Drops this thread's kept buffers.
fn clear() {
    FREE.with(|f| f.borrow_mut().clear());
}

/// Keeps `v` (its `len()` initialised floats) for a later [`take`].
pub(crate) fn recycle(v: Vec<f32>) {
    if v.len() < MIN_LEN {
        return;
    }
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        f.push(v);
        if f.len() > MAX_KEPT {
            let smallest = (0..f.len()).min_by_key(|&i| f[i].len());
            if let Some(i) = smallest {
                f.remove(i);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_comes_back_for_its_own_length() {
        let v = vec![1f32; 10_000];
        let ptr = v.as_ptr();
        recycle(v);
        // Shorter: a fresh buffer, the kept one stays for its length.
        let short = take(8_000);
        assert_eq!(short.len(), 8_000);
        assert_ne!(short.as_ptr(), ptr);
        let w = take(10_000);
        assert_eq!(w.len(), 10_000);
        assert_eq!(w.as_ptr(), ptr, "the kept allocation is reused");
        if cfg!(debug_assertions) {
            assert!(w.iter().all(|v| v.is_nan()));
        }
        recycle(w);
        // Larger than anything kept: a fresh zeroed buffer.
        let big = take(20_000);
        assert_eq!(big.len(), 20_000);
        assert!(big.iter().all(|&v| v == 0.0));
        // Small requests never take a kept buffer.
        let small = take(100);
        assert!(small.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn the_pool_keeps_at_most_its_limit() {
        for i in 0..MAX_KEPT + 5 {
            recycle(vec![0f32; MIN_LEN + i]);
        }
        FREE.with(|f| {
            let f = f.borrow();
            assert_eq!(f.len(), MAX_KEPT);
            // The smallest were dropped.
            assert!(f.iter().all(|v| v.len() >= MIN_LEN + 5));
        });
    }
}
