//! `GRU`: recurrent layer with 3 gates; outputs Y and 1 final state(s).

use super::recurrent::{directions, recurrent_macs, recurrent_outputs};
use crate::ops::util::req;
use crate::{bail, Cost, Fact, Node, Op, Result};

/// `GRU(X, W, R, B?, sequence_lens?, initial_h?…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GRU {
    pub hidden_size: i64,
    pub directions: i64,
    pub layout: i64,
}

impl GRU {
    /// Reads hidden_size (required), direction and layout.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let hidden_size = node.attr_int("hidden_size", 0)?;
        if hidden_size < 1 {
            bail!("attribute hidden_size is required and must be ≥ 1");
        }
        Ok(Box::new(GRU {
            hidden_size,
            directions: directions(&node.attr_str("direction", "forward")?)?,
            layout: node.attr_int("layout", 0)?,
        }))
    }
}

impl Op for GRU {
    fn name(&self) -> &'static str {
        "GRU"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        recurrent_outputs(inputs, self.hidden_size, self.directions, self.layout, 1)
    }

    fn cost(&self, inputs: &[Option<&Fact>], _outputs: &[Fact]) -> Result<Cost> {
        let x = req(inputs, 0, "X")?;
        Ok(Cost {
            macs: recurrent_macs(x, self.hidden_size, self.directions, 3, self.layout),
        })
    }
}
