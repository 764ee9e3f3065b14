//! `Conv` kernel: im2col + GEMM per group (1×1 stride-1 convolutions skip im2col), a direct
//! loop for depthwise convolutions; rayon over the batch.

use crate::gemm::{matmul, MatRef};
use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::sparse::{self, SparseChoice, SparseWeights};
use crate::{Result, Value};
use rayon::prelude::*;

/// The geometry of a 2-D convolution: shapes, groups, kernel, strides, pads, dilations. Shared
/// with the trainer (coprune-train), which runs the same im2col for forward and backward passes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGeom {
    /// Input shape [N, C, H, W].
    pub x: Vec<usize>,
    /// Output shape [N, M, OH, OW].
    pub y: Vec<usize>,
    pub group: usize,
    /// [kh, kw].
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    /// [top, left, bottom, right].
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
}

impl ConvGeom {
    /// Reads the geometry of a `Conv` node (2-D only).
    pub fn from_ctx(c: &LowerCtx) -> Result<ConvGeom> {
        let x = c.in_shape(0)?;
        let y = c.out_shape(0)?;
        let ws = c.in_shape(1)?;
        if x.len() != 4 || ws.len() != 4 {
            return Err(c.unsupported(" (only 2-D convolutions)"));
        }
        let group = c.node.attr_int("group", 1)?.max(1) as usize;
        let kernel = vec![ws[2], ws[3]];
        let get = |name: &str, n: usize, default: usize| -> Result<Vec<usize>> {
            let v: Vec<usize> = c
                .node
                .attr_ints(name)?
                .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
                .unwrap_or_else(|| vec![default; n]);
            if v.len() != n {
                return Err(
                    c.unsupported(&format!(" ({name} has {} values, expected {n})", v.len()))
                );
            }
            Ok(v)
        };
        let strides = get("strides", 2, 1)?;
        let dilations = get("dilations", 2, 1)?;
        let auto_pad = c.node.attr_str("auto_pad", "NOTSET")?;
        let pads = match auto_pad.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut p = vec![0; 4];
                for i in 0..2 {
                    let total = ((y[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1)
                        .saturating_sub(x[2 + i]);
                    let (small, big) = (total / 2, total - total / 2);
                    (p[i], p[2 + i]) = if auto_pad == "SAME_UPPER" {
                        (small, big)
                    } else {
                        (big, small)
                    };
                }
                p
            }
            _ => get("pads", 4, 0)?,
        };
        if x[1] % group != 0 || y[1] % group != 0 || ws[1] * group != x[1] {
            return Err(c.unsupported(&format!(
                " (weight {ws:?} does not fit input {x:?} with group {group})"
            )));
        }
        Ok(ConvGeom {
            x,
            y,
            group,
            kernel,
            strides,
            pads,
            dilations,
        })
    }

    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.x[1] / self.group
    }

    /// Output channels per group.
    pub fn mg(&self) -> usize {
        self.y[1] / self.group
    }

    /// Rows of one group's im2col matrix: cg·kh·kw.
    pub fn kk(&self) -> usize {
        self.cg() * self.kernel[0] * self.kernel[1]
    }

    /// Output pixels per channel: oh·ow.
    pub fn plane(&self) -> usize {
        self.y[2] * self.y[3]
    }

    /// Whether this is a depthwise convolution (one input channel per group).
    pub fn depthwise(&self) -> bool {
        self.group > 1 && self.group == self.x[1]
    }

    /// Whether im2col is the identity (1×1, stride 1, no padding).
    pub fn direct(&self) -> bool {
        self.kernel == [1, 1] && self.strides == [1, 1] && self.pads.iter().all(|&p| p == 0)
    }

    /// im2col of one group of one sample: `xg` is [cg, H, W]; `cols` (kk × plane, rows
    /// (ci, ky, kx), columns (oy, ox)) is overwritten, zeros where the window is in the padding.
    pub fn im2col(&self, xg: &[f32], cols: &mut [f32], threads: usize) {
        self.for_each_tap(cols, threads, |dst, src_row, lo, hi, start, sw| {
            dst[..lo].fill(0.0);
            dst[hi..].fill(0.0);
            let Some(src) = src_row.map(|r| &xg[r..]) else {
                dst.fill(0.0);
                return;
            };
            if sw == 1 {
                dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
            } else {
                for (d, s) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(sw)) {
                    *d = *s;
                }
            }
        });
    }

    /// The adjoint of [`ConvGeom::im2col`]: adds every column entry back into `dxg` ([cg, H, W]).
    /// Parallel over input channels (each channel's block writes only its own plane).
    pub fn col2im(&self, cols: &[f32], dxg: &mut [f32], threads: usize) {
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let hw = self.x[2] * self.x[3];
        let block = kh * kw * self.plane();
        let one = |ci: usize, plane: &mut [f32]| {
            self.taps(
                &cols[ci * block..(ci + 1) * block],
                |src, row, lo, hi, start, sw| {
                    let dst = &mut plane[row..];
                    if sw == 1 {
                        for (d, s) in dst[start..start + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[start..].iter_mut().step_by(sw).zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    }
                },
            );
        };
        if threads > 1 {
            dxg.par_chunks_mut(hw)
                .enumerate()
                .for_each(|(ci, p)| one(ci, p));
        } else {
            dxg.chunks_mut(hw)
                .enumerate()
                .for_each(|(ci, p)| one(ci, p));
        }
    }

    /// Visits each output row of each kernel tap of channel `ci` in an im2col block (read-only):
    /// `f(row_of_block, input_row_offset, lo, hi, start, stride)` for rows inside the image.
    fn taps(&self, block: &[f32], mut f: impl FnMut(&[f32], usize, usize, usize, usize, usize)) {
        let (h, w) = (self.x[2], self.x[3]);
        let (oh, ow) = (self.y[2], self.y[3]);
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let (sh, sw) = (self.strides[0], self.strides[1]);
        let (dh, dw) = (self.dilations[0], self.dilations[1]);
        let (ph, pw) = (self.pads[0], self.pads[1]);
        let plane = oh * ow;
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = &block[(ky * kw + kx) * plane..][..plane];
                let off = (kx * dw) as isize - pw as isize;
                let (lo, hi) = valid_columns(off, sw, w, ow);
                if hi <= lo {
                    continue;
                }
                let start = ((lo * sw) as isize + off) as usize;
                for oy in 0..oh {
                    let iy = (oy * sh + ky * dh) as isize - ph as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    f(
                        &tap[oy * ow..(oy + 1) * ow],
                        iy as usize * w,
                        lo,
                        hi,
                        start,
                        sw,
                    );
                }
            }
        }
    }

    /// Fills an im2col matrix row by row: `f(dst_row, Some(offset of the input row in the
    /// group) | None (row in the padding), lo, hi, start, stride)`; parallel over input channels.
    fn for_each_tap(
        &self,
        cols: &mut [f32],
        threads: usize,
        f: impl Fn(&mut [f32], Option<usize>, usize, usize, usize, usize) + Sync,
    ) {
        let (h, w) = (self.x[2], self.x[3]);
        let (oh, ow) = (self.y[2], self.y[3]);
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let (sh, sw) = (self.strides[0], self.strides[1]);
        let (dh, dw) = (self.dilations[0], self.dilations[1]);
        let (ph, pw) = (self.pads[0], self.pads[1]);
        let plane = oh * ow;
        let fill = |ci: usize, block: &mut [f32]| {
            for ky in 0..kh {
                for kx in 0..kw {
                    let row = &mut block[(ky * kw + kx) * plane..][..plane];
                    // Output columns whose input column ix = ox·sw + kx·dw − pw lies inside the
                    // row: [lo, hi); zeros elsewhere, a (strided) copy inside.
                    let off = (kx * dw) as isize - pw as isize;
                    let (lo, hi) = valid_columns(off, sw, w, ow);
                    let start = ((lo * sw) as isize + off).max(0) as usize;
                    for oy in 0..oh {
                        let iy = (oy * sh + ky * dh) as isize - ph as isize;
                        let dst = &mut row[oy * ow..(oy + 1) * ow];
                        let src = (iy >= 0 && iy < h as isize && hi > lo)
                            .then(|| (ci * h + iy as usize) * w);
                        f(dst, src, lo, hi, start, sw);
                    }
                }
            }
        };
        let block_len = kh * kw * plane;
        if threads > 1 {
            cols.par_chunks_mut(block_len)
                .enumerate()
                .for_each(|(ci, b)| fill(ci, b));
        } else {
            cols.chunks_mut(block_len)
                .enumerate()
                .for_each(|(ci, b)| fill(ci, b));
        }
    }
}

