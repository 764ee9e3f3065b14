//! `Range`: 1-D sequence start, start+delta, … below limit; length known when all three are.

use crate::ops::util::req;
use crate::{Dim, Fact, Node, Op, Result};

/// `Range(start, limit, delta)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Range;

impl Range {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Range))
    }
}

impl Op for Range {
    fn name(&self) -> &'static str {
        "Range"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let start = req(inputs, 0, "start")?;
        let limit = req(inputs, 1, "limit")?;
        let delta = req(inputs, 2, "delta")?;
        let first = |f: &Fact| f.known_f64().and_then(|v| v.first().copied());
        let len = match (first(start), first(limit), first(delta)) {
            (Some(s), Some(l), Some(d)) if d != 0.0 => {
                Dim::known(((l - s) / d).ceil().max(0.0) as i64)
            }
            _ => match (start.ints(), limit.ints()) {
                (Some([s]), Some([l])) if s.as_known() == Some(0) && first(delta) == Some(1.0) => {
                    l.clone()
                }
                _ => Dim::sym(format!("range({})", "?")),
            },
        };
        Ok(vec![Fact::new(start.dtype, vec![len])])
    }
}
