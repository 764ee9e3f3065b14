//! `Conv` kernel: im2col + GEMM per group (1×1 stride-1 convolutions skip im2col), a direct
//! loop for depthwise convolutions; rayon over the batch.

use crate::gemm::{matmul, MatRef};
use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};
use rayon::prelude::*;

struct Conv {
    x: Vec<usize>,
    y: Vec<usize>,
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    group: usize,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    pads: Vec<usize>,
    dilations: Vec<usize>,
    threads: usize,
}

/// Lowers `Conv` (2-D; constant weight).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let x = c.in_shape(0)?;
    let y = c.out_shape(0)?;
    let ws = c.in_shape(1)?;
    if x.len() != 4 {
        return Err(c.unsupported(" (only 2-D convolutions)"));
    }
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
    let group = c.node.attr_int("group", 1)? as usize;
    let kernel = vec![ws[2], ws[3]];
    let get = |name: &str, n: usize, default: usize| -> Result<Vec<usize>> {
        Ok(c.node
            .attr_ints(name)?
            .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
            .unwrap_or_else(|| vec![default; n]))
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
    Ok(Box::new(Conv {
        x,
        y,
        w,
        bias,
        group,
        kernel,
        strides,
        pads,
        dilations,
        threads: c.threads,
    }))
}

/// Output columns `[lo, hi)` whose input column `ox·stride + off` lies in `0..w` (of `ow`).
fn valid_columns(off: isize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
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
    /// One sample: x [C, H, W] → y [M, OH, OW].
    fn sample(&self, x: &[f32], y: &mut [f32], threads: usize) {
        let (c, h, w) = (self.x[1], self.x[2], self.x[3]);
        let (m, oh, ow) = (self.y[1], self.y[2], self.y[3]);
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let (sh, sw) = (self.strides[0], self.strides[1]);
        let (dh, dw) = (self.dilations[0], self.dilations[1]);
        let (ph, pw) = (self.pads[0], self.pads[1]);
        let g = self.group;
        let (cg, mg) = (c / g, m / g);
        let kk = cg * kh * kw;
        let plane = oh * ow;
        if g > 1 && g == c && cg == 1 {
            // Depthwise: each output channel reads one input channel.
            let mult = m / c;
            let channel = |oc: usize, ys: &mut [f32]| {
                let ic = oc / mult;
                let xs = &x[ic * h * w..(ic + 1) * h * w];
                let ws = &self.w[oc * kh * kw..(oc + 1) * kh * kw];
                let b = self.bias.as_ref().map_or(0.0, |b| b[oc]);
                ys.fill(b);
                // Row by row: for each kernel tap, the valid output columns [lo, hi) read
                // input columns ox·sw + off; the inner loop is a (strided) axpy.
                for oy in 0..oh {
                    let yrow = &mut ys[oy * ow..(oy + 1) * ow];
                    for ky in 0..kh {
                        let iy = (oy * sh + ky * dh) as isize - ph as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let row = &xs[iy as usize * w..(iy as usize + 1) * w];
                        for kx in 0..kw {
                            let wv = ws[ky * kw + kx];
                            let off = (kx * dw) as isize - pw as isize;
                            let (lo, hi) = valid_columns(off, sw, w, ow);
                            if hi <= lo {
                                continue;
                            }
                            let start = ((lo * sw) as isize + off) as usize;
                            if sw == 1 {
                                for (yv, xv) in
                                    yrow[lo..hi].iter_mut().zip(&row[start..start + (hi - lo)])
                                {
                                    *yv += wv * xv;
                                }
                            } else {
                                for (yv, xv) in
                                    yrow[lo..hi].iter_mut().zip(row[start..].iter().step_by(sw))
                                {
                                    *yv += wv * xv;
                                }
                            }
                        }
                    }
                }
            };
            if threads > 1 {
                y.par_chunks_mut(plane)
                    .enumerate()
                    .for_each(|(oc, ys)| channel(oc, ys));
            } else {
                y.chunks_mut(plane)
                    .enumerate()
                    .for_each(|(oc, ys)| channel(oc, ys));
            }
            return;
        }
        let direct = kh == 1
            && kw == 1
            && sh == 1
            && sw == 1
            && ph == 0
            && pw == 0
            && self.pads[2] == 0
            && self.pads[3] == 0;
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
                // im2col: rows (ci, ky, kx) × columns (oy, ox); one block of kh·kw rows per
                // input channel, filled in parallel when threads > 1.
                let fill = |ci: usize, block: &mut [f32]| {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let row = &mut block[(ky * kw + kx) * plane..][..plane];
                            for oy in 0..oh {
                                let iy = (oy * sh + ky * dh) as isize - ph as isize;
                                let dst = &mut row[oy * ow..(oy + 1) * ow];
                                if iy < 0 || iy >= h as isize {
                                    dst.fill(0.0);
                                    continue;
                                }
                                let src = &xg[(ci * h + iy as usize) * w..][..w];
                                // Output columns whose input column ix = ox·sw + kx·dw − pw lies
                                // inside the row: [lo, hi); zeros elsewhere, a (strided) copy inside.
                                let off = (kx * dw) as isize - pw as isize;
                                let (lo, hi) = valid_columns(off, sw, w, ow);
                                dst[..lo].fill(0.0);
                                dst[hi..].fill(0.0);
                                let start = (lo * sw) as isize + off;
                                if hi > lo {
                                    let start = start as usize;
                                    if sw == 1 {
                                        dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                                    } else {
                                        for (d, s) in dst[lo..hi]
                                            .iter_mut()
                                            .zip(src[start..].iter().step_by(sw))
                                        {
                                            *d = *s;
                                        }
                                    }
                                }
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
                &cols
            };
            let wg = &self.w[gi * mg * kk..(gi + 1) * mg * kk];
            let yg = &mut y[gi * mg * plane..(gi + 1) * mg * plane];
            if let Some(b) = &self.bias {
                for (o, chunk) in yg.chunks_mut(plane).enumerate() {
                    chunk.fill(b[gi * mg + o]);
                }
            }
            matmul(
                MatRef::new(wg, mg, kk),
                MatRef::new(b_mat, kk, plane),
                yg,
                self.bias.is_some(),
                threads,
            );
        }
    }
}

impl Kernel for Conv {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let n = self.x[0];
        let (xs, ys) = (
            self.x[1..].iter().product::<usize>(),
            self.y[1..].iter().product::<usize>(),
        );
        let mut y = vec![0f32; n * ys];
        if n > 1 && self.threads > 1 {
            y.par_chunks_mut(ys)
                .zip(x.par_chunks(xs))
                .for_each(|(yo, xi)| self.sample(xi, yo, 1));
        } else {
            for (yo, xi) in y.chunks_mut(ys).zip(x.chunks(xs)) {
                self.sample(xi, yo, self.threads);
            }
        }
        Ok(vec![Value::f32(self.y.clone(), y)])
    }
}
