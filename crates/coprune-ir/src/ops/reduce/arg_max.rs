//! `ArgMax`: int64 index of the maximum along `axis`.

use crate::ops::util::{reduce, req};
use crate::{DType, Fact, Node, Op, Result};

/// `ArgMax(data)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgMax {
    pub axis: i64,
    pub keepdims: bool,
}

impl ArgMax {
    /// Reads axis and keepdims.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(ArgMax {
            axis: node.attr_int("axis", 0)?,
            keepdims: node.attr_int("keepdims", 1)? != 0,
        }))
    }
}

impl Op for ArgMax {
    fn name(&self) -> &'static str {
        "ArgMax"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let mut f = reduce(x, Some(vec![self.axis]), self.keepdims, false)?;
        f.dtype = DType::I64;
        Ok(vec![f])
    }
}
