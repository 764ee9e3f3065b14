//! `Cast`: converts the element type; tracked values survive int ↔ int casts.

use crate::ops::util::req;
use crate::{bail, ChannelCtx, ChannelRule, ConstValue, DType, Fact, Node, Op, Result};

/// `Cast(input)` to `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    pub to: DType,
}

/// Maps the format's numeric type code to a [`DType`]; set by the format crate (ONNX numbering is
/// the de-facto standard and also what `Cast`'s `to` attribute holds).
pub fn dtype_from_code(code: i64) -> DType {
    use DType::*;
    match code {
        1 => F32,
        2 => U8,
        3 => I8,
        4 => U16,
        5 => I16,
        6 => I32,
        7 => I64,
        8 => String,
        9 => Bool,
        10 => F16,
        11 => F64,
        12 => U32,
        13 => U64,
        14 => Complex64,
        15 => Complex128,
        16 => BF16,
        17 => F8E4M3FN,
        18 => F8E4M3FNUZ,
        19 => F8E5M2,
        20 => F8E5M2FNUZ,
        21 => U4,
        22 => I4,
        23 => F4E2M1,
        24 => F8E8M0,
        25 => U2,
        26 => I2,
        27 => F6E2M3,
        28 => F6E3M2,
        c => Other(c as i32),
    }
}

impl Cast {
    /// Reads `to`.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        if node.attr("to").is_none() {
            bail!("attribute `to` is required");
        }
        Ok(Box::new(Cast {
            to: dtype_from_code(node.attr_int("to", 0)?),
        }))
    }
}

impl Op for Cast {
    fn name(&self) -> &'static str {
        "Cast"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "input")?;
        let value = match &x.value {
            Some(ConstValue::Ints(v)) if self.to.is_int() || self.to == DType::Bool => {
                Some(ConstValue::Ints(v.clone()))
            }
            Some(ConstValue::Floats(v)) if self.to.is_int() => Some(ConstValue::Ints(
                v.iter()
                    .map(|f| crate::Dim::known(f.trunc() as i64))
                    .collect(),
            )),
            _ => x
                .known_f64()
                .filter(|_| self.to.is_float())
                .map(ConstValue::Floats),
        };
        Ok(vec![Fact {
            dtype: self.to,
            shape: x.shape.clone(),
            value,
        }])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
