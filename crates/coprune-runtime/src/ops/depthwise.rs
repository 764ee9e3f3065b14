//! Depthwise convolution (each output channel reads one input channel), for any kernel, stride,
//! dilation, padding and depth multiplier. Eight channels go together. Their input rows are
//! interleaved (`[column][8 channels]`, as NCHWc layouts do) into a ring of as many padded rows
//! as the kernel spans, each row once, just before the first output row that reads it (so the
//! ring stays in L1 whatever the plane size), and each kernel tap is one 8-lane multiply-add per
//! output pixel. Eight output pixels are computed together, transposed in registers and stored
//! straight into the eight output planes. Compiled for AVX2+FMA (chosen at run time) and
//! portably, like `sparse`.
#![allow(unsafe_code)] // calls into `#[target_feature]` functions and the tap loop's vector loads/stores (bounds checked once per row, see `avx2::row`)

use crate::sparse::{fma, rows8, transpose8, Isa};

/// Channels computed together (one AVX2 vector).
pub const LANES: usize = 8;

/// The geometry of one depthwise plane.
#[derive(Debug, Clone, Copy)]
pub struct DwGeom {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    /// Leading padding (top, left).
    pub ph: usize,
    pub pw: usize,
}

impl DwGeom {
    /// Columns of a padded row (enough for every tap of every output).
    fn wp(&self) -> usize {
        (self.w + self.pw).max((self.ow.max(1) - 1) * self.sw + (self.kw - 1) * self.dw + 1)
    }

    /// Padded rows one output row reads (the ring's size).
    fn span(&self) -> usize {
        (self.kh - 1) * self.dh + 1
    }

    /// Floats of scratch space [`block`] needs: a row of zeros and the ring.
    pub fn scratch_len(&self) -> usize {
        (self.span() + 1) * self.wp() * LANES
    }
}

/// A depthwise kernel packed once at load: each block of eight channels' taps as 8-lane vectors
/// (`wk[block·taps + tap]`), and their biases.
#[derive(Debug, Clone)]
pub struct DwWeights {
    pub(super) taps: usize,
    pub(super) wk: Vec<[f32; LANES]>,
    pub(super) bias: Vec<[f32; LANES]>,
}

impl DwWeights {
    /// Packs `k` (`m` output channels of `taps` each) and `bias` (`m`, or zeros).
    pub fn new(k: &[f32], bias: Option<&[f32]>, m: usize, taps: usize) -> DwWeights {
        let blocks = m.div_ceil(LANES);
        let mut wk = vec![[0f32; LANES]; blocks * taps];
        let mut b = vec![[0f32; LANES]; blocks];
        for oc in 0..m {
            let (bl, lane) = (oc / LANES, oc % LANES);
            for t in 0..taps {
                wk[bl * taps + t][lane] = k[oc * taps + t];
            }
            b[bl][lane] = bias.map_or(0.0, |b| b[oc]);
        }
        DwWeights { taps, wk, bias: b }
    }
}

/// Runs `f` on this thread's scratch buffer of at least `len` floats (kept between calls: a
/// fresh zeroed one per call, or per task, cost a memset and page faults; [`block`]
/// writes every float of it that it reads).
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0.0);
            }
            f(&mut v[..len])
        }
        Err(_) => f(&mut vec![0f32; len]),
    })
}

/// Output channels `8·b .. 8·b + n` (n ≤ [`LANES`]) into `y` (their n planes, oh × ow each),
/// reading input channel `oc / mult` of `x` (all input planes, h × w each) and the packed
/// kernel `k`, each output clamped to `clamp` (a fused Relu or Clip). `scratch` has at least
/// [`DwGeom::scratch_len`] floats.
#[allow(clippy::too_many_arguments)]
pub fn block(
    isa: Isa,
    g: &DwGeom,
    x: &[f32],
    k: &DwWeights,
    clamp: (f32, f32),
    mult: usize,
    b: usize,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        isa if isa.avx2() => {
            // SAFETY: the x86 `Isa`s are only produced by `Isa::detect`, after the CPU was found to
            // support AVX2 and FMA; the function's loads are bounds-checked before they run.
            unsafe { avx2::block(g, x, k, clamp, mult, b, y, scratch) }
        }
        _ => block_impl::<false>(g, x, k, clamp, mult, b, y, scratch),
    }
}

