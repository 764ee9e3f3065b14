//! Depthwise convolution (each output channel reads one input channel), for any kernel, stride,
//! dilation, padding and depth multiplier. Eight channels go together: their padded input planes
//! are interleaved (`[row][column][8 channels]`, as NCHWc layouts do), so each kernel tap is one
//! 8-lane multiply-add per output pixel whatever the plane size, and the accumulators stay in
//! registers across the taps; the 8 output planes are written back at the end. Compiled for
//! AVX2+FMA (chosen at run time) and portably, like `sparse`.
#![allow(unsafe_code)] // calls into `#[target_feature]` functions and the tap loop's vector loads/stores (bounds checked once per call, see `avx2::taps`)

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
    /// Rows and columns of the padded plane (enough for every tap of every output).
    fn padded(&self) -> (usize, usize) {
        let hp =
            (self.h + self.ph).max((self.oh.max(1) - 1) * self.sh + (self.kh - 1) * self.dh + 1);
        let wp =
            (self.w + self.pw).max((self.ow.max(1) - 1) * self.sw + (self.kw - 1) * self.dw + 1);
        (hp, wp)
    }

    /// Floats of scratch space [`block`] needs.
    pub fn scratch_len(&self) -> usize {
        let (hp, wp) = self.padded();
        (hp * wp + self.oh * self.ow) * LANES
    }
}

/// Runs `f` on this thread's scratch buffer of at least `len` floats (kept between calls: a
/// fresh zeroed one per call, or per rayon split, cost a memset and page faults as large as the
/// padded planes; [`block`] writes every float of it that it reads).
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

/// Output channels `oc0 .. oc0 + n` (n ≤ [`LANES`]) into `y` (their n planes, oh × ow each),
/// reading input channel `oc / mult` of `x` (all input planes, h × w each), kernel `k[oc]`
/// (kh × kw each) and `bias[oc]`, each output clamped to `clamp` (a fused Relu or Clip).
/// `scratch` has at least [`DwGeom::scratch_len`] floats.
#[allow(clippy::too_many_arguments)]
pub fn block(
    isa: Isa,
    g: &DwGeom,
    x: &[f32],
    k: &[f32],
    bias: Option<&[f32]>,
    clamp: (f32, f32),
    mult: usize,
    oc0: usize,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        isa if isa.avx2() => {
            // SAFETY: the x86 `Isa`s are only produced by `Isa::detect`, after the CPU was found to
            // support AVX2 and FMA; the function's loads are bounds-checked before they run.
            unsafe { avx2::block(g, x, k, bias, clamp, mult, oc0, y, scratch) }
        }
        _ => block_impl::<false>(g, x, k, bias, clamp, mult, oc0, y, scratch),
    }
}

/// Pixels computed together: independent FMA chains that hide the FMA latency.
const P: usize = 8;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    use std::arch::x86_64::*;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn block(
        g: &DwGeom,
        x: &[f32],
        k: &[f32],
        bias: Option<&[f32]>,
        clamp: (f32, f32),
        mult: usize,
        oc0: usize,
        y: &mut [f32],
        scratch: &mut [f32],
    ) {
        block_impl::<true>(g, x, k, bias, clamp, mult, oc0, y, scratch)
    }

    /// [`super::taps_portable`] with the eight lanes as one AVX2 register (the portable loop's
    /// `[f32; 8]` accumulators are not kept in registers by the compiler).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn taps(t: &Taps, buf: &[f32], out: &mut [f32]) {
        let g = t.g;
        let step = g.sw * LANES;
        // Every load below reads buf[at .. at + 8] with at ≤ this bound.
        let last = (((g.oh.max(1) - 1) * g.sh + (g.kh - 1) * g.dh) * t.wp
            + (g.ow.max(1) - 1) * g.sw
            + (g.kw - 1) * g.dw)
            * LANES;
        assert!(last + LANES <= buf.len() && g.oh * g.ow * LANES <= out.len());
        assert!(t.wk.len() >= g.kh * g.kw);
        let (bp, op) = (buf.as_ptr(), out.as_mut_ptr());
        // SAFETY: the loads are within `buf` and the stores within `out` by the asserts above
        // (pixel ox + q < ow, spare lanes re-reading the last pixel; tap rows < kh, columns < kw).
        unsafe {
            let bias = _mm256_loadu_ps(t.bias.as_ptr());
            let (lo, hi) = (_mm256_set1_ps(t.clamp.0), _mm256_set1_ps(t.clamp.1));
            let wk: Vec<__m256> = t.wk.iter().map(|w| _mm256_loadu_ps(w.as_ptr())).collect();
            for oy in 0..g.oh {
                let mut ox = 0;
                while ox < g.ow {
                    // The last P pixels of a row overlap the group before (recomputing a few
                    // equal values); a row shorter than P reads its last pixel in the spare
                    // lanes. Either way P independent chains: one pixel at a time was 9
                    // dependent FMAs each, most of the time of the 28-, 14- and 7-wide planes.
                    if ox + P > g.ow && g.ow >= P {
                        ox = g.ow - P;
                    }
                    let np = P.min(g.ow - ox);
                    let mut acc = [bias; P];
                    for ky in 0..g.kh {
                        let row = ((oy * g.sh + ky * g.dh) * t.wp + ox * g.sw) * LANES;
                        for kx in 0..g.kw {
                            let at = bp.add(row + kx * g.dw * LANES);
                            let w = wk[ky * g.kw + kx];
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
                    for (p, a) in acc.iter().enumerate().take(np) {
                        let v = _mm256_min_ps(_mm256_max_ps(*a, lo), hi);
                        _mm256_storeu_ps(op.add((oy * g.ow + ox + p) * LANES), v);
                    }
                    ox += np;
                }
            }
        }
    }
}

