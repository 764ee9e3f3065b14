//! `Gather`: picks entries of `data` along `axis` by index; output shape is
//! data[:axis] + indices + data[axis+1:]. Tracked values are gathered (Shape → Gather(0) → N).

use crate::ops::util::{norm_axis, req, tracked};
use crate::{ConstValue, Fact, Node, Op, Result};

/// `Gather(data, indices)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

impl Gather {
    /// Reads axis (default 0).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Gather {
            axis: node.attr_int("axis", 0)?,
        }))
    }
}

impl Op for Gather {
    fn name(&self) -> &'static str {
        "Gather"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let idx = req(inputs, 1, "indices")?;
        let axis = norm_axis(self.axis, x.rank())?;
        let mut shape = x.shape[..axis].to_vec();
        shape.extend(idx.shape.iter().cloned());
        shape.extend(x.shape[axis + 1..].iter().cloned());
        let mut fact = Fact::new(x.dtype, shape);
        if let (Some(v), Some(ix), 1) = (x.ints(), idx.known_ints(), x.rank()) {
            let n = v.len() as i64;
            let picked: Option<Vec<_>> = ix
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + n } else { i };
                    (0..n).contains(&j).then(|| v[j as usize].clone())
                })
                .collect();
            fact.value = tracked(&fact.shape, picked.map(ConstValue::Ints));
        }
        Ok(vec![fact])
    }
}
