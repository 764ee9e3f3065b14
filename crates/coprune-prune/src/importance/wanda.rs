//! Activation-weighted importance, the structured form of Wanda (Sun et al., "A Simple and
//! Effective Pruning Approach for Large Language Models", 2023): a channel matters as much as
//! the weights that read it, scaled by how large its activations are: ‖X_c‖₂ · Σ|W[:, c]| over
//! the consuming layer's weights. Only consumer members with activation statistics inform it
//! (a group without any falls back to L1).

use super::{Criterion, MemberView};
use crate::depgraph::Role;

/// ‖X_c‖·Σ|W[:, c]| per input position of a consuming layer.
#[derive(Debug, Clone, Copy)]
pub struct Wanda;

impl Criterion for Wanda {
    fn name(&self) -> &'static str {
        "wanda"
    }

    fn needs_activations(&self) -> bool {
        true
    }

    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>> {
        if m.role != Role::Consumer || m.input != 1 {
            return None;
        }
        let act = m.act.filter(|a| a.len() == m.positions())?;
        let mut s = vec![0f32; m.positions()];
        m.for_each_chunk(|p, c| s[p] += super::lane_sum(c, f32::abs));
        Some(s.iter().zip(act).map(|(w, a)| w * a).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_column_magnitudes_by_activation_norms() {
        // Gemm weight [2 outputs, 3 inputs] (transB): columns |W| sums 2, 4, 6.
        let w = [1.0, -2.0, 3.0, 1.0, 2.0, -3.0];
        let act = [3.0, 1.0, 0.5];
        let m = MemberView {
            values: &w,
            dims: &[2, 3],
            axis: 1,
            role: Role::Consumer,
            op: "Gemm",
            input: 1,
            grad: None,
            act: Some(&act),
        };
        assert_eq!(Wanda.member_scores(&m), Some(vec![6.0, 4.0, 3.0]));
        let producer = MemberView {
            role: Role::Producer,
            axis: 0,
            ..m
        };
        assert_eq!(Wanda.member_scores(&producer), None);
        let no_stats = MemberView { act: None, ..m };
        assert_eq!(Wanda.member_scores(&no_stats), None);
    }
}
