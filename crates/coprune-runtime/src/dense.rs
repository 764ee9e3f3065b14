//! Products with a constant weight, `Y (m × n) = X (m × k) × B (k × n)`, for Gemm and MatMul:
//! B is prepared once at load in the layout that suits the row count the session was built
//! for. One row (a classifier at batch 1) is n dot products over Bᵀ's contiguous rows, which
//! streams the weights once; more rows go through the packed GEMM (AVX-512 tiles where the CPU
//! has them) with B packed once and X packed per call. The `gemm` crate they replace reached
//! 69 GFLOP/s on the MLP at batch 256 and 10 on mobilenet_v2's classifier (memory at 1 row).
#![allow(unsafe_code)] // calls into the `#[target_feature]` copies, after run-time detection

use crate::packed::{self, AMat, BMat, Epilogue, PackedA, PackedB};
use crate::sparse::{fma, Isa};

/// A constant B, prepared for products with a fixed number of rows.
#[derive(Debug, Clone)]
pub enum ConstB {
    /// Bᵀ (n × k, row-major) for one row of X: n dot products.
    Rows { bt: Vec<f32>, k: usize, n: usize },
    /// B packed for the GEMM.
    Packed(PackedB),
}

/// Output columns per parallel task of the one-row product.
const DOT_TASK: usize = 64;

impl ConstB {
    /// From B given as `k × n` row-major (`transposed`: as Bᵀ, `n × k`), for products with
    /// `m` rows of X.
    pub fn new(b: &[f32], k: usize, n: usize, transposed: bool, m: usize) -> ConstB {
        assert!(b.len() >= k * n, "B is {} floats, not {k}×{n}", b.len());
        let b = &b[..k * n];
        let transpose = |src: &[f32], rows: usize, cols: usize| {
            let mut t = vec![0f32; rows * cols];
            crate::sparse::transpose(src, rows, cols, &mut t);
            t
        };
        if m == 1 {
            let bt = if transposed {
                b.to_vec()
            } else {
                transpose(b, k, n)
            };
            ConstB::Rows { bt, k, n }
        } else if transposed {
            ConstB::Packed(PackedB::new(&transpose(b, n, k), k, n))
        } else {
            ConstB::Packed(PackedB::new(b, k, n))
        }
    }

    /// `y = x × B` (overwriting the `m × n` row-major `y`); `m` must be 1 for the one-row layout.
    pub fn product(&self, isa: Isa, x: &[f32], m: usize, y: &mut [f32], threads: usize) {
        match self {
            ConstB::Rows { bt, k, n } => {
                assert_eq!(m, 1, "one-row layout used for {m} rows");
                assert!(x.len() >= *k && y.len() >= *n, "operands too small");
                let (k, n) = (*k, *n);
                let x = &x[..k];
                let task = |(t, ys): (usize, &mut [f32])| {
                    let j0 = t * DOT_TASK;
                    dots(isa, &bt[j0 * k..(j0 + ys.len()) * k], x, ys);
                };
                if threads > 1 && n > DOT_TASK {
                    crate::pool::chunks_mut(&mut y[..n], DOT_TASK, |t, ys| task((t, ys)));
                } else {
                    y[..n].chunks_mut(DOT_TASK).enumerate().for_each(task);
                }
            }
            ConstB::Packed(b) => {
                let a = PackedA::new(x, m, b.k);
                packed::gemm(
                    isa,
                    AMat::Packed(&a),
                    BMat::Packed(b),
                    y,
                    b.n,
                    Epilogue::none(),
                    threads,
                );
                a.recycle();
            }
        }
    }
}

/// `y[j] = Σ bt[j][·] · x` for the rows of `bt` (each `x.len()` long).
fn dots(isa: Isa, bt: &[f32], x: &[f32], y: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `Isa::Avx512` comes from `Isa::detect`, which found AVX-512F, AVX2 and
            // FMA; the function is otherwise safe Rust.
            unsafe { x86::dots512(bt, x, y) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: as above, AVX2 and FMA were found.
            unsafe { x86::dots256(bt, x, y) }
        }
        _ => dots_body::<false>(bt, x, y),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn dots512(bt: &[f32], x: &[f32], y: &mut [f32]) {
        super::dots_body::<true>(bt, x, y)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dots256(bt: &[f32], x: &[f32], y: &mut [f32]) {
        super::dots_body::<true>(bt, x, y)
    }
}

/// Floats ahead of the dot products at which the one-row product asks for Bᵀ (1 KiB): the
/// weights come from memory inside a model, and the hardware prefetchers restart at each 4 KiB
/// page. Measured on this VM's noisy memory (1 thread): mobilenet_v2's classifier 0.41–0.57 ->
/// 0.36–0.51 ms, resnet18's 0.18–0.24 -> 0.165–0.20 (2 threads: 0.16 -> 0.13–0.14); 2 and 4
/// KiB ahead were no better.
const PREFETCH_AHEAD: usize = 256;

/// Asks for the four cache lines from `p` (a hint: nothing is dereferenced).
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults (a hint; nothing is dereferenced).
    unsafe {
        use std::arch::x86_64::*;
        for l in 0..4 {
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(16 * l) as *const i8);
        }
    }
}

