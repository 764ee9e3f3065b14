//! `Gelu` kernel (opset 20): exact (erf) or the tanh approximation.

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Gelu`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    match c.node.attr_str("approximate", "none")?.as_str() {
        "none" => Ok(Box::new(Map(|x: f32| {
            0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
        }))),
        "tanh" => Ok(Box::new(Map(|x: f32| {
            let k = (2.0 / std::f32::consts::PI).sqrt();
            0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
        }))),
        other => Err(c.unsupported(&format!(" (approximate=\"{other}\")"))),
    }
}
