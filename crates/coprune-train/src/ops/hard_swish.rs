//! `HardSwish`: x · max(0, min(1, x/6 + 1/2)).

use super::pointwise::Pointwise;
use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `HardSwish`.
pub fn lower(_c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Pointwise::boxed(
        |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        |x, _| {
            if x <= -3.0 {
                0.0
            } else if x >= 3.0 {
                1.0
            } else {
                x / 3.0 + 0.5
            }
        },
    ))
}
