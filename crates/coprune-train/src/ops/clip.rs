//! `Clip` (ReLU6 in MobileNet exports): gradient 1 strictly inside (min, max).

use super::pointwise::Pointwise;
use crate::kernel::{unsupported, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;

/// Lowers `Clip` with constant bounds (inputs 1 and 2, or the attributes of opset < 11).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let bound = |i: usize, attr: &str, default: f32| -> Result<f32> {
        if c.inputs.get(i).copied().flatten().is_some() {
            c.const_f32(i)
                .and_then(|v| v.first().copied())
                .ok_or_else(|| unsupported(c, " (bounds computed at run time)"))
        } else {
            Ok(c.node.attr_float(attr, default)?)
        }
    };
    let lo = bound(1, "min", f32::NEG_INFINITY)?;
    let hi = bound(2, "max", f32::INFINITY)?;
    Ok(Pointwise::boxed(
        move |x| x.max(lo).min(hi),
        move |x, _| if x > lo && x < hi { 1.0 } else { 0.0 },
    ))
}
