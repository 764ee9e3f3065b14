//! Losses on logits [B, C]: softmax cross-entropy, and knowledge distillation from a teacher's
//! logits (Hinton et al.): (1 − w)·CE + w·T²·KL(softmax(t/T) ‖ softmax(s/T)).

use crate::kernel::Buf;

/// A loss value over a batch, its gradient with respect to the logits, and the number of
/// samples whose top-1 prediction equals the label.
#[derive(Debug, Clone, PartialEq)]
pub struct LossOut {
    /// Mean over the batch.
    pub loss: f32,
    pub grad: Buf,
    pub correct: usize,
}

/// Distillation settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Distill {
    /// Softmax temperature T (> 0).
    pub temperature: f32,
    /// Weight w of the distillation term in [0, 1]; the label loss gets 1 − w.
    pub weight: f32,
}

/// Softmax of `row / t` into `out`; returns log Σ exp(row / t) for the log-probabilities.
fn softmax(row: &[f32], t: f32, out: &mut [f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) / t;
    let mut sum = 0f32;
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (v / t - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
    max + sum.ln()
}

/// Cross-entropy of `logits` ([B, C], any trailing 1-dims) against `labels`, optionally mixed
/// with distillation from `teacher` logits of the same shape.
pub fn loss(logits: &Buf, labels: &[u32], teacher: Option<(&Buf, Distill)>) -> LossOut {
    let b = labels.len().max(1);
    let c = logits.len() / b;
    let mut grad = vec![0f32; logits.len()];
    let (mut total, mut correct) = (0f64, 0usize);
    let mut p = vec![0f32; c];
    let mut q = vec![0f32; c];
    let w_kd = teacher.map_or(0.0, |(_, d)| d.weight);
    for (i, &y) in labels.iter().enumerate() {
        let y = y as usize;
        let row = &logits.data[i * c..(i + 1) * c];
        let g = &mut grad[i * c..(i + 1) * c];
        let lse = softmax(row, 1.0, &mut p);
        let ce = lse - row[y];
        let best = row.iter().filter(|&&v| v > row[y]).count() == 0;
        correct += usize::from(best);
        for (k, gv) in g.iter_mut().enumerate() {
            let onehot = if k == y { 1.0 } else { 0.0 };
            *gv = (1.0 - w_kd) * (p[k] - onehot) / b as f32;
        }
        let mut l = (1.0 - w_kd) as f64 * ce as f64;
        if let Some((t, d)) = teacher {
            let tt = d.temperature;
            let trow = &t.data[i * c..(i + 1) * c];
            let lse_t = softmax(trow, tt, &mut q);
            let lse_s = softmax(row, tt, &mut p);
            let mut kl = 0f64;
            for k in 0..c {
                if q[k] > 0.0 {
                    let (lq, lp) = (trow[k] / tt - lse_t, row[k] / tt - lse_s);
                    kl += (q[k] * (lq - lp)) as f64;
                }
                // d/ds of T²·KL = T·(p − q).
                g[k] += d.weight * tt * (p[k] - q[k]) / b as f32;
            }
            l += (d.weight * tt * tt) as f64 * kl;
        }
        total += l;
    }
    LossOut {
        loss: (total / b as f64) as f32,
        grad: Buf::new(logits.shape.clone(), grad),
        correct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The analytic gradient matches central differences, with and without distillation.
    #[test]
    fn gradient_matches_finite_differences() {
        let logits = Buf::new(vec![2, 4], vec![0.3, -1.2, 2.0, 0.1, 1.5, 0.2, -0.7, 0.9]);
        let teacher = Buf::new(vec![2, 4], vec![1.0, 0.0, 3.0, -1.0, 0.5, 0.5, -2.0, 2.0]);
        let labels = [2u32, 3];
        for t in [
            None,
            Some((
                &teacher,
                Distill {
                    temperature: 3.0,
                    weight: 0.6,
                },
            )),
        ] {
            let out = loss(&logits, &labels, t);
            for i in 0..logits.len() {
                let h = 1e-3;
                let mut a = logits.clone();
                a.data[i] += h;
                let mut b = logits.clone();
                b.data[i] -= h;
                let num = (loss(&a, &labels, t).loss - loss(&b, &labels, t).loss) / (2.0 * h);
                assert!(
                    (num - out.grad.data[i]).abs() < 1e-3,
                    "element {i}: numeric {num}, analytic {}",
                    out.grad.data[i]
                );
            }
        }
    }

    #[test]
    fn counts_correct_predictions() {
        let logits = Buf::new(vec![2, 3], vec![0.0, 5.0, 1.0, 2.0, 0.0, 1.0]);
        let out = loss(&logits, &[1, 1], None);
        assert_eq!(out.correct, 1);
        assert!(out.loss > 0.0);
    }
}
