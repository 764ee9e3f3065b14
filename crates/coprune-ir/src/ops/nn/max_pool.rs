//! `MaxPool`: windowed maximum; second output (Indices, int64) when asked for.

use crate::ops::util::{req, Window};
use crate::{bail, ChannelCtx, ChannelRule, DType, Fact, Node, Op, Result};

/// `MaxPool` with its window.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPool {
    pub window: Window,
}

impl MaxPool {
    /// Reads kernel_shape (required), strides, pads, dilations, auto_pad, ceil_mode.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let window = Window::from_node(node, None)?;
        if window.kernel.is_empty() {
            bail!("attribute kernel_shape is required");
        }
        Ok(Box::new(MaxPool { window }))
    }
}

impl Op for MaxPool {
    fn name(&self) -> &'static str {
        "MaxPool"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        if x.rank() < 3 {
            bail!(
                "X {} must be [N, C, spatial…]",
                crate::shape_to_string(&x.shape)
            );
        }
        let mut shape = x.shape[..2].to_vec();
        shape.extend(self.window.output(&x.shape[2..])?);
        Ok(vec![
            Fact::new(x.dtype, shape.clone()),
            Fact::new(DType::I64, shape),
        ])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        match ctx.axis(0) {
            Some(1) | None => ChannelRule::Elementwise,
            Some(a) => ChannelRule::Block(format!("pooling over the channel axis {a}")),
        }
    }
}
