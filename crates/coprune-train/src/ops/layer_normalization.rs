//! `LayerNormalization` over the dims from `axis` on (opset 17): y = (x − μ)/σ · scale + bias per
//! row. Backward: dx = (1/σN)(N·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) with ĝ = dy·scale; dscale = Σ dy·x̂,
//! dbias = Σ dy over the rows.

use crate::kernel::{expand, input, needs, unsupported, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;

struct LayerNorm {
    eps: f32,
    /// Rows (dims before `axis`) and their length (dims from `axis` on).
    rows: usize,
    len: usize,
    /// The normalised dims (scale and bias broadcast to them).
    norm_shape: Vec<usize>,
}

/// Lowers `LayerNormalization` (the single-output form).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    if c.node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(unsupported(c, " (Mean/InvStdDev outputs)"));
    }
    let x = c.in_shape(0)?;
    let r = x.len() as i64;
    let axis = c.node.attr_int("axis", -1)?;
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&axis) {
        return Err(unsupported(c, &format!(" (axis {axis} for rank {r})")));
    }
    let axis = axis as usize;
    Ok(Box::new(LayerNorm {
        eps: c.node.attr_float("epsilon", 1e-5)?,
        rows: x[..axis].iter().product(),
        len: x[axis..].iter().product(),
        norm_shape: x[axis..].to_vec(),
    }))
}

impl LayerNorm {
    fn param(&self, b: Option<&Buf>) -> Option<Vec<f32>> {
        b.map(|b| expand(&b.data, &b.shape, &self.norm_shape))
    }

    /// Per row: (mean, 1/σ).
    fn stats(&self, x: &[f32]) -> Vec<(f32, f32)> {
        x.chunks(self.len.max(1))
            .map(|row| {
                let n = row.len().max(1) as f64;
                let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
                let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                (mean as f32, 1.0 / ((var as f32) + self.eps).sqrt())
            })
            .collect()
    }
}

impl GradKernel for LayerNorm {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let xb = input(x, 0)?;
        let scale = self.param(Some(input(x, 1)?)).unwrap_or_default();
        let bias = self.param(x.get(2).copied().flatten());
        let mut y = vec![0f32; xb.len()];
        for ((ys, xs), (m, inv)) in y
            .chunks_mut(self.len.max(1))
            .zip(xb.data.chunks(self.len.max(1)))
            .zip(self.stats(&xb.data))
        {
            for (j, (o, &v)) in ys.iter_mut().zip(xs).enumerate() {
                *o = (v - m) * inv * scale[j] + bias.as_ref().map_or(0.0, |b| b[j]);
            }
        }
        Ok(Forward::one(Buf::new(xb.shape.clone(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let xb = input(x, 0)?;
        let sb = input(x, 1)?;
        let scale = self.param(Some(sb)).unwrap_or_default();
        let n = self.len;
        let g = &dy[0].data;
        let stats = self.stats(&xb.data);
        let mut dscale = vec![0f32; n];
        let mut dbias = vec![0f32; n];
        let mut dx = vec![0f32; if needs(need, 0) { xb.len() } else { 0 }];
        for (r, &(m, inv)) in stats.iter().enumerate().take(self.rows) {
            let xs = &xb.data[r * n..(r + 1) * n];
            let gs = &g[r * n..(r + 1) * n];
            let (mut sum_g, mut sum_gx) = (0f32, 0f32);
            for j in 0..n {
                let xh = (xs[j] - m) * inv;
                dscale[j] += gs[j] * xh;
                dbias[j] += gs[j];
                let gh = gs[j] * scale[j];
                sum_g += gh;
                sum_gx += gh * xh;
            }
            if !dx.is_empty() {
                for j in 0..n {
                    let xh = (xs[j] - m) * inv;
                    let gh = gs[j] * scale[j];
                    dx[r * n + j] = inv / n as f32 * (n as f32 * gh - sum_g - xh * sum_gx);
                }
            }
        }
        let mut out = vec![None; x.len()];
        if needs(need, 0) {
            out[0] = Some(Buf::new(xb.shape.clone(), dx));
        }
        // Scale and bias gradients, summed back to their (possibly broadcast) shapes.
        if needs(need, 1) {
            out[1] = Some(Buf::new(
                sb.shape.clone(),
                crate::kernel::unbroadcast(&dscale, &self.norm_shape, &sb.shape),
            ));
        }
        if needs(need, 2) {
            if let Some(b) = x.get(2).copied().flatten() {
                out[2] = Some(Buf::new(
                    b.shape.clone(),
                    crate::kernel::unbroadcast(&dbias, &self.norm_shape, &b.shape),
                ));
            }
        }
        Ok(out)
    }
}
