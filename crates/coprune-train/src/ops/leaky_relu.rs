//! `LeakyRelu`: x for x ≥ 0, αx otherwise.

use super::pointwise::Pointwise;
use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `LeakyRelu`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let a = c.node.attr_float("alpha", 0.01)?;
    Ok(Pointwise::boxed(
        move |x| if x >= 0.0 { x } else { a * x },
        move |x, _| if x >= 0.0 { 1.0 } else { a },
    ))
}
