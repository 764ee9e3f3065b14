//! Depthwise convolutions of stride 1 whose output rows are as wide as their input rows (a
//! "same" padding across: mobilenet_v2's 3×3 ones, 5×5 ones), with AVX-512, on the planes as
//! they lie. A channel's output plane is one flat run of 16-float vectors; output pixel q reads
//! tap (ky, kx) at input pixel q + (ky·dh − ph)·w + kx·dw − pw, so each tap is one masked load
//! at a fixed offset and one multiply-add, the masks (computed at load, per vector and tap)
//! zeroing the lanes whose tap falls in the padding. [`super::depthwise`] interleaves eight
//! channels' rows and transposes its outputs back, and those shuffles cost more than the
//! multiply-adds (one shuffle port against two FMA ports).
#![allow(unsafe_code)] // the masked loads and stores of the kernel (their lanes checked at load, see `Planar::new`)

use super::depthwise::{DwGeom, DwWeights, LANES};

/// Floats in one vector.
const V: usize = 16;

/// The kernel sizes compiled (taps per channel).
const TAPS: [usize; 2] = [9, 25];

/// A depthwise geometry's tap offsets and lane masks, built once at load.
#[derive(Debug, Clone)]
pub struct Planar {
    taps: usize,
    plane_in: usize,
    plane_out: usize,
    /// Each tap's input offset from the output pixel.
    off: Vec<isize>,
    /// Per output vector and tap: the lanes (bit i: pixel 16·v + i) whose tap reads the input
    /// plane rather than the padding.
    masks: Vec<u16>,
}

impl Planar {
    /// The plan for `g`, or None where this kernel does not apply (a stride above 1 across,
    /// output rows narrower or wider than the input's, or a kernel size not compiled).
    pub fn new(g: &DwGeom) -> Option<Planar> {
        let taps = g.kh * g.kw;
        if g.sw != 1 || g.ow != g.w || !TAPS.contains(&taps) || g.oh * g.ow == 0 {
            return None;
        }
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        let off = (0..taps)
            .map(|t| {
                let (ky, kx) = (t / g.kw, t % g.kw);
                let (dy, dx) = ((ky * g.dh) as isize - g.ph as isize, (kx * g.dw) as isize);
                dy * g.w as isize + dx - g.pw as isize
            })
            .collect();
        let nvec = plane_out.div_ceil(V);
        let mut masks = vec![0u16; nvec * taps];
        for q in 0..plane_out {
            let (oy, ox) = (q / g.ow, q % g.ow);
            for t in 0..taps {
                let iy = (oy + (t / g.kw) * g.dh).checked_sub(g.ph);
                let ix = (ox + (t % g.kw) * g.dw).checked_sub(g.pw);
                if iy.is_some_and(|iy| iy < g.h) && ix.is_some_and(|ix| ix < g.w) {
                    masks[(q / V) * taps + t] |= 1 << (q % V);
                }
            }
        }
        Some(Planar {
            taps,
            plane_in,
            plane_out,
            off,
            masks,
        })
    }

