//! The depthwise kernels side by side on one 3×3 layer, one thread: the interleaving kernel
//! (AVX2) and the planar one (AVX-512, where it applies).
//! `cargo run --release -p coprune-runtime --example dw_kernels -- C H STRIDE`
//! (default: 576 channels on 14×14 at stride 2, mobilenet_v2's features.14). Prints the best
//! time of each in microseconds.

use coprune_runtime::ops::depthwise::{block, with_scratch, DwGeom, DwWeights, LANES};
use coprune_runtime::ops::depthwise_planar::Planar;
use coprune_runtime::sparse::Isa;

mod timing;

fn time(f: impl FnMut()) -> f64 {
    timing::best_secs(f) * 1e6
}

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let (c, h, s) = (
        a.first().copied().unwrap_or(576),
        a.get(1).copied().unwrap_or(14),
        a.get(2).copied().unwrap_or(2),
    );
    let o = (h + 2 - 3) / s + 1;
    let g = DwGeom {
        h,
        w: h,
        oh: o,
        ow: o,
        kh: 3,
        kw: 3,
        sh: s,
        sw: s,
        dh: 1,
        dw: 1,
        ph: 1,
        pw: 1,
    };
    let x: Vec<f32> = (0..c * h * h)
        .map(|i| (i % 17) as f32 * 0.1 - 0.8)
        .collect();
    let k: Vec<f32> = (0..c * 9).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
    let wk = DwWeights::new(&k, None, c, 9);
    let mut y = vec![0f32; c * o * o];
    let clamp = (0.0, 6.0);
    let plane = o * o;
    let isa = Isa::detect();
    let t = time(|| {
        with_scratch(g.scratch_len(), |sc| {
            for (b, ys) in y.chunks_mut(LANES * plane).enumerate() {
                block(isa, &g, &x, &wk, clamp, 1, b, ys, sc);
            }
        })
    });
    println!("{c} channels {h}x{h} stride {s}: interleaving {t:.1} us");
    if let (Isa::Avx512, Some(p)) = (isa, Planar::new(&g)) {
        let t = time(|| {
            for (b, ys) in y.chunks_mut(LANES * plane).enumerate() {
                p.block(&x, &wk, clamp, 1, b, ys);
            }
        });
        println!("{c} channels {h}x{h} stride {s}: planar {t:.1} us");
    }
}