/// Pixels computed together: independent FMA chains that hide the FMA latency, and one 8×8
/// transpose into the output planes.
const P: usize = 8;

/// What the row kernels need beyond the ring.
struct Taps<'a> {
    g: &'a DwGeom,
    /// This block's kernel taps as 8-lane vectors, and its bias.
    wk: &'a [[f32; LANES]],
    bias: [f32; LANES],
    clamp: (f32, f32),
    /// Output channels (lanes) in use.
    n: usize,
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    use std::arch::x86_64::*;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn block(
        g: &DwGeom,
        x: &[f32],
        k: &DwWeights,
        clamp: (f32, f32),
        mult: usize,
        b: usize,
        y: &mut [f32],
        scratch: &mut [f32],
    ) {
        block_impl::<true>(g, x, k, clamp, mult, b, y, scratch)
    }

    /// [`super::row_portable`] with the eight lanes as one AVX2 register and the eight pixels
    /// transposed in registers (the portable loop's `[f32; 8]` accumulators are not kept in
    /// registers by the compiler).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn row(t: &Taps, buf: &[f32], roff: &[usize], oy: usize, y: &mut [f32]) {
        // Strides 1 and 2 as constants: the eight pixels' loads then take fixed displacements
        // from one address, where a run-time step chained eight dependent adds per tap.
        match t.g.sw {
            1 => row_sw::<1>(t, buf, roff, oy, y),
            2 => row_sw::<2>(t, buf, roff, oy, y),
            _ => row_sw::<0>(t, buf, roff, oy, y),
        }
    }

    /// [`row`] for column stride `SW` (0: the geometry's).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn row_sw<const SW: usize>(t: &Taps, buf: &[f32], roff: &[usize], oy: usize, y: &mut [f32]) {
        let g = t.g;
        let step = if SW == 0 { g.sw } else { SW } * LANES;
        // Every load below reads buf[at .. at + 8] with at ≤ roff[ky] + reach.
        let reach = ((g.ow - 1) * g.sw + (g.kw - 1) * g.dw) * LANES;
        assert!(roff.len() == g.kh && roff.iter().all(|&r| r + reach + LANES <= buf.len()));
        assert!(t.wk.len() >= g.kh * g.kw && t.n <= LANES && oy < g.oh);
        let plane = g.oh * g.ow;
        assert!(t.n * plane <= y.len());
        let (bp, yp) = (buf.as_ptr(), y.as_mut_ptr());
        // SAFETY: the loads are within `buf` and the stores within `y` by the asserts above
        // (pixel ox + q < ow, spare lanes re-reading the last pixel; tap rows < kh, columns < kw;
        // lane l < n, so l·plane + at + 8 ≤ n·plane when at + 8 ≤ plane).
        unsafe {
            let bias = _mm256_loadu_ps(t.bias.as_ptr());
            let (lo, hi) = (_mm256_set1_ps(t.clamp.0), _mm256_set1_ps(t.clamp.1));
            let np = P.min(g.ow);
            let mut ox = 0;
            while ox < g.ow {
                // The last P pixels of a row overlap the group before (recomputing a few equal
                // values); a row shorter than P reads its last pixel in the spare lanes.
                if ox + P > g.ow && g.ow >= P {
                    ox = g.ow - P;
                }
                let mut acc = [bias; P];
                for (ky, &r) in roff.iter().enumerate() {
                    let base = bp.add(r + ox * step);
                    for kx in 0..g.kw {
                        let at = base.add(kx * g.dw * LANES);
                        let w = _mm256_loadu_ps(t.wk[ky * g.kw + kx].as_ptr());
                        if np == P {
                            for (p, a) in acc.iter_mut().enumerate() {
                                *a = _mm256_fmadd_ps(w, _mm256_loadu_ps(at.add(p * step)), *a);
                            }
                        } else {
                            for (p, a) in acc.iter_mut().enumerate() {
                                let q = p.min(np - 1);
                                *a = _mm256_fmadd_ps(w, _mm256_loadu_ps(at.add(q * step)), *a);
                            }
                        }
                    }
                }
                for a in acc.iter_mut() {
                    *a = _mm256_min_ps(_mm256_max_ps(*a, lo), hi);
                }
                let at = oy * g.ow + ox;
                if at + P <= plane && t.n == LANES {
                    // A row shorter than P spills into the rows after it, which are written
                    // later (masked stores are slow on AMD CPUs).
                    let dst = std::array::from_fn(|l| yp.add(l * plane + at));
                    crate::sparse::transpose8_store(acc, dst);
                } else {
                    let mut px = [[0f32; P]; LANES];
                    let dst = std::array::from_fn(|l| px[l].as_mut_ptr());
                    crate::sparse::transpose8_store(acc, dst);
                    let w = if at + P <= plane { P } else { np };
                    for (l, px) in px.iter().enumerate().take(t.n) {
                        y[l * plane + at..][..w].copy_from_slice(&px[..w]);
                    }
                }
                ox += np;
            }
        }
    }
}

