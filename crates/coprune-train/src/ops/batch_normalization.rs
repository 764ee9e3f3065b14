//! `BatchNormalization` over axis 1. Training mode normalises by the batch statistics and
//! returns new running statistics (mean·m + batch·(1 − m), ONNX's momentum convention; the
//! running variance takes the unbiased batch variance, as PyTorch does); evaluation mode uses
//! the running statistics. Backward is that of training mode.

use crate::kernel::{input, needs, unsupported, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;
use rayon::prelude::*;

struct BatchNorm {
    eps: f32,
    momentum: f32,
}

/// Lowers `BatchNormalization` (the single-output form).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    if c.node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(unsupported(c, " (running statistics as outputs)"));
    }
    if c.in_shape(0)?.len() < 2 {
        return Err(unsupported(c, " (input of rank < 2)"));
    }
    Ok(Box::new(BatchNorm {
        eps: c.node.attr_float("epsilon", 1e-5)?,
        momentum: c.node.attr_float("momentum", 0.9)?,
    }))
}

/// (N, C, spatial size) of an input.
fn dims(x: &Buf) -> (usize, usize, usize) {
    let (n, c) = (x.shape[0], x.shape[1]);
    (n, c, x.shape[2..].iter().product())
}

/// Per-channel mean and biased variance of x.
fn stats(x: &Buf) -> (Vec<f32>, Vec<f32>) {
    let (n, c, s) = dims(x);
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mut sum, mut sq) = (0f64, 0f64);
            for i in 0..n {
                for &v in &x.data[(i * c + ch) * s..(i * c + ch + 1) * s] {
                    sum += v as f64;
                    sq += (v as f64) * (v as f64);
                }
            }
            let cnt = (n * s).max(1) as f64;
            let mean = sum / cnt;
            (mean as f32, (sq / cnt - mean * mean).max(0.0) as f32)
        })
        .unzip()
}

impl GradKernel for BatchNorm {
    fn forward(&self, x: &[Option<&Buf>], train: bool) -> Result<Forward> {
        let xb = input(x, 0)?;
        let (scale, bias, rm, rv) = (input(x, 1)?, input(x, 2)?, input(x, 3)?, input(x, 4)?);
        let (n, c, s) = dims(xb);
        let (mean, var) = if train {
            stats(xb)
        } else {
            (rm.data.clone(), rv.data.clone())
        };
        let mut y = vec![0f32; xb.len()];
        y.par_chunks_mut(s.max(1))
            .zip(xb.data.par_chunks(s.max(1)))
            .enumerate()
            .for_each(|(p, (ys, xs))| {
                let ch = p % c;
                let k = scale.data[ch] / (var[ch] + self.eps).sqrt();
                let b = bias.data[ch] - mean[ch] * k;
                for (o, &v) in ys.iter_mut().zip(xs) {
                    *o = v * k + b;
                }
            });
        let mut f = Forward::one(Buf::new(xb.shape.clone(), y));
        if train {
            let cnt = (n * s) as f32;
            let unbiased = if cnt > 1.0 { cnt / (cnt - 1.0) } else { 1.0 };
            let m = self.momentum;
            let new_mean = rm
                .data
                .iter()
                .zip(&mean)
                .map(|(&r, &b)| r * m + b * (1.0 - m));
            let new_var = rv
                .data
                .iter()
                .zip(&var)
                .map(|(&r, &b)| r * m + b * unbiased * (1.0 - m));
            f.state = vec![
                (3, Buf::new(rm.shape.clone(), new_mean.collect())),
                (4, Buf::new(rv.shape.clone(), new_var.collect())),
            ];
        }
        Ok(f)
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let xb = input(x, 0)?;
        let scale = input(x, 1)?;
        let (n, c, s) = dims(xb);
        let (mean, var) = stats(xb);
        let g = &dy[0].data;
        let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        // Per channel: Σ dy and Σ dy·x̂.
        let (sum_dy, sum_dyx): (Vec<f32>, Vec<f32>) = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mut a, mut b) = (0f64, 0f64);
                for i in 0..n {
                    let r = (i * c + ch) * s..(i * c + ch + 1) * s;
                    for (&d, &v) in g[r.clone()].iter().zip(&xb.data[r]) {
                        a += d as f64;
                        b += (d * (v - mean[ch]) * inv[ch]) as f64;
                    }
                }
                (a as f32, b as f32)
            })
            .unzip();
        let mut out = vec![None; x.len()];
        if needs(need, 0) {
            let cnt = (n * s) as f32;
            let mut dx = vec![0f32; xb.len()];
            dx.par_chunks_mut(s.max(1)).enumerate().for_each(|(p, d)| {
                let ch = p % c;
                let k = scale.data[ch] * inv[ch] / cnt;
                let base = p * s;
                for (j, o) in d.iter_mut().enumerate() {
                    let xh = (xb.data[base + j] - mean[ch]) * inv[ch];
                    *o = k * (cnt * g[base + j] - sum_dy[ch] - xh * sum_dyx[ch]);
                }
            });
            out[0] = Some(Buf::new(xb.shape.clone(), dx));
        }
        if needs(need, 1) {
            out[1] = Some(Buf::new(vec![c], sum_dyx));
        }
        if needs(need, 2) {
            out[2] = Some(Buf::new(vec![c], sum_dy));
        }
        Ok(out)
    }
}
