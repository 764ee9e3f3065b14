//! Windowed pooling shared by `MaxPool` and `AveragePool` (2-D).
#![allow(unsafe_code)] // calls the AVX2 build of max pooling after CPU detection (`Pool::max_plane`)

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

/// Max or average over a window.
pub struct Pool {
    x: Vec<usize>,
    y: Vec<usize>,
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    dilations: [usize; 2],
    max: bool,
    count_include_pad: bool,
    /// Per output position: `ptr[o]..ptr[o + 1]` index `idx`, the input positions inside the
    /// window (the same for every plane, so computed once).
    ptr: Vec<u32>,
    idx: Vec<u32>,
    /// Divisor for averaging.
    count: Vec<u32>,
    /// Planes run in parallel when > 1.
    threads: usize,
    /// Max pooling of a channels-last input into a channels-last output (see `layout`).
    nhwc: bool,
}

impl Pool {
    /// Reads the window attributes of a 2-D pooling node.
    pub fn lower(c: &LowerCtx, max: bool) -> Result<Pool> {
        let x = c.in_shape(0)?;
        let y = c.out_shape(0)?;
        if x.len() != 4 {
            return Err(c.unsupported(" (only 2-D pooling)"));
        }
        let ints = |name: &str, n: usize, d: i64| -> Result<Vec<usize>> {
            Ok(c.node
                .attr_ints(name)?
                .unwrap_or_else(|| vec![d; n])
                .iter()
                .map(|&v| v.max(0) as usize)
                .collect())
        };
        let k = ints("kernel_shape", 2, 1)?;
        let s = ints("strides", 2, 1)?;
        let d = ints("dilations", 2, 1)?;
        let auto_pad = c.node.attr_str("auto_pad", "NOTSET")?;
        let mut p = ints("pads", 4, 0)?;
        if auto_pad.starts_with("SAME") {
            for i in 0..2 {
                let total =
                    ((y[2 + i] - 1) * s[i] + (k[i] - 1) * d[i] + 1).saturating_sub(x[2 + i]);
                p[i] = if auto_pad == "SAME_UPPER" {
                    total / 2
                } else {
                    total - total / 2
                };
                p[2 + i] = total - p[i];
            }
        }
        let mut pool = Pool::new(
            x,
            y,
            [k[0], k[1]],
            [s[0], s[1]],
            [p[0], p[1], p[2], p[3]],
            [d[0], d[1]],
            max,
            c.node.attr_int("count_include_pad", 0)? != 0,
        );
        pool.threads = c.threads;
        if c.nhwc_in != c.nhwc_out || (c.nhwc_in && !max) {
            return Err(c.unsupported(" (channels-last pooling is max pooling, in and out)"));
        }
        pool.nhwc = c.nhwc_in;
        Ok(pool)
    }

    /// A pooling kernel for these shapes and window attributes (windows computed once).
    #[allow(clippy::too_many_arguments)]
    fn new(
        x: Vec<usize>,
        y: Vec<usize>,
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        max: bool,
        count_include_pad: bool,
    ) -> Pool {
        let mut pool = Pool {
            x,
            y,
            kernel,
            strides,
            pads,
            dilations,
            max,
            count_include_pad,
            ptr: vec![0],
            idx: Vec::new(),
            count: Vec::new(),
            threads: 1,
            nhwc: false,
        };
        let (mut ptr, mut idx, mut count) = (vec![0u32], Vec::new(), Vec::new());
        pool.windows(|_, win, n| {
            idx.extend(win.iter().map(|&i| i as u32));
            ptr.push(idx.len() as u32);
            count.push(n as u32);
        });
        (pool.ptr, pool.idx, pool.count) = (ptr, idx, count);
        pool
    }
}

impl Pool {
    /// Input [N, C, H, W].
    pub fn x_shape(&self) -> &[usize] {
        &self.x
    }

    /// Output [N, C, OH, OW].
    pub fn y_shape(&self) -> &[usize] {
        &self.y
    }

    /// Pools one input plane `xs` into one output plane `ys` (shared with the trainer).
    pub fn plane(&self, xs: &[f32], ys: &mut [f32]) {
        self.each_window(|o, idx, count| {
            ys[o] = if self.max {
                idx.iter()
                    .fold(f32::NEG_INFINITY, |a, &i| a.max(xs[i as usize]))
            } else {
                idx.iter().map(|&i| xs[i as usize]).sum::<f32>() / count as f32
            };
        });
    }

