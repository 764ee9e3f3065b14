//! `Relu` kernel.

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Relu`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let f: fn(&LowerCtx) -> Result<Box<dyn Kernel>> = |_c| Ok(Box::new(Map(|x: f32| x.max(0.0))));
    f(c)
}
