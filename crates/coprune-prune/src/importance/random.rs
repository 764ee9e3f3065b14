//! Random baseline: seeded uniform scores per unit, the control every criterion is compared with.

use super::{Criterion, MemberView};
use crate::depgraph::Group;

/// Uniform random scores from `seed` and the group id (same seed → same plan).
#[derive(Debug, Clone, Copy)]
pub struct Random {
    pub seed: u64,
}

/// SplitMix64 step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Criterion for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn member_scores(&self, _m: &MemberView) -> Option<Vec<f32>> {
        None
    }

    fn unit_scores(&self, group: &Group) -> Option<Vec<f32>> {
        let base = mix(self.seed ^ mix(group.id as u64));
        Some(
            (0..group.units.len())
                .map(|i| (mix(base ^ i as u64) >> 40) as f32 / (1u64 << 24) as f32)
                .collect(),
        )
    }
}
