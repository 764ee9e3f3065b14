//! `AveragePool` kernel (2-D, count_include_pad honoured).

use super::pool::Pool;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `AveragePool`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(Pool::lower(c, false)?))
}