/// One row of Bᵀ at a time, read front to back (a single stream from memory: eight rows read
/// side by side ran 1.6× slower on mobilenet_v2's 5 MB classifier), into four independent
/// 16-float accumulators (one AVX-512 register, or two AVX2 ones, each) that hide the FMA
/// latency. Plain loops only: a closure here may be compiled outside the `#[target_feature]`
/// caller (doc/architecture.md).
#[inline(always)]
fn dots_body<const F: bool>(bt: &[f32], x: &[f32], y: &mut [f32]) {
    const V: usize = 16;
    const U: usize = 4;
    let k = x.len();
    let (wide, full) = (k / (U * V) * (U * V), k / V * V);
    for (j, out) in y.iter_mut().enumerate() {
        let row = &bt[j * k..(j + 1) * k];
        let mut acc = [[0f32; V]; U];
        let mut kk = 0;
        while kk < wide {
            prefetch(bt.as_ptr().wrapping_add(j * k + kk + PREFETCH_AHEAD));
            for (u, a) in acc.iter_mut().enumerate() {
                let w: &[f32; V] = row[kk + u * V..][..V].try_into().expect("V floats");
                let xs: &[f32; V] = x[kk + u * V..][..V].try_into().expect("V floats");
                for t in 0..V {
                    a[t] = fma::<F>(w[t], xs[t], a[t]);
                }
            }
            kk += U * V;
        }
        while kk < full {
            let w: &[f32; V] = row[kk..][..V].try_into().expect("V floats");
            let xs: &[f32; V] = x[kk..][..V].try_into().expect("V floats");
            for t in 0..V {
                acc[0][t] = fma::<F>(w[t], xs[t], acc[0][t]);
            }
            kk += V;
        }
        let mut s = 0f32;
        for t in full..k {
            s = fma::<F>(row[t], x[t], s);
        }
        // Pairwise: the same order in every build.
        let mut a = [0f32; V];
        for t in 0..V {
            a[t] = (acc[0][t] + acc[1][t]) + (acc[2][t] + acc[3][t]);
        }
        let mut h = [0f32; 8];
        for t in 0..8 {
            h[t] = a[t] + a[t + 8];
        }
        let q = [h[0] + h[4], h[1] + h[5], h[2] + h[6], h[3] + h[7]];
        *out = ((q[0] + q[2]) + (q[1] + q[3])) + s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut y = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                y[i * n + j] = (0..k)
                    .map(|p| x[i * k + p] as f64 * b[p * n + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        y
    }

    #[test]
    fn every_layout_and_isa_matches_the_definition() {
        let mut seed = 3u64;
        let mut rnd = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        // One row (dot products; row counts that leave partial groups of 8 and k with a tail
        // of fewer than 16), and several rows (packed GEMM, partial tiles).
        for &(m, k, n) in &[
            (1, 37, 5),
            (1, 64, 130),
            (1, 300, 1000),
            (2, 37, 5),
            (7, 129, 33),
            (64, 200, 48),
        ] {
            let x: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
            let mut bt = vec![0f32; k * n];
            crate::sparse::transpose(&b, k, n, &mut bt);
            let want = reference(&x, &b, m, k, n);
            for isa in Isa::available() {
                for threads in [1, 2] {
                    for (w, transposed) in [(&b, false), (&bt, true)] {
                        let cb = ConstB::new(w, k, n, transposed, m);
                        let mut y = vec![f32::NAN; m * n];
                        cb.product(isa, &x, m, &mut y, threads);
                        for (g, w) in y.iter().zip(&want) {
                            assert!(
                                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                                "{m}×{k}×{n} {isa:?} {threads} threads: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }
}