struct Conv {
    geom: ConvGeom,
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    threads: usize,
    /// The weight of each group compressed, when it has enough zeros (see `sparse`).
    sparse: Option<Vec<SparseWeights>>,
    choice: Option<SparseChoice>,
    /// A Relu/Clip fused into the output.
    post: Option<crate::kernel::Post>,
}

/// Lowers `Conv` (2-D; constant weight).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let geom = ConvGeom::from_ctx(c)?;
    let w = c
        .const_f32(1)
        .ok_or_else(|| c.unsupported(" (weight computed at run time)"))?;
    let bias = match c.inputs.get(2).copied().flatten() {
        None => None,
        Some(_) => Some(
            c.const_f32(2)
                .ok_or_else(|| c.unsupported(" (bias computed at run time)"))?,
        ),
    };
    let mut conv = Conv {
        geom,
        w,
        bias,
        threads: c.threads,
        sparse: None,
        choice: None,
        post: c.post,
    };
    let density = sparse::density(&conv.w);
    if density < 1.0 && !conv.geom.depthwise() {
        conv.choice = Some(SparseChoice {
            density,
            format: None,
            timed_ms: None,
        });
        if sparse::candidate(c.sparse, density) {
            let gm = &conv.geom;
            let (mg, kk) = (gm.mg(), gm.kk());
            let wide = conv.wide();
            let groups: Vec<SparseWeights> = conv
                .w
                .chunks(mg * kk)
                .map(|wg| match wide {
                    // Direct: column (ci, ky, kx) reads the padded input at that tap's shift.
                    Some((hp, wp)) => {
                        let (kh, kw) = (gm.kernel[0], gm.kernel[1]);
                        SparseWeights::from_dense_at(wg, mg, kk, &|col| {
                            let (ci, t) = (col / (kh * kw), col % (kh * kw));
                            (ci * hp * wp + (t / kw) * wp + t % kw) as u32
                        })
                    }
                    None => SparseWeights::from_dense(wg, mg, kk, gm.plane()),
                })
                .collect();
            let format = groups[0].format();
            conv.sparse = Some(groups);
            let x = sparse::probe_input(gm.x[1..].iter().product());
            let mut y = vec![0f32; gm.y[1..].iter().product()];
            let choice = sparse::settle(c.sparse, density, format, |on| {
                conv.sample(&x, &mut y, conv.threads, on)
            });
            if choice.format.is_none() {
                conv.sparse = None;
            }
            conv.choice = Some(choice);
        }
    }
    Ok(Box::new(conv))
}

