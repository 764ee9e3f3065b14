//! `Conv` (2-D, any group): im2col + GEMM per sample and group, shared with the runtime's
//! geometry. Backward: dW += dY·colsᵀ (im2col recomputed, per-thread partial sums), dcols =
//! Wᵀ·dY scattered back by col2im, db = Σ dY. Rayon over the samples of the batch.

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::gemm::{matmul, MatRef};
use coprune_runtime::ops::conv::ConvGeom;
use coprune_runtime::LowerCtx;
use rayon::prelude::*;

struct Conv {
    g: ConvGeom,
}

/// Samples per partial weight gradient (a fixed split keeps the sum order fixed).
const SAMPLES_PER_PARTIAL: usize = 8;

/// Lowers `Conv`; weight and bias may be parameters (inputs at run time).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Box::new(Conv {
        g: ConvGeom::from_ctx(c)?,
    }))
}

impl Conv {
    fn sizes(&self) -> (usize, usize, usize) {
        let g = &self.g;
        (g.x[0], g.x[1..].iter().product(), g.y[1..].iter().product())
    }

    /// One group's im2col matrix of one sample, or the input itself for 1×1 convolutions.
    fn cols<'a>(&self, xg: &'a [f32], buf: &'a mut Vec<f32>) -> &'a [f32] {
        if self.g.direct() {
            xg
        } else {
            buf.resize(self.g.kk() * self.g.plane(), 0.0);
            self.g.im2col(xg, buf, 1);
            buf
        }
    }
}

impl GradKernel for Conv {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let (xb, w) = (input(x, 0)?, input(x, 1)?);
        let bias = x.get(2).copied().flatten();
        let g = &self.g;
        let (n, xs, ys) = self.sizes();
        let (cg, mg, kk, plane) = (g.cg(), g.mg(), g.kk(), g.plane());
        let hw = g.x[2] * g.x[3];
        let mut y = vec![0f32; n * ys];
        y.par_chunks_mut(ys)
            .zip(xb.data.par_chunks(xs))
            .for_each_init(Vec::new, |buf, (yo, xi)| {
                for gi in 0..g.group {
                    let cols = self.cols(&xi[gi * cg * hw..(gi + 1) * cg * hw], buf);
                    let yg = &mut yo[gi * mg * plane..(gi + 1) * mg * plane];
                    if let Some(b) = bias {
                        for (o, row) in yg.chunks_mut(plane).enumerate() {
                            row.fill(b.data[gi * mg + o]);
                        }
                    }
                    matmul(
                        MatRef::new(&w.data[gi * mg * kk..(gi + 1) * mg * kk], mg, kk),
                        MatRef::new(cols, kk, plane),
                        yg,
                        bias.is_some(),
                        1,
                    );
                }
            });
        Ok(Forward::one(Buf::new(g.y.clone(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let (xb, w) = (input(x, 0)?, input(x, 1)?);
        let g = &self.g;
        let (n, xs, ys) = self.sizes();
        let (cg, mg, kk, plane) = (g.cg(), g.mg(), g.kk(), g.plane());
        let hw = g.x[2] * g.x[3];
        let dy = &dy[0].data;
        let (need_x, need_w, need_b) = (needs(need, 0), needs(need, 1), needs(need, 2));
        let mut out: Vec<Option<Buf>> = vec![None; x.len()];
        // Input gradient: per sample, independent.
        if need_x {
            let mut dx = vec![0f32; n * xs];
            dx.par_chunks_mut(xs).zip(dy.par_chunks(ys)).for_each_init(
                Vec::new,
                |dcols, (dxi, dyi)| {
                    dcols.resize(kk * plane, 0.0);
                    for gi in 0..g.group {
                        let dxg = &mut dxi[gi * cg * hw..(gi + 1) * cg * hw];
                        let wg = MatRef::new(&w.data[gi * mg * kk..(gi + 1) * mg * kk], mg, kk);
                        let dyg =
                            MatRef::new(&dyi[gi * mg * plane..(gi + 1) * mg * plane], mg, plane);
                        if g.direct() {
                            matmul(wg.t(), dyg, dxg, false, 1);
                        } else {
                            matmul(wg.t(), dyg, dcols, false, 1);
                            g.col2im(dcols, dxg, 1);
                        }
                    }
                },
            );
            out[0] = Some(Buf::new(xb.shape.clone(), dx));
        }
        if need_w || need_b {
            let wlen = w.len();
            let m = g.y[1];
            // Partial sums of dW and db over fixed chunks of samples, added in order: the result
            // does not depend on how rayon schedules the chunks (same inputs, same bytes).
            let partials: Vec<(Vec<f32>, Vec<f32>)> = xb
                .data
                .par_chunks(xs * SAMPLES_PER_PARTIAL)
                .zip(dy.par_chunks(ys * SAMPLES_PER_PARTIAL))
                .map(|(xc, dyc)| {
                    let (mut dw, mut db, mut buf) = (vec![0f32; wlen], vec![0f32; m], Vec::new());
                    for (xi, dyi) in xc.chunks(xs).zip(dyc.chunks(ys)) {
                        if need_b {
                            for (o, row) in dyi.chunks(plane).enumerate() {
                                db[o] += row.iter().sum::<f32>();
                            }
                        }
                        if need_w {
                            for gi in 0..g.group {
                                let cols =
                                    self.cols(&xi[gi * cg * hw..(gi + 1) * cg * hw], &mut buf);
                                matmul(
                                    MatRef::new(
                                        &dyi[gi * mg * plane..(gi + 1) * mg * plane],
                                        mg,
                                        plane,
                                    ),
                                    MatRef::new(cols, kk, plane).t(),
                                    &mut dw[gi * mg * kk..(gi + 1) * mg * kk],
                                    true,
                                    1,
                                );
                            }
                        }
                    }
                    (dw, db)
                })
                .collect();
            let (mut dw, mut db) = (vec![0f32; wlen], vec![0f32; m]);
            for (pw, pb) in &partials {
                dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
                db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
            }
            if need_w {
                out[1] = Some(Buf::new(w.shape.clone(), dw));
            }
            if need_b && out.len() > 2 {
                out[2] = Some(Buf::new(vec![m], db));
            }
        }
        Ok(out)
    }
}
