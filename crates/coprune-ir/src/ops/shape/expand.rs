//! `Expand`: broadcasts the input to a shape given by the second input (numpy rules both ways).

use crate::ops::util::{broadcast, req};
use crate::{bail, Fact, Node, Op, Result};

/// `Expand(input, shape)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expand;

impl Expand {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Expand))
    }
}

impl Op for Expand {
    fn name(&self) -> &'static str {
        "Expand"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "input")?;
        let s = req(inputs, 1, "shape")?;
        let Some(target) = s.ints() else {
            bail!("the target shape is computed at run time; cannot infer it");
        };
        Ok(vec![Fact::new(x.dtype, broadcast(&[&x.shape, target])?)])
    }
}
