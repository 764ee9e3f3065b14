//! The session's threads: a fork-join pool whose workers spin between parallel regions.
//!
//! A session runs one kernel after another, each a parallel region of 20–300 µs with a few
//! µs of serial work between them. Rayon's workers go to sleep after about 33 rounds of
//! `yield` without work, and waking one took 20–85 µs on the 2-vCPU VMs here (measured: two
//! 50 µs tasks after 50 µs of serial work took 171 µs a round, longer than running both on one
//! thread), so mobilenet_v2's 1×1 convolutions at 7×7 and 14×14 ran no faster on two threads
//! than on one. onnxruntime's own pool spins; so does this one: a worker spins for [`SPIN`]
//! after its last region before it parks.
//!
//! The thread that calls [`for_each`] works on its region too; workers join a region while it
//! is open, and the caller closes it once every task is claimed and no worker is inside, so
//! a worker that is late (parked, or descheduled) never holds the caller up.

#![allow(unsafe_code)] // regions borrowed across threads, under the protocol of `for_each`

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins for the next region before it parks.
pub const SPIN: Duration = Duration::from_millis(1);

/// `state`: region id in the high 32 bits, [`CLOSED`], and the number of workers inside.
const CLOSED: u64 = 1 << 31;
const INSIDE: u64 = CLOSED - 1;

type Task<'a> = dyn Fn(usize) + Sync + 'a;

/// One parallel region, on the calling thread's stack while it is open.
struct Region<'a> {
    f: &'a Task<'a>,
    /// The tasks not yet claimed: `lo` in the low 32 bits, `hi` (exclusive) in the high 32.
    /// The caller claims from the front and workers from the back, so that with two threads
    /// each runs a contiguous run of tasks: interleaved column tasks wrote neighbouring
    /// stripes of the same output rows, and shared their cache lines (resnet18's 14×14 and
    /// 7×7 convolutions ran 15% slower on two threads than with rayon's halves).
    left: AtomicU64,
    panicked: AtomicBool,
}

impl Region<'_> {
    fn claim(&self, front: bool) -> Option<usize> {
        let mut cur = self.left.load(Ordering::Relaxed);
        loop {
            let (lo, hi) = (cur & 0xffff_ffff, cur >> 32);
            if lo >= hi {
                return None;
            }
            let (next, task) = if front {
                (cur + 1, lo)
            } else {
                (cur - (1 << 32), hi - 1)
            };
            match self
                .left
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(task as usize),
                Err(now) => cur = now,
            }
        }
    }

    /// Runs tasks until none is left to claim; a panic stops this thread's share.
    fn work(&self, front: bool) {
        let r = catch_unwind(AssertUnwindSafe(|| {
            while let Some(i) = self.claim(front) {
                (self.f)(i);
            }
        }));
        if r.is_err() {
            self.panicked.store(true, Ordering::Relaxed);
            // The tasks left are not run: the region ends as soon as the others stop.
            self.left.store(0, Ordering::Relaxed);
        }
    }
}

struct Shared {
    state: AtomicU64,
    region: AtomicPtr<Region<'static>>,
    /// Set while a thread runs a region on this pool (another caller then runs serially).
    busy: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
}

/// A pool of `threads - 1` workers beside the thread that installs it.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

