//! `Cast` kernel between the runtime's value types: to float (f32) or to an integer type (held
//! as i64; floats truncate toward zero).

use crate::kernel::{Kernel, LowerCtx};
use crate::{Result, RuntimeError, Value};
use coprune_ir::DType;

struct Cast {
    to_float: bool,
}

/// Lowers `Cast` to a float or integer type.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let to = coprune_onnx_dtype(c.node.attr_int("to", 0)?);
    match to {
        Some(t) if t.is_float() => Ok(Box::new(Cast { to_float: true })),
        Some(t) if t.is_int() => Ok(Box::new(Cast { to_float: false })),
        _ => Err(c.unsupported(" (only casts to float or integer types)")),
    }
}

/// The ONNX TensorProto data-type code → DType (the runtime does not depend on coprune-onnx).
fn coprune_onnx_dtype(code: i64) -> Option<DType> {
    use DType::*;
    Some(match code {
        1 => F32,
        2 => U8,
        3 => I8,
        4 => U16,
        5 => I16,
        6 => I32,
        7 => I64,
        10 => F16,
        11 => F64,
        12 => U32,
        13 => U64,
        16 => BF16,
        _ => return None,
    })
}

impl Kernel for Cast {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| RuntimeError::Input {
                name: "#0".into(),
                msg: "missing".into(),
            })?;
        let shape = x.shape().to_vec();
        Ok(vec![match (x, self.to_float) {
            (Value::F32 { data, .. }, true) => Value::f32(shape, data.clone()),
            (Value::I64 { data, .. }, true) => {
                Value::f32(shape, data.iter().map(|&v| v as f32).collect())
            }
            (Value::F32 { data, .. }, false) => Value::I64 {
                shape,
                data: data.iter().map(|&v| v as i64).collect(),
            },
            (Value::I64 { data, .. }, false) => Value::I64 {
                shape,
                data: data.clone(),
            },
        }])
    }
}