    /// Max pooling of one plane as two passes: down the columns into `tmp` (oh × w; contiguous
    /// rows, so it vectorizes), then along the rows with the stride (on oh rows, not h). Each
    /// pass is a few sweeps instead of a gather per window element. Positions in the padding are
    /// skipped, as in [`Pool::plane`]; a NaN input is skipped too, as `f32::max` does.
    fn max_plane(&self, xs: &[f32], ys: &mut [f32], tmp: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if crate::sparse::Isa::detect() == crate::sparse::Isa::Avx512 {
            if self.kernel[1] == 3 && self.strides[1] == 2 && self.dilations[1] == 1 {
                // SAFETY: `Isa::detect` found AVX-512F on this CPU.
                unsafe { self.max_plane_3s2_avx512(xs, ys, tmp) };
            } else {
                // SAFETY: `Isa::detect` found AVX-512F (and AVX2) on this CPU.
                unsafe { self.max_plane_avx512(xs, ys, tmp) };
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::sparse::Isa::detect().avx2() {
            // SAFETY: `Isa::detect` found AVX2 (and FMA) on this CPU.
            unsafe { self.max_plane_avx2(xs, ys, tmp) };
            return;
        }
        self.max_plane_body(xs, ys, tmp)
    }

    /// [`Pool::max_plane`] compiled for AVX2 (twice the lanes of the baseline's SSE).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn max_plane_avx2(&self, xs: &[f32], ys: &mut [f32], tmp: &mut Vec<f32>) {
        self.max_plane_body(xs, ys, tmp)
    }

    /// [`Pool::max_plane`] compiled for AVX-512F (16-float vectors).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2")]
    fn max_plane_avx512(&self, xs: &[f32], ys: &mut [f32], tmp: &mut Vec<f32>) {
        self.max_plane_body(xs, ys, tmp)
    }

    /// [`Pool::max_plane`] for windows three columns wide at stride 2 (resnet18's 3×3/2 pool)
    /// with AVX-512, one output row at a time: the column maxima of the window's rows go into
    /// `tmp` (−∞ where the window lies outside the plane), and each 16 outputs take the max of
    /// three vectors picked from 34 of those maxima by two-source permutes (the even, the odd
    /// and the next even columns). `max(x, acc)` keeps `acc` where `x` is NaN, so NaN inputs
    /// are skipped as in [`Pool::plane`]. Loads and stores are masked to the plane's rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn max_plane_3s2_avx512(&self, xs: &[f32], ys: &mut [f32], tmp: &mut Vec<f32>) {
        use std::arch::x86_64::*;
        let (h, w) = (self.x[2], self.x[3]);
        let (oh, ow) = (self.y[2], self.y[3]);
        assert!(xs.len() >= h * w && ys.len() >= oh * ow, "plane sizes");
        let pl = self.pads[1];
        let blocks = ow.div_ceil(16);
        // Output column ox reads tmp[2·ox + t], t < 3, which holds input column 2·ox + t − pl.
        tmp.clear();
        tmp.resize((32 * blocks + 2).max(pl + w), f32::NEG_INFINITY);
        let mask = |n: usize| -> __mmask16 { (((1u32 << n.min(16)) - 1) & 0xffff) as u16 };
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for oy in 0..oh {
            // The two input rows that output row oy + 2 starts at, asked for now (a hint:
            // nothing is dereferenced; past the plane it is the next one's start). The input
            // (resnet18's 3.2 MB stem output) comes from beyond L2, and the hardware
            // prefetchers restart at every 4 KiB page: resnet18's max pool 0.34–0.39 -> 0.25–
            // 0.34 ms at 1 thread, alternating runs (4 rows ahead: no better).
            let p = xs.as_ptr().wrapping_add(2 * (oy + 2) * w);
            for l in (0..2 * w).step_by(16) {
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(l) as *const i8);
            }
            for v in 0..w.div_ceil(16) {
                let m = mask(w - 16 * v);
                let mut acc = ninf;
                for iy in self.rows_of(oy) {
                    // SAFETY: the masked lanes are columns 16·v.. < w of row iy < h.
                    let x =
                        unsafe { _mm512_mask_loadu_ps(ninf, m, xs.as_ptr().add(iy * w + 16 * v)) };
                    acc = _mm512_max_ps(x, acc);
                }
                // SAFETY: lanes pl + 16·v.. < pl + w ≤ tmp.len().
                unsafe { _mm512_mask_storeu_ps(tmp.as_mut_ptr().add(pl + 16 * v), m, acc) };
            }
            for b in 0..blocks {
                // SAFETY: reads tmp[32·b .. 32·b + 34] within tmp's 32·blocks + 2; writes the
                // masked outputs 16·b.. < ow of row oy.
                unsafe {
                    let r = tmp.as_ptr().add(32 * b);
                    let (a0, a1) = (_mm512_loadu_ps(r), _mm512_loadu_ps(r.add(16)));
                    let (c0, c1) = (_mm512_loadu_ps(r.add(2)), _mm512_loadu_ps(r.add(18)));
                    let t0 = _mm512_permutex2var_ps(a0, even, a1);
                    let t1 = _mm512_permutex2var_ps(a0, odd, a1);
                    let t2 = _mm512_permutex2var_ps(c0, even, c1);
                    let out = _mm512_max_ps(_mm512_max_ps(t0, t1), t2);
                    let dst = ys.as_mut_ptr().add(oy * ow + 16 * b);
                    _mm512_mask_storeu_ps(dst, mask(ow - 16 * b), out);
                }
            }
        }
    }

    #[inline(always)]
    fn max_plane_body(&self, xs: &[f32], ys: &mut [f32], tmp: &mut Vec<f32>) {
        let w = self.x[3];
        let (oh, ow) = (self.y[2], self.y[3]);
        // max(d, v), which keeps d when v is NaN (d is never NaN). `if v > d { v } else { d }`
        // compiles to a store only where v is larger: a masked store once vectorized for AVX2,
        // which is slow on AMD CPUs (4.6× slower with AVX-512 on Zen 4).
        let max = |d: &mut f32, v: f32| *d = d.max(v);
        // `tmp`: the oh rows down the columns, then one row split into stride phases.
        let (s, wq) = (self.strides[1], w.div_ceil(self.strides[1]));
        tmp.resize(oh * w + s * wq, f32::NEG_INFINITY);
        let (cols, ph) = tmp.split_at_mut(oh * w);
        for (oy, t) in cols.chunks_mut(w).enumerate() {
            // The first row inside the plane is copied, the others taken the max with; a window
            // with no row inside is all −∞.
            let mut first = true;
            for iy in self.rows_of(oy) {
                let row = &xs[iy * w..][..w];
                if first {
                    // NaN inputs stay skipped: max(−∞, v) as above.
                    for (d, &v) in t.iter_mut().zip(row) {
                        *d = f32::NEG_INFINITY.max(v);
                    }
                    first = false;
                    continue;
                }
                for (d, &v) in t.iter_mut().zip(row) {
                    max(d, v);
                }
            }
            if first {
                t.fill(f32::NEG_INFINITY);
            }
        }
        ys.fill(f32::NEG_INFINITY);
        // Along the rows: a strided row is first split into its stride phases (phase p holds
        // columns p, p + s, …), so that every tap reads one contiguous run (a strided walk per
        // tap was three quarters of resnet18's max pool).
        for (row, out) in cols.chunks(w).zip(ys.chunks_mut(ow)) {
            let row: &[f32] = match s {
                1 => row,
                2 => {
                    let (even, odd) = ph.split_at_mut(wq);
                    super::deinterleave2(row, even, odd);
                    ph
                }
                _ => {
                    for (i, &v) in row.iter().enumerate() {
                        ph[(i % s) * wq + i / s] = v;
                    }
                    ph
                }
            };
            for kx in 0..self.kernel[1] {
                let off = (kx * self.dilations[1]) as isize - self.pads[1] as isize;
                let (lo, hi) = super::conv::valid_columns(off, s, w, ow);
                if hi <= lo {
                    continue;
                }
                // Column lo·s + off: phase (that % s), position (that / s) in it.
                let start = ((lo * s) as isize + off) as usize;
                let src = match s {
                    1 => &row[start..],
                    _ => &row[(start % s) * wq + start / s..],
                };
                for (d, &v) in out[lo..hi].iter_mut().zip(src) {
                    max(d, v);
                }
            }
        }
    }

    /// The input rows inside the plane that output row `oy`'s windows span.
    #[inline(always)]
    fn rows_of(&self, oy: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.kernel[0]).filter_map(move |ky| {
            let iy =
                (oy * self.strides[0] + ky * self.dilations[0]) as isize - self.pads[0] as isize;
            (iy >= 0 && iy < self.x[2] as isize).then_some(iy as usize)
        })
    }

    /// Visits every output position of one plane: `f(output index in the plane, input indices
    /// in the plane inside the window, divisor for averaging)`.
    pub fn each_window(&self, mut f: impl FnMut(usize, &[u32], usize)) {
        for (o, (w, &n)) in self.ptr.windows(2).zip(&self.count).enumerate() {
            f(o, &self.idx[w[0] as usize..w[1] as usize], n as usize);
        }
    }

    /// Computes the windows (see [`Pool::each_window`]).
    fn windows(&self, mut f: impl FnMut(usize, &[usize], usize)) {
        let (h, w) = (self.x[2], self.x[3]);
        let (oh, ow) = (self.y[2], self.y[3]);
        let mut idx = Vec::with_capacity(self.kernel[0] * self.kernel[1]);
        for oy in 0..oh {
            for ox in 0..ow {
                idx.clear();
                let mut count = 0usize;
                for ky in 0..self.kernel[0] {
                    let iy = (oy * self.strides[0] + ky * self.dilations[0]) as isize
                        - self.pads[0] as isize;
                    for kx in 0..self.kernel[1] {
                        let ix = (ox * self.strides[1] + kx * self.dilations[1]) as isize
                            - self.pads[1] as isize;
                        let inside = iy >= 0 && (iy as usize) < h && ix >= 0 && (ix as usize) < w;
                        // Window positions in the padding count for count_include_pad, but not
                        // the part beyond the padding that ceil_mode adds.
                        let in_pad =
                            iy < (h + self.pads[2]) as isize && ix < (w + self.pads[3]) as isize;
                        if inside {
                            idx.push(iy as usize * w + ix as usize);
                            count += 1;
                        } else if self.count_include_pad && in_pad {
                            count += 1;
                        }
                    }
                }
                f(oy * ow + ox, &idx, count.max(1));
            }
        }
    }
}

