//! `LSTM` kernel (ONNX semantics: gates i, o, f, c; optional bias, sequence lengths, initial
//! states, peepholes, `input_forget`, `clip`, any direction and layout).

use super::recurrent::{opt_f32, Inputs, Recurrent};
use crate::kernel::{Kernel, LowerCtx};
use crate::{Result, Value};

struct Lstm {
    r: Recurrent,
    input_forget: bool,
    threads: usize,
}

/// Lowers `LSTM`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(Lstm {
        r: Recurrent::lower(c, 4, &["Sigmoid", "Tanh", "Tanh"])?,
        input_forget: c.node.attr_int("input_forget", 0)? != 0,
        threads: c.threads,
    }))
}

impl Kernel for Lstm {
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
        let mut c_all = r.state_in(inputs.get(6).copied().flatten())?;
        let peep = opt_f32(inputs, 7)?;
        let mut y = vec![0.0f32; r.seq * r.dirs * bt * hd];
        let mut rec = vec![0.0f32; bt * 4 * hd];
        for d in 0..r.dirs {
            let (wb, rb) = r.biases(bias, d);
            let p = peep.map(|p| &p[d * 3 * hd..(d + 1) * 3 * hd]);
            let xp = r.project(&x, w, wb, d, self.threads);
            let (f, g, hf) = (r.acts[d][0], r.acts[d][1], r.acts[d][2]);
            let h = &mut h_all[d * bt * hd..(d + 1) * bt * hd];
            let c = &mut c_all[d * bt * hd..(d + 1) * bt * hd];
            for s in 0..r.seq {
                r.recur(h, rw, rb, d, &mut rec);
                for b in 0..bt {
                    if s >= lens[b] {
                        continue;
                    }
                    let t = if r.reverse[d] { lens[b] - 1 - s } else { s };
                    let xr = &xp[(t * bt + b) * 4 * hd..(t * bt + b + 1) * 4 * hd];
                    let hr = &rec[b * 4 * hd..(b + 1) * 4 * hd];
                    for j in 0..hd {
                        let cp = c[b * hd + j];
                        let (pi, po, pf) =
                            p.map_or((0.0, 0.0, 0.0), |p| (p[j], p[hd + j], p[2 * hd + j]));
                        let i = f.f(r.clip(xr[j] + hr[j] + pi * cp));
                        let fg = if self.input_forget {
                            1.0 - i
                        } else {
                            f.f(r.clip(xr[2 * hd + j] + hr[2 * hd + j] + pf * cp))
                        };
                        let cand = g.f(r.clip(xr[3 * hd + j] + hr[3 * hd + j]));
                        let cn = fg * cp + i * cand;
                        let o = f.f(r.clip(xr[hd + j] + hr[hd + j] + po * cn));
                        let hn = o * hf.f(cn);
                        c[b * hd + j] = cn;
                        h[b * hd + j] = hn;
                        y[((t * r.dirs + d) * bt + b) * hd + j] = hn;
                    }
                }
            }
        }
        Ok(vec![r.y_out(y), r.state_out(h_all), r.state_out(c_all)])
    }
}
