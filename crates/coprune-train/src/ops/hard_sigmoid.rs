//! `HardSigmoid`: max(0, min(1, αx + β)); gradient α on the slope.

use super::pointwise::Pointwise;
use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `HardSigmoid`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let a = c.node.attr_float("alpha", 0.2)?;
    let b = c.node.attr_float("beta", 0.5)?;
    Ok(Pointwise::boxed(
        move |x| (a * x + b).clamp(0.0, 1.0),
        move |x, _| {
            let v = a * x + b;
            if v > 0.0 && v < 1.0 {
                a
            } else {
                0.0
            }
        },
    ))
}
