//! `HardSwish` kernel.

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `HardSwish`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let f: fn(&LowerCtx) -> Result<Box<dyn Kernel>> =
        |_c| Ok(Box::new(Map(|x: f32| x * (x / 6.0 + 0.5).clamp(0.0, 1.0))));
    f(c)
}
