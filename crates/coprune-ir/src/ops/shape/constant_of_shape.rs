//! `ConstantOfShape`: a tensor of the shape given by the input, filled with one value
//! (float 0 by default).

use crate::ops::util::{req, tracked};
use crate::{bail, ConstValue, DType, Dim, Fact, Node, Op, Result};

/// `ConstantOfShape(input)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstantOfShape {
    pub dtype: DType,
    pub fill: Option<i64>,
}

impl ConstantOfShape {
    /// Reads the fill value's type (and integer value, for tracking).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let (dtype, fill) = match node.attr_tensor("value")? {
            Some(t) => (
                t.dtype,
                t.to_i64_vec().ok().and_then(|v| v.first().copied()),
            ),
            None => (DType::F32, None),
        };
        Ok(Box::new(ConstantOfShape { dtype, fill }))
    }
}

impl Op for ConstantOfShape {
    fn name(&self) -> &'static str {
        "ConstantOfShape"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let s = req(inputs, 0, "input")?;
        let Some(shape) = s.ints() else {
            bail!("the output shape is computed at run time; cannot infer it");
        };
        let shape = shape.to_vec();
        let value = match (self.fill, crate::known_numel(&shape)) {
            (Some(v), Some(n)) if self.dtype.is_int() => tracked(
                &shape,
                Some(ConstValue::Ints(vec![Dim::known(v); n as usize])),
            ),
            _ => None,
        };
        Ok(vec![Fact {
            dtype: self.dtype,
            shape,
            value,
        }])
    }
}
