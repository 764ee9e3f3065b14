//! Optimizers: SGD with momentum (L2 weight decay added to the gradient, as PyTorch's SGD) and
//! AdamW (decoupled weight decay). Masked elements (pruned weights) get no update and stay zero.

use crate::kernel::Buf;
use crate::params::Params;
use serde::Serialize;

/// An optimizer and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Optimizer {
    Sgd {
        momentum: f32,
        weight_decay: f32,
    },
    AdamW {
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
}

impl Optimizer {
    /// SGD with momentum 0.9.
    pub fn sgd(weight_decay: f32) -> Optimizer {
        Optimizer::Sgd {
            momentum: 0.9,
            weight_decay,
        }
    }

    /// AdamW with the usual betas (0.9, 0.999) and eps 1e-8.
    pub fn adamw(weight_decay: f32) -> Optimizer {
        Optimizer::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }
}

/// Per-parameter optimizer state.
#[derive(Debug, Clone, Default)]
pub struct OptState {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl OptState {
    /// Applies one update with learning rate `lr`. `grads[i]` is `None` for parameters without a
    /// gradient; `masks[i]`, when present, marks with `false` the elements that must stay zero.
    pub fn step(
        &mut self,
        opt: &Optimizer,
        lr: f32,
        params: &mut Params,
        grads: &[Option<Buf>],
        masks: &[Option<Vec<bool>>],
    ) {
        let n = params.values.len();
        if self.m.len() != n {
            self.m = params.values.iter().map(|v| vec![0.0; v.len()]).collect();
            self.v = match opt {
                Optimizer::AdamW { .. } => {
                    params.values.iter().map(|v| vec![0.0; v.len()]).collect()
                }
                Optimizer::Sgd { .. } => vec![Vec::new(); n],
            };
        }
        self.t += 1;
        for (i, g) in grads.iter().enumerate().take(n) {
            let (Some(g), true) = (g, params.trainable[i]) else {
                continue;
            };
            params.changed[i] = true;
            let w = &mut params.values[i].data;
            let mask = masks.get(i).and_then(Option::as_ref);
            let m = &mut self.m[i];
            match *opt {
                Optimizer::Sgd {
                    momentum,
                    weight_decay,
                } => {
                    for j in 0..w.len() {
                        let d = g.data[j] + weight_decay * w[j];
                        m[j] = momentum * m[j] + d;
                        w[j] -= lr * m[j];
                    }
                }
                Optimizer::AdamW {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                } => {
                    let v = &mut self.v[i];
                    let (c1, c2) = (1.0 - beta1.powi(self.t), 1.0 - beta2.powi(self.t));
                    for j in 0..w.len() {
                        let d = g.data[j];
                        m[j] = beta1 * m[j] + (1.0 - beta1) * d;
                        v[j] = beta2 * v[j] + (1.0 - beta2) * d * d;
                        w[j] -=
                            lr * (weight_decay * w[j] + (m[j] / c1) / ((v[j] / c2).sqrt() + eps));
                    }
                }
            }
            if let Some(mask) = mask {
                for ((wv, mv), &keep) in w.iter_mut().zip(m.iter_mut()).zip(mask) {
                    if !keep {
                        *wv = 0.0;
                        *mv = 0.0;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_param(v: Vec<f32>) -> Params {
        Params {
            names: vec!["w".into()],
            values: vec![Buf::new(vec![v.len()], v)],
            trainable: vec![true],
            changed: vec![false],
        }
    }

    /// Both optimizers minimise a quadratic; masked elements stay zero.
    #[test]
    fn minimise_quadratic_and_keep_masks() {
        for opt in [Optimizer::sgd(0.0), Optimizer::adamw(0.0)] {
            let mut p = one_param(vec![3.0, -2.0, 0.0]);
            let mut st = OptState::default();
            let mask = vec![Some(vec![true, true, false])];
            for _ in 0..500 {
                // f = Σ (w − 1)², gradient 2(w − 1)
                let g: Vec<f32> = p.values[0].data.iter().map(|w| 2.0 * (w - 1.0)).collect();
                st.step(&opt, 0.02, &mut p, &[Some(Buf::new(vec![3], g))], &mask);
            }
            let w = &p.values[0].data;
            assert!(
                (w[0] - 1.0).abs() < 1e-2 && (w[1] - 1.0).abs() < 1e-2,
                "{opt:?}: {w:?}"
            );
            assert_eq!(w[2], 0.0);
            assert!(p.changed[0]);
        }
    }
}
