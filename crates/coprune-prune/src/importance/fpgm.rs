//! FPGM (He et al., "Filter Pruning via Geometric Median"): filters close to the geometric median
//! of their layer are the most replaceable. Score = Σ over the other filters of the Euclidean
//! distance; only filter (producer) slices are scored.

use super::{lane_dot, Criterion, MemberView};
use crate::depgraph::Role;

/// Sum of distances to the other filters of the layer.
#[derive(Debug, Clone, Copy)]
pub struct Fpgm;

impl Criterion for Fpgm {
    fn name(&self) -> &'static str {
        "fpgm"
    }

    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>> {
        if m.role != Role::Producer {
            return None;
        }
        let rows = m.rows();
        let n = rows.len();
        // ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b: one dot product per pair.
        let sq: Vec<f32> = rows.iter().map(|r| lane_dot(r, r)).collect();
        let mut s = vec![0f32; n];
        for i in 0..n {
            for j in i + 1..n {
                let d = (sq[i] + sq[j] - 2.0 * lane_dot(&rows[i], &rows[j]))
                    .max(0.0)
                    .sqrt();
                s[i] += d;
                s[j] += d;
            }
        }
        Some(s)
    }
}
