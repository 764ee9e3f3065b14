//! `Tanh`; gradient 1 − y².

use super::pointwise::Pointwise;
use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `Tanh`.
pub fn lower(_c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Pointwise::boxed(f32::tanh, |_, y| 1.0 - y * y))
}
