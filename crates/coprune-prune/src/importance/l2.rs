//! L2 magnitude: ‖w‖₂ of each slice.

use super::{lane_sum, Criterion, MemberView};

/// Euclidean norm per position.
#[derive(Debug, Clone, Copy)]
pub struct L2;

impl Criterion for L2 {
    fn name(&self) -> &'static str {
        "l2"
    }

    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>> {
        let mut s = vec![0f32; m.positions()];
        m.for_each_chunk(|p, c| s[p] += lane_sum(c, |v| v * v));
        Some(s.into_iter().map(f32::sqrt).collect())
    }
}