/// Output columns `[lo, hi)` whose input column `ox·stride + off` lies in `0..w` (of `ow`).
pub fn valid_columns(off: isize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
    let lo = if off >= 0 {
        0
    } else {
        ((-off) as usize).div_ceil(stride)
    }
    .min(ow);
    let hi = if (w as isize) <= off {
        0
    } else {
        ((w as isize - off) as usize).div_ceil(stride)
    };
    (lo, hi.clamp(lo, ow))
}

impl Conv {
    /// For stride-1, dilation-1 convolutions the sparse path skips im2col: it reads a padded
    /// copy of the input [cg, hp, wp] directly and computes output rows `wp` wide (the last
    /// kw − 1 columns of each are dropped). Returns (hp, wp) when this applies.
    fn wide(&self) -> Option<(usize, usize)> {
        let gm = &self.geom;
        (gm.strides == [1, 1] && gm.dilations == [1, 1]).then(|| {
            (
                gm.x[2] + gm.pads[0] + gm.pads[2],
                gm.x[3] + gm.pads[1] + gm.pads[3],
            )
        })
    }

    /// The sparse direct convolution of one group (see [`Conv::wide`]): xg [cg, H, W] →
    /// yg [mg, OH, OW].
    fn sparse_direct(
        &self,
        sw: &SparseWeights,
        gi: usize,
        (hp, wp): (usize, usize),
        xg: &[f32],
        yg: &mut [f32],
        threads: usize,
    ) {
        let gm = &self.geom;
        let (h, w) = (gm.x[2], gm.x[3]);
        let (oh, ow) = (gm.y[2], gm.y[3]);
        let (mg, cg) = (gm.mg(), gm.cg());
        let (top, left) = (gm.pads[0], gm.pads[1]);
        // Padded input, plus kw − 1 zeros so the last tap of the last wide row stays inside.
        let mut xp = vec![0f32; cg * hp * wp + gm.kernel[1] - 1];
        for ci in 0..cg {
            for iy in 0..h {
                let dst = ci * hp * wp + (iy + top) * wp + left;
                xp[dst..dst + w].copy_from_slice(&xg[(ci * h + iy) * w..][..w]);
            }
        }
        let n = oh * wp;
        let mut yw = vec![0f32; mg * n];
        if let Some(b) = &self.bias {
            for (o, row) in yw.chunks_mut(n).enumerate() {
                row.fill(b[gi * mg + o]);
            }
        }
        sw.matmul(&xp, n, &mut yw, self.bias.is_some(), threads);
        for (o, row) in yw.chunks(n).enumerate() {
            for oy in 0..oh {
                yg[(o * oh + oy) * ow..][..ow].copy_from_slice(&row[oy * wp..][..ow]);
            }
        }
    }

