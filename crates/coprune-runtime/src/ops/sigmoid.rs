//! `Sigmoid` kernel.

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Sigmoid`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let f: fn(&LowerCtx) -> Result<Box<dyn Kernel>> =
        |_c| Ok(Box::new(Map(|x: f32| 1.0 / (1.0 + (-x).exp()))));
    f(c)
}
