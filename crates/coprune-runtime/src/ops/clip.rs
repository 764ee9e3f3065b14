//! `Clip` kernel: bounds from constant inputs (opset ≥ 11) or attributes (older).

use super::unary::Map;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Clip`; run-time bounds are unsupported.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let (lo, hi) = bounds(c)?;
    Ok(Box::new(Map(move |x: f32| x.max(lo).min(hi))))
}

/// The (min, max) of a `Clip` node whose bounds are known at load.
pub fn bounds(c: &LowerCtx) -> Result<(f32, f32)> {
    let bound = |i: usize, attr: &str, default: f32| -> Result<f32> {
        match c.inputs.get(i).copied().flatten() {
            None => Ok(c.node.attr_float(attr, default)?),
            Some(_) => c
                .const_f32(i)
                .and_then(|v| v.first().copied())
                .ok_or_else(|| c.unsupported(" (bounds computed at run time)")),
        }
    };
    Ok((
        bound(1, "min", f32::NEG_INFINITY)?,
        bound(2, "max", f32::INFINITY)?,
    ))
}
