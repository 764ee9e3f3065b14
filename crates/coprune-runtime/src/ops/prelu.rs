//! `PRelu` kernel (broadcasting).

use super::binary::Binary;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `PRelu`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(Binary::lower(c, |a: f32, b: f32| {
        if a >= 0.0 {
            a
        } else {
            a * b
        }
    })?))
}
