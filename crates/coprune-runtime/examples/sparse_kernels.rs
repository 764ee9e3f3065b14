//! Dense GEMM against the sparse kernels on convolution-shaped products (W M×K · X K×N), one
//! thread unless `THREADS` is set: `cargo run --release -p coprune-runtime --example sparse_kernels`.
//! Two dense rows: the `gemm` crate, and the runtime's own packed GEMM (weights packed once, X
//! read through row offsets as convolutions read it), which "vs dense" compares against.
//! `SHAPE=M,K,N` runs one shape; `CONV=C,H` a 3×3 convolution of C channels on H×H read from
//! padded planes, as the runtime does. Prints milliseconds and effective GFLOP/s (2·nnz·N per
//! product; dense counts every weight).

use coprune_runtime::gemm::{matmul, MatRef};
use coprune_runtime::packed::{self, AMat, BMat, BRows, Epilogue, PackedA};
use coprune_runtime::sparse::{Isa, SparseWeights};

mod timing;

fn time(f: impl FnMut()) -> f64 {
    timing::best_secs(f) * 1e3
}

fn main() {
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // The runtime's kernels share out their work on the installed pool, as in a session.
    let pool = coprune_runtime::pool::Pool::new(threads).expect("threads");
    pool.install(|| run(threads));
}

fn run(threads: usize) {
    let mut seed = 1u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    println!("shape (M×K·K×N)           sparsity  format    isa       ms      GFLOP/s  vs dense");
    // `SHAPE=M,K,N` runs that shape alone.
    let only: Option<Vec<usize>> = std::env::var("SHAPE")
        .ok()
        .map(|v| v.split(',').filter_map(|d| d.parse().ok()).collect());
    let shapes = match only.as_deref() {
        Some(&[m, k, n]) => vec![(m, k, n)],
        _ => vec![
            (64, 576, 3136),
            (128, 1152, 784),
            (256, 2304, 196),
            (512, 4608, 49),
            (128, 784, 256),
        ],
    };
    // `CONV=C,H` instead: a 3×3 convolution (pad 1, C to C channels, H×H) read the way the
    // runtime reads it, straight from zero-padded input planes (H + 2 wide), each output row
    // computed H + 2 wide with the last 2 dropped.
    let conv: Option<(usize, usize)> = std::env::var("CONV").ok().and_then(|v| {
        let d: Vec<usize> = v.split(',').filter_map(|d| d.parse().ok()).collect();
        (d.len() == 2).then(|| (d[0], d[1]))
    });
    let shapes = match conv {
        Some((c, h)) => vec![(c, 9 * c, h * (h + 2))],
        None => shapes,
    };
    let isa0 = Isa::detect();
    for &(m, k, n) in &shapes {
        // X as rows of n (im2col) or as padded planes; column c's row starts at `offset(c)`.
        let (x_len, offset): (usize, Box<dyn Fn(usize) -> u32>) = match conv {
            Some((c, h)) => {
                let wq = h + 2;
                let plane = (h + 2) * wq + 2;
                let at = move |col: usize| {
                    let (ci, tap) = (col / 9, col % 9);
                    (ci * plane + tap / 3 * wq + tap % 3) as u32
                };
                (c * plane + n, Box::new(at))
            }
            None => (k * n, Box::new(move |c| (c * n) as u32)),
        };
        let x: Vec<f32> = (0..x_len.max(k * n)).map(|_| rnd() - 0.5).collect();
        let dense_w: Vec<f32> = (0..m * k).map(|_| rnd() - 0.5).collect();
        let mut y = vec![0f32; m * n];
        let dms = time(|| {
            matmul(
                MatRef::new(&dense_w, m, k),
                MatRef::new(&x, k, n),
                &mut y,
                false,
                threads,
            )
        });
        let flops = 2.0 * (m * k * n) as f64;
        println!(
            "{m:>4}×{k:<5}·{k:>5}×{n:<5}      dense    gemm      -     {dms:>8.3} {:>8.1}",
            flops / dms / 1e6
        );
        let pa = PackedA::new(&dense_w, m, k);
        let offs: Vec<usize> = (0..k).map(|c| offset(c) as usize).collect();
        let b = BRows {
            src: &x,
            offs: &offs,
            n,
        };
        let dms = time(|| {
            let none = Epilogue::none();
            packed::gemm(
                isa0,
                AMat::Packed(&pa),
                BMat::Rows(b),
                &mut y,
                n,
                none,
                threads,
            )
        });
        println!(
            "{m:>4}×{k:<5}·{k:>5}×{n:<5}      dense    packed    {isa0:?} {dms:>8.3} {:>8.1}",
            flops / dms / 1e6
        );
        for &(sp, blocky) in &[
            (0.5, false),
            (0.7, false),
            (0.9, false),
            (0.95, false),
            (0.9, true),
        ] {
            let w: Vec<f32> = dense_w
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let r = if blocky {
                        (((i / k / 4) * k + i % k) as f32 * 0.618).fract()
                    } else {
                        rnd()
                    };
                    if r < sp {
                        0.0
                    } else {
                        v
                    }
                })
                .collect();
            let s = SparseWeights::from_dense_at(&w, m, k, n, &offset);
            let nnz = w.iter().filter(|&&v| v != 0.0).count();
            for isa in Isa::available() {
                let ms = time(|| s.matmul_isa(&x, n, &mut y, false, threads, isa));
                println!(
                    "{:>27} {sp:>5.2}    {:<9} {:<9} {ms:>8.3} {:>8.1}   {:.2}×",
                    "",
                    s.format(),
                    format!("{isa:?}"),
                    2.0 * (nnz * n) as f64 / ms / 1e6,
                    dms / ms
                );
            }
        }
    }
}
