//! `LSTM`: recurrent layer with 4 gates; outputs Y and 2 final state(s).

use super::recurrent::{directions, recurrent_macs, recurrent_outputs};
use crate::ops::util::req;
use crate::{bail, Cost, Fact, Node, Op, Result};

/// `LSTM(X, W, R, B?, sequence_lens?, initial_h?…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LSTM {
    pub hidden_size: i64,
    pub directions: i64,
    pub layout: i64,
}

impl LSTM {
    /// Reads hidden_size (required), direction and layout.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let hidden_size = node.attr_int("hidden_size", 0)?;
        if hidden_size < 1 {
            bail!("attribute hidden_size is required and must be ≥ 1");
        }
        Ok(Box::new(LSTM {
            hidden_size,
            directions: directions(&node.attr_str("direction", "forward")?)?,
            layout: node.attr_int("layout", 0)?,
        }))
    }
}

impl Op for LSTM {
    fn name(&self) -> &'static str {
        "LSTM"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        recurrent_outputs(inputs, self.hidden_size, self.directions, self.layout, 2)
    }

    fn cost(&self, inputs: &[Option<&Fact>], _outputs: &[Fact]) -> Result<Cost> {
        let x = req(inputs, 0, "X")?;
        Ok(Cost {
            macs: recurrent_macs(x, self.hidden_size, self.directions, 4, self.layout),
        })
    }
}