    /// Output channels `8·b .. 8·b + n` into `y` (their n planes), as [`super::depthwise::block`]
    /// computes them; the caller checked AVX-512F (`Isa::Avx512`).
    pub fn block(
        &self,
        x: &[f32],
        k: &DwWeights,
        clamp: (f32, f32),
        mult: usize,
        b: usize,
        y: &mut [f32],
    ) {
        let n = y.len() / self.plane_out;
        assert!(n <= LANES && k.taps == self.taps);
        for l in 0..n {
            let (oc, ys) = (
                b * LANES + l,
                &mut y[l * self.plane_out..(l + 1) * self.plane_out],
            );
            let ic = oc / mult;
            let xs = &x[ic * self.plane_in..(ic + 1) * self.plane_in];
            // On the stack: a Vec per channel cost 25% of a 7×7 plane's time.
            let mut taps = [0f32; 25];
            for (t, v) in taps.iter_mut().enumerate().take(self.taps) {
                *v = k.wk[b * k.taps + t][l];
            }
            let wk = &taps[..self.taps];
            let bias = k.bias[b][l];
            // SAFETY: `Isa::Avx512` (the caller's check) comes from `Isa::detect`, which found
            // AVX-512F; xs and ys are one input and one output plane of this geometry.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                match self.taps {
                    9 => avx512::channel::<9>(self, xs, wk, bias, clamp, ys),
                    _ => avx512::channel::<25>(self, xs, wk, bias, clamp, ys),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let _ = (xs, wk, bias, clamp, ys);
                unreachable!("Isa::Avx512 exists only on x86-64");
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// Output vectors computed together (independent multiply-add chains).
    const U: usize = 8;

    /// One channel: `xs` its input plane, `wk` its taps, `ys` its output plane.
    #[target_feature(enable = "avx512f")]
    pub(super) fn channel<const T: usize>(
        p: &Planar,
        xs: &[f32],
        wk: &[f32],
        bias: f32,
        clamp: (f32, f32),
        ys: &mut [f32],
    ) {
        assert!(wk.len() == T && p.taps == T && p.off.len() == T);
        assert!(xs.len() == p.plane_in && ys.len() == p.plane_out);
        let nvec = p.plane_out.div_ceil(V);
        assert!(p.masks.len() == nvec * T);
        let w: [__m512; T] = std::array::from_fn(|t| _mm512_set1_ps(wk[t]));
        let off: [isize; T] = std::array::from_fn(|t| p.off[t]);
        let mut v = 0;
        while v < nvec {
            // Groups of 8, then 4, 2 and 1 for the rest.
            let n = match nvec - v {
                U.. => U,
                4..U => 4,
                2..4 => 2,
                _ => 1,
            };
            // SAFETY: as `vectors` requires: v + n ≤ nvec and the planes are this plan's.
            unsafe {
                match n {
                    U => vectors::<T, U>(p, xs, &w, &off, bias, clamp, ys, v),
                    4 => vectors::<T, 4>(p, xs, &w, &off, bias, clamp, ys, v),
                    2 => vectors::<T, 2>(p, xs, &w, &off, bias, clamp, ys, v),
                    _ => vectors::<T, 1>(p, xs, &w, &off, bias, clamp, ys, v),
                }
            }
            v += n;
        }
    }

    /// Output vectors `v .. v + N` of one channel.
    ///
    /// # Safety
    /// AVX-512F is present, v + N ≤ the plane's vectors, `xs` and `ys` have the plan's plane
    /// sizes and `p.masks` its vectors × T masks: then every lane a mask lets through reads the
    /// input plane (its tap lies inside it, by `Planar::new`) and the stores stay within `ys`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn vectors<const T: usize, const N: usize>(
        p: &Planar,
        xs: &[f32],
        w: &[__m512; T],
        off: &[isize; T],
        bias: f32,
        clamp: (f32, f32),
        ys: &mut [f32],
        v: usize,
    ) {
        let (xp, yp, mp) = (xs.as_ptr(), ys.as_mut_ptr(), p.masks.as_ptr());
        let mut acc = [_mm512_set1_ps(bias); N];
        for t in 0..T {
            for (j, a) in acc.iter_mut().enumerate() {
                let q = (v + j) * V;
                // SAFETY: the lanes the mask lets through lie in xs (see the function's
                // contract); the others are not read, whatever the address.
                unsafe {
                    let m = *mp.add((v + j) * T + t);
                    let x = _mm512_maskz_loadu_ps(m, xp.wrapping_offset(q as isize + off[t]));
                    *a = _mm512_fmadd_ps(w[t], x, *a);
                }
            }
        }
        let (lo, hi) = (_mm512_set1_ps(clamp.0), _mm512_set1_ps(clamp.1));
        for (j, a) in acc.iter().enumerate() {
            let q = (v + j) * V;
            let r = _mm512_min_ps(_mm512_max_ps(*a, lo), hi);
            // SAFETY: q < plane_out (v + j is one of its vectors); the last vector stores only
            // the plane's remaining lanes.
            unsafe {
                if q + V <= p.plane_out {
                    _mm512_storeu_ps(yp.add(q), r);
                } else {
                    let m = ((1u32 << (p.plane_out - q)) - 1) as u16;
                    _mm512_mask_storeu_ps(yp.add(q), m, r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::Isa;

    #[test]
    fn planar_blocks_match_the_interleaving_kernel() {
        if Isa::detect() != Isa::Avx512 {
            return;
        }
        let mut seed = 11u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        // (h, w, k, d, pad top, pad bottom): 3×3 and 5×5 "same" ones on planes of 1 to 9
        // vectors and above, rows narrower and wider than a vector, dilated, with padding
        // unequal in height (oh ≠ h), and all lanes of the last vector in use or not.
        for &(h, w, k, d, pt, pb) in &[
            (7, 7, 3, 1, 1, 1),
            (14, 14, 3, 1, 1, 1),
            (16, 16, 3, 1, 1, 1),
            (28, 28, 3, 1, 1, 1),
            (5, 37, 3, 1, 1, 1),
            (1, 1, 3, 1, 1, 1),
            (3, 2, 3, 1, 1, 1),
            (9, 10, 5, 1, 2, 2),
            (12, 9, 3, 2, 2, 2),
            (8, 8, 3, 1, 0, 0),
            (8, 8, 3, 1, 2, 1),
        ] {
            let (pw, oh) = ((k - 1) * d / 2, h + pt + pb - (k - 1) * d);
            let g = DwGeom {
                h,
                w,
                oh,
                ow: w,
                kh: k,
                kw: k,
                sh: 1,
                sw: 1,
                dh: d,
                dw: d,
                ph: pt,
                pw,
            };
            let plan = Planar::new(&g).expect("a stride-1 same-width geometry");
            for (n, mult, clamp) in [
                (5usize, 1usize, (f32::NEG_INFINITY, f32::INFINITY)),
                (8, 1, (f32::NEG_INFINITY, f32::INFINITY)),
                (8, 2, (-0.1, 0.3)),
            ] {
                // Two blocks: the second one's channels 8..8 + n.
                let xs: Vec<f32> = (0..(8 + n).div_ceil(mult) * h * w).map(|_| rnd()).collect();
                let ks: Vec<f32> = (0..16 * k * k).map(|_| rnd()).collect();
                let bias: Vec<f32> = (0..16).map(|_| rnd()).collect();
                let packed = DwWeights::new(&ks, Some(&bias), 16, k * k);
                let mut want = vec![0.0; n * oh * w];
                let mut scratch = vec![0.0; g.scratch_len()];
                let (x, kp) = (&xs, &packed);
                super::super::depthwise::block(
                    Isa::Portable,
                    &g,
                    x,
                    kp,
                    clamp,
                    mult,
                    1,
                    &mut want,
                    &mut scratch,
                );
                let mut got = vec![f32::NAN; n * oh * w];
                plan.block(x, kp, clamp, mult, 1, &mut got);
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{h}x{w} k{k} d{d} p{pt},{pb} n{n} m{mult}: [{i}] {a} vs {b}"
                    );
                }
            }
        }
        // Geometries it leaves to the interleaving kernel.
        let g = |sw, ow, kh| DwGeom {
            h: 8,
            w: 8,
            oh: 8,
            ow,
            kh,
            kw: kh,
            sh: 1,
            sw,
            dh: 1,
            dw: 1,
            ph: kh / 2,
            pw: kh / 2,
        };
        assert!(Planar::new(&g(2, 4, 3)).is_none());
        assert!(Planar::new(&g(1, 6, 3)).is_none());
        assert!(Planar::new(&g(1, 8, 7)).is_none());
    }
}
