//! `HardSigmoid` kernel: max(0, min(1, alpha·x + beta)).

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `HardSigmoid`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let alpha = c.node.attr_float("alpha", 0.2)?;
    let beta = c.node.attr_float("beta", 0.5)?;
    Ok(Box::new(Map(move |x: f32| {
        (alpha * x + beta).clamp(0.0, 1.0)
    })))
}