/// Channels-last max pooling of output pixels `o0..` (`ys`: their `c` channels each) of one
/// sample `xs` (`[H·W][c]`), through the windows `ptr`/`idx` of [`Pool`].
#[inline(always)]
fn max_nhwc_body(xs: &[f32], ys: &mut [f32], c: usize, o0: usize, ptr: &[u32], idx: &[u32]) {
    for (p, yo) in ys.chunks_exact_mut(c).enumerate() {
        let o = o0 + p;
        yo.fill(f32::NEG_INFINITY);
        for &i in &idx[ptr[o] as usize..ptr[o + 1] as usize] {
            let xi = &xs[i as usize * c..][..c];
            // NaN is skipped, as `f32::max` does in the planar kernels.
            for (a, &b) in yo.iter_mut().zip(xi) {
                *a = if b > *a { b } else { *a };
            }
        }
    }
}

/// [`max_nhwc_body`] compiled for AVX-512 (16 channels per instruction).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn max_nhwc_avx512(xs: &[f32], ys: &mut [f32], c: usize, o0: usize, ptr: &[u32], idx: &[u32]) {
    max_nhwc_body(xs, ys, c, o0, ptr, idx)
}

impl Pool {
    /// Max pooling channels-last: one output row of one sample per task.
    fn run_nhwc(&self, x: &[f32]) -> Vec<f32> {
        let (c, hw) = (self.x[1], self.x[2] * self.x[3]);
        let (oh, ow) = (self.y[2], self.y[3]);
        let mut y = crate::buffers::take(self.x[0] * c * oh * ow);
        let avx512 = crate::sparse::Isa::detect() == crate::sparse::Isa::Avx512;
        let row = |i: usize, ys: &mut [f32]| {
            let (s, o0) = (i / oh.max(1), (i % oh.max(1)) * ow);
            let xs = &x[s * hw * c..][..hw * c];
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: AVX-512F is present (`Isa::detect`).
                unsafe { max_nhwc_avx512(xs, ys, c, o0, &self.ptr, &self.idx) };
                return;
            }
            max_nhwc_body(xs, ys, c, o0, &self.ptr, &self.idx);
        };
        let size = (ow * c).max(1);
        if self.threads > 1 {
            crate::pool::chunks_mut(&mut y, size, row);
        } else {
            y.chunks_mut(size)
                .enumerate()
                .for_each(|(i, ys)| row(i, ys));
        }
        y
    }
}