/// Output row `oy` of the block's n planes of `y`, tap row ky read from `buf[roff[ky]..]` (the
/// interleaved padded row).
fn row_portable<const F: bool>(t: &Taps, buf: &[f32], roff: &[usize], oy: usize, y: &mut [f32]) {
    let g = t.g;
    let step = g.sw * LANES;
    let plane = g.oh * g.ow;
    let mut ox = 0;
    while ox < g.ow {
        let np = P.min(g.ow - ox);
        let mut acc = [t.bias; P];
        for (ky, &r) in roff.iter().enumerate() {
            for kx in 0..g.kw {
                let at = r + (ox * g.sw + kx * g.dw) * LANES;
                let w = &t.wk[ky * g.kw + kx];
                for (p, a) in acc.iter_mut().enumerate().take(np) {
                    let v = &buf[at + p * step..at + p * step + LANES];
                    for l in 0..LANES {
                        a[l] = fma::<F>(w[l], v[l], a[l]);
                    }
                }
            }
        }
        for (p, a) in acc.iter().enumerate().take(np) {
            for (l, v) in a.iter().enumerate().take(t.n) {
                y[l * plane + oy * g.ow + ox + p] = v.max(t.clamp.0).min(t.clamp.1);
            }
        }
        ox += np;
    }
}