    /// One sample: x [C, H, W] → y [M, OH, OW].
    fn sample(&self, x: &[f32], y: &mut [f32], threads: usize, use_sparse: bool) {
        let gm = &self.geom;
        let (c, h, w) = (gm.x[1], gm.x[2], gm.x[3]);
        let (m, oh, ow) = (gm.y[1], gm.y[2], gm.y[3]);
        let (kh, kw) = (gm.kernel[0], gm.kernel[1]);
        let (sh, sw) = (gm.strides[0], gm.strides[1]);
        let (dh, dw) = (gm.dilations[0], gm.dilations[1]);
        let (ph, pw) = (gm.pads[0], gm.pads[1]);
        let g = gm.group;
        let (cg, mg) = (gm.cg(), gm.mg());
        let kk = gm.kk();
        let plane = gm.plane();
        if gm.depthwise() {
            // Depthwise: each output channel reads one input channel (ops/depthwise.rs).
            let mult = m / c;
            let dg = super::depthwise::DwGeom {
                h,
                w,
                oh,
                ow,
                kh,
                kw,
                sh,
                sw,
                dh,
                dw,
                ph,
                pw,
            };
            let isa = crate::sparse::Isa::detect();
            let lanes = super::depthwise::LANES;
            let run = |b: usize, ys: &mut [f32], scratch: &mut Vec<f32>| {
                super::depthwise::block(
                    isa,
                    &dg,
                    x,
                    &self.w,
                    self.bias.as_deref(),
                    mult,
                    b * lanes,
                    ys,
                    scratch,
                );
            };
            let scratch = || vec![0f32; dg.scratch_len()];
            if threads > 1 {
                y.par_chunks_mut(lanes * plane)
                    .enumerate()
                    .for_each_init(scratch, |scr, (b, ys)| run(b, ys, scr));
            } else {
                let mut scr = scratch();
                y.chunks_mut(lanes * plane)
                    .enumerate()
                    .for_each(|(b, ys)| run(b, ys, &mut scr));
            }
            return;
        }
        let sparse = self.sparse.as_ref().filter(|_| use_sparse);
        if let (Some(sw), Some(wide)) = (sparse, self.wide()) {
            for gi in 0..g {
                let xg = &x[gi * cg * h * w..(gi + 1) * cg * h * w];
                let yg = &mut y[gi * mg * plane..(gi + 1) * mg * plane];
                self.sparse_direct(&sw[gi], gi, wide, xg, yg, threads);
            }
            return;
        }
        let direct = gm.direct();
        let mut cols = if direct {
            Vec::new()
        } else {
            vec![0f32; kk * plane]
        };
        for gi in 0..g {
            let xg = &x[gi * cg * h * w..(gi + 1) * cg * h * w];
            let b_mat: &[f32] = if direct {
                xg
            } else {
                gm.im2col(xg, &mut cols, threads);
                &cols
            };
            let wg = &self.w[gi * mg * kk..(gi + 1) * mg * kk];
            let yg = &mut y[gi * mg * plane..(gi + 1) * mg * plane];
            if let Some(b) = &self.bias {
                for (o, chunk) in yg.chunks_mut(plane).enumerate() {
                    chunk.fill(b[gi * mg + o]);
                }
            }
            match sparse {
                Some(sw) => sw[gi].matmul(b_mat, plane, yg, self.bias.is_some(), threads),
                None => matmul(
                    MatRef::new(wg, mg, kk),
                    MatRef::new(b_mat, kk, plane),
                    yg,
                    self.bias.is_some(),
                    threads,
                ),
            }
        }
    }
}

impl Kernel for Conv {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let gm = &self.geom;
        let n = gm.x[0];
        let (xs, ys) = (
            gm.x[1..].iter().product::<usize>(),
            gm.y[1..].iter().product::<usize>(),
        );
        let mut y = vec![0f32; n * ys];
        let post = |yo: &mut [f32]| {
            if let Some(p) = &self.post {
                p.apply(yo);
            }
        };
        if n > 1 && self.threads > 1 {
            y.par_chunks_mut(ys)
                .zip(x.par_chunks(xs))
                .for_each(|(yo, xi)| {
                    self.sample(xi, yo, 1, true);
                    post(yo);
                });
        } else {
            for (yo, xi) in y.chunks_mut(ys).zip(x.chunks(xs)) {
                self.sample(xi, yo, self.threads, true);
                post(yo);
            }
        }
        Ok(vec![Value::f32(gm.y.clone(), y)])
    }

    fn sparse(&self) -> Option<&SparseChoice> {
        self.choice.as_ref()
    }
}