impl Kernel for Pool {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        if self.nhwc {
            return Ok(vec![Value::f32(self.y.clone(), self.run_nhwc(x))]);
        }
        let hw = self.x[2] * self.x[3];
        let out = self.y[2] * self.y[3];
        let planes = self.x[0] * self.x[1];
        // Each plane's pooling writes all of its outputs.
        let mut y = crate::buffers::take(planes * out);
        let one = |tmp: &mut Vec<f32>, (ys, xs): (&mut [f32], &[f32])| {
            if self.max {
                self.max_plane(xs, ys, tmp);
            } else {
                self.plane(xs, ys);
            }
        };
        if self.threads > 1 {
            // Groups of planes in parallel on the session's pool, a scratch row per group.
            let group = planes.div_ceil(4 * self.threads).max(1);
            crate::pool::chunks_mut(&mut y, group * out.max(1), |g, ys| {
                let mut tmp = Vec::new();
                for (i, ys) in ys.chunks_mut(out.max(1)).enumerate() {
                    let p = g * group + i;
                    one(&mut tmp, (ys, &x[p * hw..][..hw]));
                }
            });
        } else {
            // In order on the calling thread.
            let mut tmp = Vec::new();
            y.chunks_mut(out.max(1))
                .zip(x.chunks(hw.max(1)))
                .take(planes)
                .for_each(|p| one(&mut tmp, p));
        }
        Ok(vec![Value::f32(self.y.clone(), y)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_max_equals_the_window_gather() {
        // (h, w, kernel, strides, pads, dilations, output (oh, ow)); the last two windows reach
        // past the padding, as ceil_mode makes them.
        let cases = [
            (112, 112, [3, 3], [2, 2], [1, 1, 1, 1], [1, 1], (56, 56)),
            (9, 11, [2, 3], [1, 2], [0, 1, 0, 1], [1, 1], (8, 6)),
            (10, 10, [3, 3], [1, 1], [0, 0, 0, 0], [2, 2], (6, 6)),
            (7, 7, [3, 3], [2, 2], [0, 0, 0, 0], [1, 1], (4, 4)),
            (5, 6, [2, 2], [3, 3], [1, 0, 0, 0], [1, 1], (3, 2)),
            // Three columns at stride 2 (the AVX-512 path): widths below, between and past
            // whole vectors, left pads 0–2, windows past the right edge.
            (13, 37, [3, 3], [2, 2], [1, 1, 1, 1], [1, 1], (7, 19)),
            (8, 5, [2, 3], [1, 2], [0, 0, 0, 1], [1, 1], (7, 3)),
            (6, 33, [3, 3], [2, 2], [2, 2, 2, 2], [1, 1], (4, 18)),
            (9, 64, [1, 3], [3, 2], [0, 0, 0, 0], [1, 1], (3, 31)),
            (4, 70, [3, 3], [2, 2], [0, 1, 1, 1], [1, 1], (2, 36)),
        ];
        for (i, &(h, w, k, s, p, d, (oh, ow))) in cases.iter().enumerate() {
            let pool = Pool::new(
                vec![1, 2, h, w],
                vec![1, 2, oh, ow],
                k,
                s,
                p,
                d,
                true,
                false,
            );
            // With NaNs, which both skip.
            let x: Vec<f32> = (0..h * w)
                .map(|j| match (j * 7919 + i) % 1013 {
                    7 => f32::NAN,
                    v => v as f32 - 500.0,
                })
                .collect();
            let (mut a, mut b, mut tmp) = (vec![0f32; oh * ow], vec![1f32; oh * ow], Vec::new());
            pool.plane(&x, &mut a);
            pool.max_plane(&x, &mut b, &mut tmp);
            assert_eq!(a, b, "case {i}");
        }
    }
}
