//! `MaxPool` kernel (2-D; the Indices output is not produced).

use super::pool::Pool;
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `MaxPool`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    if c.node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(c.unsupported(" (Indices output)"));
    }
    Ok(Box::new(Pool::lower(c, true)?))
}
