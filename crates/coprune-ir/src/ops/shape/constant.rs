//! `Constant`: a tensor stored in the node (some exporters keep weights here). Small integer and
//! float contents are tracked.

use crate::ops::util::tracked;
use crate::{constant_node_value, ConstValue, Dim, Fact, Node, Op, Result};

/// `Constant` with the facts of its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    pub fact: Fact,
}

impl Constant {
    /// Reads the value attribute (value, value_float(s), value_int(s)).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let t = constant_node_value(node)?;
        Ok(Box::new(Constant {
            fact: tensor_fact(&t),
        }))
    }
}

/// The fact of a constant tensor, tracking its content when small.
pub fn tensor_fact(t: &crate::Tensor) -> Fact {
    let shape: Vec<Dim> = t.dims.iter().map(|&d| Dim::known(d as i64)).collect();
    let small = t.numel().is_some_and(|n| n <= crate::MAX_TRACKED_ELEMENTS);
    let value = if !small {
        None
    } else if t.dtype.is_int() || t.dtype == crate::DType::Bool {
        t.to_i64_vec()
            .ok()
            .map(|v| ConstValue::Ints(v.into_iter().map(Dim::known).collect()))
    } else if t.dtype.is_float() {
        t.to_f64_vec().ok().map(ConstValue::Floats)
    } else {
        None
    };
    Fact {
        dtype: t.dtype,
        value: tracked(&shape, value),
        shape,
    }
}

impl Op for Constant {
    fn name(&self) -> &'static str {
        "Constant"
    }

    fn output_facts(&self, _inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        Ok(vec![self.fact.clone()])
    }
}
