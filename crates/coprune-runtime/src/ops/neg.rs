//! `Neg` kernel (element-wise).

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Neg`.
pub fn lower(_c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(Map(|x: f32| -x)))
}
