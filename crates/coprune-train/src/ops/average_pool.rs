//! `AveragePool` (2-D): see `pool`.

use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `AveragePool`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    super::pool::lower(c, false)
}
