//! `ReduceMean` kernel.

use super::reduce::{lower as reduce, How};
use crate::kernel::{Kernel, LowerCtx};
use crate::Result;

/// Lowers `ReduceMean`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    reduce(c, How::Mean)
}
