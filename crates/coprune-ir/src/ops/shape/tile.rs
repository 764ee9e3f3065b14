//! `Tile`: repeats the input `repeats[i]` times along each axis.

use crate::ops::util::req;
use crate::{bail, Dim, Fact, Node, Op, Result};

/// `Tile(input, repeats)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile;

impl Tile {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Tile))
    }
}

impl Op for Tile {
    fn name(&self) -> &'static str {
        "Tile"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "input")?;
        let r = req(inputs, 1, "repeats")?;
        let Some(rep) = r.ints() else {
            bail!("repeats are computed at run time; cannot infer the output shape");
        };
        if rep.len() != x.rank() {
            bail!("{} repeats for rank {}", rep.len(), x.rank());
        }
        let shape: Vec<Dim> = x.shape.iter().zip(rep).map(|(d, r)| d.mul(r)).collect();
        Ok(vec![Fact::new(x.dtype, shape)])
    }
}