/// What the tap loop needs beyond the interleaved input.
struct Taps<'a> {
    g: &'a DwGeom,
    /// Columns of the padded, interleaved plane.
    wp: usize,
    /// Kernel taps as 8-lane vectors.
    wk: &'a [[f32; LANES]],
    bias: [f32; LANES],
    clamp: (f32, f32),
}

/// The taps of every output pixel of the interleaved block: out[(oy·ow + ox)·8 + lane].
fn taps_portable<const F: bool>(t: &Taps, buf: &[f32], out: &mut [f32]) {
    let g = t.g;
    let step = g.sw * LANES;
    for oy in 0..g.oh {
        let mut ox = 0;
        while ox < g.ow {
            let np = P.min(g.ow - ox);
            let mut acc = [t.bias; P];
            for ky in 0..g.kh {
                let row = ((oy * g.sh + ky * g.dh) * t.wp + ox * g.sw) * LANES;
                for kx in 0..g.kw {
                    let at = row + kx * g.dw * LANES;
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
                let o = (oy * g.ow + ox + p) * LANES;
                for (d, v) in out[o..o + LANES].iter_mut().zip(a) {
                    *d = v.max(t.clamp.0).min(t.clamp.1);
                }
            }
            ox += np;
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block_impl<const F: bool>(
    g: &DwGeom,
    x: &[f32],
    k: &[f32],
    bias: Option<&[f32]>,
    clamp: (f32, f32),
    mult: usize,
    oc0: usize,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let (hp, wp) = g.padded();
    let (plane_in, plane_out, taps) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    let n = y.len() / plane_out.max(1);
    let (buf, out) = scratch[..(hp * wp + plane_out) * LANES].split_at_mut(hp * wp * LANES);
    // Interleave the padded input planes: buf[(py·wp + px)·8 + lane], eight pixels of the eight
    // channels at a time by an 8×8 transpose. Only the padding needs zeros when all lanes are used.
    if n == LANES {
        buf[..g.ph * wp * LANES].fill(0.0);
        buf[(g.ph + g.h) * wp * LANES..].fill(0.0);
        for py in g.ph..g.ph + g.h {
            let row = &mut buf[py * wp * LANES..(py + 1) * wp * LANES];
            row[..g.pw * LANES].fill(0.0);
            row[(g.pw + g.w) * LANES..].fill(0.0);
        }
    } else {
        buf.fill(0.0);
    }
    let zeros = [0f32; LANES];
    let src = |lane: usize| -> Option<&[f32]> {
        (lane < n).then(|| {
            let ic = (oc0 + lane) / mult;
            &x[ic * plane_in..(ic + 1) * plane_in]
        })
    };
    let planes: [Option<&[f32]>; LANES] = std::array::from_fn(src);
    let w8 = g.w / LANES * LANES;
    let mut t = [[0f32; LANES]; LANES];
    // All eight lanes: their planes follow each other in x (plain indexing, no per-lane
    // branch; the general gather below was a third of this function on mobilenet_v2).
    let full = (n == LANES && mult == 1).then(|| &x[oc0 * plane_in..(oc0 + LANES) * plane_in]);
    for iy in 0..g.h {
        let base = ((iy + g.ph) * wp + g.pw) * LANES;
        for j0 in (0..w8).step_by(LANES) {
            let s: [&[f32; LANES]; LANES] = match full {
                Some(p) => rows8(p, iy * g.w + j0, plane_in),
                None => std::array::from_fn(|lane| match planes[lane] {
                    Some(p) => p[iy * g.w + j0..][..LANES].try_into().expect("8 pixels"),
                    None => &zeros,
                }),
            };
            transpose8::<F>(&s, &mut t);
            for (j, px) in t.iter().enumerate() {
                let at = base + (j0 + j) * LANES;
                buf[at..at + LANES].copy_from_slice(px);
            }
        }
        for (lane, p) in planes.iter().enumerate() {
            let Some(p) = p else { continue };
            for ix in w8..g.w {
                buf[base + ix * LANES + lane] = p[iy * g.w + ix];
            }
        }
    }
    // Kernel taps as 8-lane vectors, and the bias.
    let mut wk = vec![[0f32; LANES]; taps];
    let mut b0 = [0f32; LANES];
    for lane in 0..n {
        let oc = oc0 + lane;
        for (t, w) in wk.iter_mut().enumerate() {
            w[lane] = k[oc * taps + t];
        }
        b0[lane] = bias.map_or(0.0, |b| b[oc]);
    }
    let tp = Taps {
        g,
        wp,
        wk: &wk,
        bias: b0,
        clamp,
    };
    match F {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: F is true only in the `#[target_feature(enable = "avx2,fma")]` instantiation,
        // reached after `Isa::detect` found both.
        true => unsafe { avx2::taps(&tp, buf, out) },
        _ => taps_portable::<F>(&tp, buf, out),
    }
    // De-interleave into the n output planes, eight pixels at a time.
    let p8 = plane_out / LANES * LANES;
    for p0 in (0..p8).step_by(LANES) {
        let s = rows8(out, p0 * LANES, LANES);
        transpose8::<F>(&s, &mut t);
        for (lane, tl) in t.iter().enumerate().take(n) {
            y[lane * plane_out + p0..][..LANES].copy_from_slice(tl);
        }
    }
    for lane in 0..n {
        for p in p8..plane_out {
            y[lane * plane_out + p] = out[p * LANES + lane];
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
            let x: Vec<f32> = (0..h * w).map(|_| rnd()).collect();
            let k: Vec<f32> = (0..kh * kw).map(|_| rnd()).collect();
            let want = reference(&g, &x, &k, 0.25);
            // Channel 3 of a block of 5 (multiplier 1) and of a block of 8 (multiplier 2, so
            // output channel 3 reads input channel 1).
            // The second block clamps its outputs (a fused Relu6-like Clip).
            for (n, mult, ic, clamp) in [
                (5usize, 1usize, 3usize, (f32::NEG_INFINITY, f32::INFINITY)),
                (8, 2, 1, (-0.1, 0.3)),
            ] {
                let mut xs = vec![9.0f32; 8 * h * w];
                xs[ic * h * w..(ic + 1) * h * w].copy_from_slice(&x);
                let mut ks = vec![0.5f32; 8 * kh * kw];
                ks[3 * kh * kw..4 * kh * kw].copy_from_slice(&k);
                let bias: Vec<f32> = (0..8).map(|i| if i == 3 { 0.25 } else { 1.0 }).collect();
                for isa in Isa::available() {
                    let mut y = vec![0.0; n * oh * ow];
                    let mut scratch = vec![f32::NAN; g.scratch_len()];
                    block(
                        isa,
                        &g,
                        &xs,
                        &ks,
                        Some(&bias),
                        clamp,
                        mult,
                        0,
                        &mut y,
                        &mut scratch,
                    );
                    let got = &y[3 * oh * ow..4 * oh * ow];
                    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                        let b = b.max(clamp.0).min(clamp.1);
                        assert!(
                            (a - b).abs() < 1e-5,
                            "{isa:?} {h}x{w} k{kh}x{kw} s{s} d{d} p{p} n{n}: [{i}] {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}
