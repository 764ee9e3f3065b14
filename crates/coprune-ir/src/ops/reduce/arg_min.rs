//! `ArgMin`: int64 index of the minimum along `axis`.

use crate::ops::util::{reduce, req};
use crate::{DType, Fact, Node, Op, Result};

/// `ArgMin(data)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgMin {
    pub axis: i64,
    pub keepdims: bool,
}

impl ArgMin {
    /// Reads axis and keepdims.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(ArgMin {
            axis: node.attr_int("axis", 0)?,
            keepdims: node.attr_int("keepdims", 1)? != 0,
        }))
    }
}

impl Op for ArgMin {
    fn name(&self) -> &'static str {
        "ArgMin"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let mut f = reduce(x, Some(vec![self.axis]), self.keepdims, false)?;
        f.dtype = DType::I64;
        Ok(vec![f])
    }
}