/// Interleaves input row `iy` of the block's planes into `dst` (a padded row, pixel ix at
/// `(pw + ix)·8`), eight pixels at a time by an 8×8 transpose. `lane(l)` is lane l's plane
/// (None: zeros).
#[inline(always)]
fn interleave_row<'a, const F: bool>(
    g: &DwGeom,
    lane: impl Fn(usize) -> Option<&'a [f32]>,
    full: Option<&[f32]>,
    iy: usize,
    dst: &mut [f32],
) {
    let plane = g.h * g.w;
    let row0 = iy * g.w;
    if plane < LANES {
        for l in 0..LANES {
            let p = lane(l);
            for ix in 0..g.w {
                dst[(g.pw + ix) * LANES + l] = p.map_or(0.0, |p| p[row0 + ix]);
            }
        }
        return;
    }
    let zeros = [0f32; LANES];
    let mut t = [[0f32; LANES]; LANES];
    let mut j0 = 0;
    while j0 < g.w {
        // Eight pixels from `s` (the row's next eight, or the plane's last eight: they may run
        // into the next row or start in the row before, and only this row's are kept).
        let s = (row0 + j0).min(plane - LANES);
        if let (Some(p), true) = (full, s == row0 + j0 && j0 + LANES <= g.w) {
            // The row's own eight pixels: transposed straight into their place.
            let at = (g.pw + j0) * LANES;
            let (out, _) = dst[at..at + LANES * LANES].as_chunks_mut::<LANES>();
            let out: &mut [[f32; LANES]; LANES] = out.try_into().expect("8 pixels");
            transpose8::<F>(&rows8(p, s, plane), out);
            j0 += LANES;
            continue;
        }
        let src: [&[f32; LANES]; LANES] = match full {
            Some(p) => rows8(p, s, plane),
            None => std::array::from_fn(|l| match lane(l) {
                Some(p) => p[s..s + LANES].try_into().expect("8 pixels"),
                None => &zeros,
            }),
        };
        transpose8::<F>(&src, &mut t);
        let (lo, hi) = (row0 + j0, row0 + (j0 + LANES).min(g.w));
        for (p, px) in t.iter().enumerate() {
            let f = s + p;
            if f >= lo && f < hi {
                let at = (g.pw + f - row0) * LANES;
                dst[at..at + LANES].copy_from_slice(px);
            }
        }
        j0 += LANES;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block_impl<const F: bool>(
    g: &DwGeom,
    x: &[f32],
    k: &DwWeights,
    clamp: (f32, f32),
    mult: usize,
    b: usize,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let (wp, span) = (g.wp(), g.span());
    let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
    if plane_out == 0 {
        return;
    }
    let n = y.len() / plane_out;
    let oc0 = b * LANES;
    let rl = wp * LANES;
    let scratch = &mut scratch[..(span + 1) * rl];
    // Row 0 of the scratch is zeros (the padding rows); the ring rows' padding columns are
    // zeros, which the interleaving never overwrites.
    scratch[..rl].fill(0.0);
    for r in scratch[rl..].chunks_exact_mut(rl) {
        r[..g.pw * LANES].fill(0.0);
        r[(g.pw + g.w) * LANES..].fill(0.0);
    }
    let lane = |l: usize| -> Option<&[f32]> {
        (l < n).then(|| {
            let ic = (oc0 + l) / mult;
            &x[ic * plane_in..(ic + 1) * plane_in]
        })
    };
    // All eight lanes: their planes follow each other in x (plain indexing, no per-lane branch).
    let full = (n == LANES && mult == 1).then(|| &x[oc0 * plane_in..(oc0 + LANES) * plane_in]);
    let tp = Taps {
        g,
        wk: &k.wk[b * k.taps..(b + 1) * k.taps],
        bias: k.bias[b],
        clamp,
        n,
    };
    let mut stack = [0usize; 8];
    let mut heap = Vec::new();
    let roff: &mut [usize] = if g.kh <= stack.len() {
        &mut stack[..g.kh]
    } else {
        heap.resize(g.kh, 0);
        &mut heap
    };
    let input = |py: usize| (py >= g.ph && py < g.ph + g.h).then(|| py - g.ph);
    let mut filled = 0;
    for oy in 0..g.oh {
        let top = oy * g.sh;
        for py in filled.max(top)..top + span {
            if let Some(iy) = input(py) {
                let at = (1 + py % span) * rl;
                interleave_row::<F>(g, lane, full, iy, &mut scratch[at..at + rl]);
            }
        }
        filled = top + span;
        for (ky, r) in roff.iter_mut().enumerate() {
            let py = top + ky * g.dh;
            *r = input(py).map_or(0, |_| (1 + py % span) * rl);
        }
        match F {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: F is true only in the `#[target_feature(enable = "avx2,fma")]`
            // instantiation, reached after `Isa::detect` found both.
            true => unsafe { avx2::row(&tp, scratch, roff, oy, y) },
            _ => row_portable::<F>(&tp, scratch, roff, oy, y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition.
    fn reference(g: &DwGeom, x: &[f32], k: &[f32], bias: f32) -> Vec<f32> {
        let mut y = vec![bias; g.oh * g.ow];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let iy = (oy * g.sh + ky * g.dh) as isize - g.ph as isize;
                        let ix = (ox * g.sw + kx * g.dw) as isize - g.pw as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                            y[oy * g.ow + ox] +=
                                k[ky * g.kw + kx] * x[iy as usize * g.w + ix as usize];
                        }
                    }
                }
            }
        }
        y
    }

    #[test]
    fn every_geometry_matches_the_definition() {
        let mut seed = 7u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(h, w, kh, kw, s, d, p, pe) in &[
            (7, 7, 3, 3, 1, 1, 1, 1),
            (8, 9, 3, 3, 2, 1, 1, 1),
            (9, 8, 3, 3, 2, 1, 0, 1),
            (10, 10, 5, 5, 2, 1, 2, 2),
            (6, 11, 3, 3, 1, 2, 2, 2),
            (5, 5, 1, 1, 1, 1, 0, 0),
            (12, 7, 3, 5, 3, 1, 1, 2),
            (4, 4, 3, 3, 1, 1, 0, 0),
            (2, 3, 3, 3, 1, 1, 1, 1),
            (1, 1, 1, 1, 1, 1, 0, 0),
            (5, 20, 3, 3, 1, 1, 1, 1),
            (13, 9, 3, 3, 2, 1, 1, 1),
            (9, 33, 3, 3, 2, 1, 1, 1),
            (16, 16, 3, 3, 1, 1, 1, 1),
        ] {
            let oh = (h + p + pe - ((kh - 1) * d + 1)) / s + 1;
            let ow = (w + p + pe - ((kw - 1) * d + 1)) / s + 1;
            let g = DwGeom {
                h,
                w,
                oh,
                ow,
                kh,
                kw,
                sh: s,
                sw: s,
                dh: d,
                dw: d,
                ph: p,
                pw: p,
            };
            // Blocks of 5 and of 8 channels (multiplier 1: all eight planes follow each other,
            // the interleaving's fast path), and of 8 with multiplier 2 (output channel l reads
            // input channel l / 2), the last clamping its outputs (a fused Relu6-like Clip).
            for (n, mult, clamp) in [
                (5usize, 1usize, (f32::NEG_INFINITY, f32::INFINITY)),
                (8, 1, (f32::NEG_INFINITY, f32::INFINITY)),
                (8, 2, (-0.1, 0.3)),
            ] {
                let xs: Vec<f32> = (0..n.div_ceil(mult) * h * w).map(|_| rnd()).collect();
                let ks: Vec<f32> = (0..8 * kh * kw).map(|_| rnd()).collect();
                let bias: Vec<f32> = (0..8).map(|_| rnd()).collect();
                let packed = DwWeights::new(&ks, Some(&bias), 8, kh * kw);
                let want: Vec<Vec<f32>> = (0..n)
                    .map(|l| {
                        let x = &xs[l / mult * h * w..(l / mult + 1) * h * w];
                        reference(&g, x, &ks[l * kh * kw..(l + 1) * kh * kw], bias[l])
                    })
                    .collect();
                for isa in Isa::available() {
                    let mut y = vec![0.0; n * oh * ow];
                    let mut scratch = vec![f32::NAN; g.scratch_len()];
                    block(isa, &g, &xs, &packed, clamp, mult, 0, &mut y, &mut scratch);
                    for (l, want) in want.iter().enumerate() {
                        let got = &y[l * oh * ow..(l + 1) * oh * ow];
                        for (i, (a, b)) in got.iter().zip(want).enumerate() {
                            let b = b.max(clamp.0).min(clamp.1);
                            assert!(
                                (a - b).abs() < 1e-5,
                                "{isa:?} {h}x{w} k{kh}x{kw} s{s} d{d} p{p} n{n} m{mult}: \
                                 channel {l} [{i}] {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }
}
