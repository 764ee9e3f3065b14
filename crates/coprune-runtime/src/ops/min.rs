//! `Min` kernel for two inputs (broadcasting).

use super::binary::Binary;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `Min` of two inputs.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    if c.inputs.len() != 2 {
        return Err(c.unsupported(&format!(" ({} inputs; two are supported)", c.inputs.len())));
    }
    Ok(Box::new(Binary::lower(c, f32::min)?))
}
