//! `Log` kernel (element-wise).

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Log`.
pub fn lower(_c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(Map(|x: f32| x.ln())))
}
