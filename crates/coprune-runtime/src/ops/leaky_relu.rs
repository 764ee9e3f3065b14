//! `LeakyRelu` kernel.

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `LeakyRelu`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let alpha = c.node.attr_float("alpha", 0.01)?;
    Ok(Box::new(Map(
        move |x: f32| if x >= 0.0 { x } else { alpha * x },
    )))
}
