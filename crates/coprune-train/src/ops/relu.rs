//! `Relu`: max(x, 0); gradient 1 where x > 0.

use super::pointwise::Pointwise;
use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `Relu`.
pub fn lower(_c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Pointwise::boxed(
        |x| x.max(0.0),
        |x, _| if x > 0.0 { 1.0 } else { 0.0 },
    ))
}
