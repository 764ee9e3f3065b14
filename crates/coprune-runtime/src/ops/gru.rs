//! `GRU` kernel (ONNX semantics: gates z, r, h; `linear_before_reset` either way; optional bias,
//! sequence lengths and initial state; any direction and layout).

use super::recurrent::{Inputs, Recurrent};
use crate::gemm::{matmul, MatRef};
use crate::kernel::{Kernel, LowerCtx};
use crate::{Result, Value};

struct Gru {
    r: Recurrent,
    linear_before_reset: bool,
    threads: usize,
}

/// Lowers `GRU`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(Gru {
        r: Recurrent::lower(c, 3, &["Sigmoid", "Tanh"])?,
        linear_before_reset: c.node.attr_int("linear_before_reset", 0)? != 0,
        threads: c.threads,
    }))
}

impl Kernel for Gru {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let r = &self.r;
        let (hd, bt) = (r.hidden, r.batch);
        let Inputs {
            x,
            w,
            r: rw,
            bias,
            lens,
            h: mut h_all,
        } = r.inputs(inputs)?;
        let mut y = vec![0.0f32; r.seq * r.dirs * bt * hd];
        let mut rec = vec![0.0f32; bt * 3 * hd];
        let mut rh = vec![0.0f32; bt * hd];
        let mut reset_h = vec![0.0f32; bt * hd];
        for d in 0..r.dirs {
            let (wb, rb) = r.biases(bias, d);
            let xp = r.project(&x, w, wb, d, self.threads);
            let (f, g) = (r.acts[d][0], r.acts[d][1]);
            let r_h = &rw[(d * 3 + 2) * hd * hd..(d * 3 + 3) * hd * hd];
            let h = &mut h_all[d * bt * hd..(d + 1) * bt * hd];
            for s in 0..r.seq {
                r.recur(h, rw, rb, d, &mut rec);
                let active = |b: usize| s < lens[b];
                let time = |b: usize| if r.reverse[d] { lens[b] - 1 - s } else { s };
                // Gates z and r for every active row.
                let mut zr = vec![(0.0f32, 0.0f32); bt * hd];
                for b in (0..bt).filter(|&b| active(b)) {
                    let t = time(b);
                    let xr = &xp[(t * bt + b) * 3 * hd..(t * bt + b + 1) * 3 * hd];
                    for j in 0..hd {
                        let hr = &rec[b * 3 * hd..];
                        let z = f.f(r.clip(xr[j] + hr[j]));
                        let rr = f.f(r.clip(xr[hd + j] + hr[hd + j]));
                        zr[b * hd + j] = (z, rr);
                    }
                }
                if !self.linear_before_reset {
                    // (r ⊙ H)·Rhᵀ + Rbh.
                    for (k, v) in reset_h.iter_mut().enumerate() {
                        *v = zr[k].1 * h[k];
                    }
                    for b in 0..bt {
                        let row = &mut rh[b * hd..(b + 1) * hd];
                        match rb {
                            Some(rb) => row.copy_from_slice(&rb[2 * hd..3 * hd]),
                            None => row.fill(0.0),
                        }
                    }
                    matmul(
                        MatRef::new(&reset_h, bt, hd),
                        MatRef::new(r_h, hd, hd).t(),
                        &mut rh,
                        true,
                        1,
                    );
                }
                for b in (0..bt).filter(|&b| active(b)) {
                    let t = time(b);
                    let xr = &xp[(t * bt + b) * 3 * hd..(t * bt + b + 1) * 3 * hd];
                    for j in 0..hd {
                        let (z, rr) = zr[b * hd + j];
                        let rec_h = if self.linear_before_reset {
                            rr * rec[b * 3 * hd + 2 * hd + j]
                        } else {
                            rh[b * hd + j]
                        };
                        let cand = g.f(r.clip(xr[2 * hd + j] + rec_h));
                        let hn = (1.0 - z) * cand + z * h[b * hd + j];
                        h[b * hd + j] = hn;
                        y[((t * r.dirs + d) * bt + b) * hd + j] = hn;
                    }
                }
            }
        }
        Ok(vec![r.y_out(y), r.state_out(h_all)])
    }
}
