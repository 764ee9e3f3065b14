//! LAMP (Lee et al., "Layer-adaptive sparsity for the Magnitude-based Pruning"): each slice's
//! squared norm divided by the sum of the squared norms of all slices at least as large, which
//! makes scores comparable across layers.

use super::{lane_sum, Criterion, MemberView};

/// LAMP scores of squared L2 norms per position.
#[derive(Debug, Clone, Copy)]
pub struct Lamp;

impl Criterion for Lamp {
    fn name(&self) -> &'static str {
        "lamp"
    }

    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>> {
        let mut sq = vec![0f32; m.positions()];
        m.for_each_chunk(|p, c| sq[p] += lane_sum(c, |v| v * v));
        let mut order: Vec<usize> = (0..sq.len()).collect();
        order.sort_by(|&a, &b| sq[a].total_cmp(&sq[b]).then(a.cmp(&b)));
        let mut out = vec![0f32; sq.len()];
        let mut tail: f32 = sq.iter().sum();
        for &i in &order {
            out[i] = sq[i] / tail.max(1e-20);
            tail -= sq[i];
        }
        Some(out)
    }
}
