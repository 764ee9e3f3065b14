//! L1 magnitude: Σ|w| over each slice (Li et al., "Pruning Filters for Efficient ConvNets").

use super::{lane_sum, Criterion, MemberView};

/// Sum of absolute values per position.
#[derive(Debug, Clone, Copy)]
pub struct L1;

impl Criterion for L1 {
    fn name(&self) -> &'static str {
        "l1"
    }

    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>> {
        let mut s = vec![0f32; m.positions()];
        m.for_each_chunk(|p, c| s[p] += lane_sum(c, f32::abs));
        Some(s)
    }
}
