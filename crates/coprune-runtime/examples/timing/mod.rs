//! What the kernel examples share: the best time of a closure.

use std::time::Instant;

/// The best time of `f` in seconds, over at least 5 runs and half a second (after one run to
/// warm up).
pub fn best_secs(mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::MAX;
    let start = Instant::now();
    let mut runs = 0;
    while runs < 5 || start.elapsed().as_secs_f64() < 0.5 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

/// Large blocks on cache lines, as in the `coprune` binary (see `coprune_runtime::alloc`).
#[global_allocator]
static ALLOC: coprune_runtime::alloc::LineAligned = coprune_runtime::alloc::LineAligned;
