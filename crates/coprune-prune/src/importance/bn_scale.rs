//! BatchNorm scale: |γ| of the normalisation following a layer (Liu et al., "Network Slimming").
//! Groups without a BatchNorm/InstanceNorm fall back to L1 (see `score_groups`).

use super::{Criterion, MemberView};

/// |γ| per channel of BatchNormalization / InstanceNormalization scales.
#[derive(Debug, Clone, Copy)]
pub struct BnScale;

impl Criterion for BnScale {
    fn name(&self) -> &'static str {
        "bn-scale"
    }

    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>> {
        let is_scale =
            matches!(m.op, "BatchNormalization" | "InstanceNormalization") && m.input == 1;
        is_scale.then(|| m.values.iter().map(|v| v.abs()).collect())
    }
}
