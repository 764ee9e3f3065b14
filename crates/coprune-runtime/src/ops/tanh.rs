//! `Tanh` kernel.

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Tanh`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let f: fn(&LowerCtx) -> Result<Box<dyn Kernel>> = |_c| Ok(Box::new(Map(f32::tanh)));
    f(c)
}
