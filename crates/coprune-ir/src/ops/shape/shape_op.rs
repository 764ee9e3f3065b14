//! `Shape`: the input's shape as an int64 vector (optionally the start..end slice); the value is
//! tracked, symbolic dims included, so downstream Reshape targets stay known.

use crate::ops::util::req;
use crate::{ChannelCtx, ChannelRule, ConstValue, DType, Dim, Fact, Node, Op, Result};

/// `Shape(data)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub start: i64,
    pub end: Option<i64>,
}

impl Shape {
    /// Reads start and end (opset 15).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Shape {
            start: node.attr_int("start", 0)?,
            end: node
                .attr("end")
                .map(|_| node.attr_int("end", 0))
                .transpose()?,
        }))
    }
}

impl Op for Shape {
    fn name(&self) -> &'static str {
        "Shape"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let r = x.rank() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let s = clamp(self.start);
        let e = clamp(self.end.unwrap_or(r)).max(s);
        let dims = x.shape[s..e].to_vec();
        Ok(vec![Fact {
            dtype: DType::I64,
            shape: vec![Dim::known(dims.len() as i64)],
            value: Some(ConstValue::Ints(dims)),
        }])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Passive
    }
}
