//! `Sigmoid`: 1 / (1 + e^−x); gradient y(1 − y).

use super::pointwise::Pointwise;
use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `Sigmoid`.
pub fn lower(_c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Pointwise::boxed(
        |x| 1.0 / (1.0 + (-x).exp()),
        |_, y| y * (1.0 - y),
    ))
}