thread_local! {
    /// The pool [`for_each`] runs on (null: none, or inside a region: run serially).
    static CURRENT: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

impl Pool {
    /// A pool for `threads` threads (the caller's and `threads - 1` workers).
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(CLOSED),
            region: AtomicPtr::new(std::ptr::null_mut()),
            busy: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut pool = Pool {
            shared,
            workers: Vec::new(),
        };
        for i in 1..threads.max(1) {
            let s = pool.shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("coprune-{i}"))
                .spawn(move || worker(&s))?;
            pool.workers.push(h);
        }
        Ok(pool)
    }

    /// The threads that run a region (the caller's included).
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f` with this pool as the one [`for_each`] uses on this thread (a pool without
    /// workers leaves its regions serial, with no region to open).
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(*const Shared);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let this = if self.workers.is_empty() {
            std::ptr::null()
        } else {
            Arc::as_ptr(&self.shared)
        };
        let _restore = Restore(CURRENT.with(|c| c.replace(this)));
        f()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    let mut idle_since = Instant::now();
    let mut spins = 0u32;
    loop {
        if s.stop.load(Ordering::Relaxed) {
            return;
        }
        let st = s.state.load(Ordering::Acquire);
        let id = st >> 32;
        if id != seen {
            if st & CLOSED != 0 {
                // Closed before this worker came: nothing to do.
                seen = id;
            } else if s
                .state
                .compare_exchange_weak(st, st + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                seen = id;
                // SAFETY: the region stays alive while it is open and this worker is counted
                // inside it (the caller closes it only once no worker is inside).
                let r = unsafe { &*s.region.load(Ordering::Acquire) };
                r.work(false);
                s.state.fetch_sub(1, Ordering::Release);
                idle_since = Instant::now();
            }
            spins = 0;
            continue;
        }
        spins += 1;
        if !spins.is_multiple_of(64) || idle_since.elapsed() < SPIN {
            std::hint::spin_loop();
            continue;
        }
        // Park until the next region (or the pool's end).
        let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
        s.sleepers.fetch_add(1, Ordering::SeqCst);
        while s.state.load(Ordering::SeqCst) >> 32 == seen && !s.stop.load(Ordering::SeqCst) {
            g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        s.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(g);
        idle_since = Instant::now();
    }
}

/// `f(i)` for every `i` in `0..n`, in any order, on the installed pool's threads (serially
/// where none is installed, inside another region, or while another thread runs one on it).
pub fn for_each(n: usize, f: impl Fn(usize) + Sync) {
    let cur = CURRENT.with(|c| c.get());
    if n <= 1 || cur.is_null() || n > u32::MAX as usize {
        (0..n).for_each(f);
        return;
    }
    // SAFETY: `cur` is set only while `Pool::install` borrows the pool (its `Arc` holds it).
    let s = unsafe { &*cur };
    if s.busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        (0..n).for_each(f);
        return;
    }
    let region = Region {
        f: &f,
        left: AtomicU64::new((n as u64) << 32),
        panicked: AtomicBool::new(false),
    };
    // Regions opened from inside this one run serially.
    CURRENT.with(|c| c.set(std::ptr::null()));
    s.region.store(
        &region as *const Region as *mut Region<'static>,
        Ordering::Relaxed,
    );
    let id = (s.state.load(Ordering::Relaxed) >> 32) + 1;
    s.state.store((id & 0xffff_ffff) << 32, Ordering::SeqCst);
    if s.sleepers.load(Ordering::SeqCst) > 0 {
        let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
        s.wake.notify_all();
    }
    region.work(true);
    // Close: once no worker is inside, none can enter.
    loop {
        let st = s.state.load(Ordering::Acquire);
        if st & INSIDE == 0
            && s.state
                .compare_exchange_weak(st, st | CLOSED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            break;
        }
        std::hint::spin_loop();
    }
    s.region.store(std::ptr::null_mut(), Ordering::Relaxed);
    CURRENT.with(|c| c.set(cur));
    s.busy.store(false, Ordering::Release);
    if region.panicked.load(Ordering::Relaxed) {
        resume_unwind(Box::new("a task of a parallel region panicked"));
    }
}

/// A pointer that tasks of one region share, each using its own part.
struct Shares<T>(*mut T);
// SAFETY: only used by `chunks_mut`, whose tasks touch disjoint chunks.
unsafe impl<T: Send> Sync for Shares<T> {}
impl<T> Shares<T> {
    fn at(&self, i: usize) -> *mut T {
        self.0.wrapping_add(i)
    }
}

/// `f(i, chunk)` for each `size`-long chunk of `data` (the last may be shorter), as
/// [`for_each`] runs them.
pub fn chunks_mut<T: Send>(data: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let size = size.max(1);
    let len = data.len();
    let base = Shares(data.as_mut_ptr());
    for_each(len.div_ceil(size), |i| {
        let start = i * size;
        let end = (start + size).min(len);
        // SAFETY: chunk i is `start..end` of `data`, which `data`'s borrow keeps alive, and no
        // two tasks share a chunk.
        let chunk = unsafe { std::slice::from_raw_parts_mut(base.at(start), end - start) };
        f(i, chunk)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_on_any_number_of_threads() {
        for threads in 1..=4 {
            let pool = Pool::new(threads).unwrap();
            assert_eq!(pool.threads(), threads);
            for n in [0, 1, 2, 3, 17, 1000] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.install(|| {
                    for_each(n, |i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    })
                });
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                    "{threads} {n}"
                );
            }
        }
    }

    #[test]
    fn chunks_cover_the_slice_and_nested_regions_run() {
        let pool = Pool::new(3).unwrap();
        let mut v = vec![0usize; 1003];
        pool.install(|| {
            chunks_mut(&mut v, 10, |i, c| {
                // A region inside a task runs serially, on the task's thread.
                let sum = AtomicUsize::new(0);
                for_each(4, |j| {
                    sum.fetch_add(j, Ordering::Relaxed);
                });
                for x in c.iter_mut() {
                    *x = i + sum.load(Ordering::Relaxed);
                }
            })
        });
        assert!(v.iter().enumerate().all(|(k, &x)| x == k / 10 + 6));
        // Without an installed pool: serial, same result.
        let mut w = vec![0usize; 1003];
        chunks_mut(&mut w, 10, |i, c| c.fill(i + 6));
        assert_eq!(v, w);
    }

    #[test]
    fn workers_wake_from_parking_and_a_panic_reaches_the_caller() {
        let pool = Pool::new(2).unwrap();
        std::thread::sleep(SPIN * 3);
        let hits = AtomicUsize::new(0);
        pool.install(|| {
            for_each(64, |_| {
                hits.fetch_add(1, Ordering::Relaxed);
            })
        });
        assert_eq!(hits.load(Ordering::Relaxed), 64);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.install(|| for_each(8, |i| assert!(i != 5, "task 5")))
        }));
        assert!(r.is_err());
        // The pool still works after a panic.
        hits.store(0, Ordering::Relaxed);
        pool.install(|| {
            for_each(9, |_| {
                hits.fetch_add(1, Ordering::Relaxed);
            })
        });
        assert_eq!(hits.load(Ordering::Relaxed), 9);
    }
}
