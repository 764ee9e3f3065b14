//! First-order Taylor importance (Molchanov et al., "Importance Estimation for Neural Network
//! Pruning", 2019): the loss change from removing a slice is estimated by |Σ w·∂L/∂w| over the
//! slice, with the gradient averaged over calibration batches (as Torch-Pruning's
//! TaylorImportance). Members without a gradient (fixed tensors) do not inform it.

use super::{Criterion, MemberView};

/// |Σ w·g| per position.
#[derive(Debug, Clone, Copy)]
pub struct Taylor;

impl Criterion for Taylor {
    fn name(&self) -> &'static str {
        "taylor"
    }

    fn needs_gradients(&self) -> bool {
        true
    }

    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>> {
        let g = m.grad?;
        let inner: usize = m.dims[m.axis + 1..].iter().product::<u64>() as usize;
        let n = m.positions();
        let mut s = vec![0f32; n];
        if n == 0 || inner == 0 {
            return Some(s);
        }
        for (k, (w, d)) in m
            .values
            .chunks_exact(inner)
            .zip(g.chunks_exact(inner))
            .enumerate()
        {
            s[k % n] += super::lane_dot(w, d);
        }
        Some(s.into_iter().map(f32::abs).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depgraph::Role;

    #[test]
    fn scores_are_abs_sum_of_weight_times_gradient() {
        // Two filters of 2×1×1×2: filter 0 has w·g = 1·1 + 2·(−2) = −3 → 3; filter 1: 0.5.
        let w = [1.0, 2.0, 0.5, -1.0];
        let g = [1.0, -2.0, 1.0, 0.0];
        let m = MemberView {
            values: &w,
            dims: &[2, 1, 1, 2],
            axis: 0,
            role: Role::Producer,
            op: "Conv",
            input: 1,
            grad: Some(&g),
            act: None,
        };
        assert_eq!(Taylor.member_scores(&m), Some(vec![3.0, 0.5]));
        // Input-channel axis of the same tensor (axis 1 has one position).
        let m1 = MemberView {
            axis: 1,
            dims: &[2, 1, 1, 2],
            ..m
        };
        assert_eq!(Taylor.member_scores(&m1), Some(vec![2.5]));
        let none = MemberView { grad: None, ..m };
        assert_eq!(Taylor.member_scores(&none), None);
    }
}
