//! `Mul` with broadcasting: see `binary`.

use super::binary::Kind;
use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `Mul`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    super::binary::lower(c, Kind::Mul)
}
