//! `Cast` kernel between the runtime's value types: to float (f32) or to an integer type (held
//! as i64; floats truncate toward zero).

use crate::kernel::{value_in, Kernel, LowerCtx};
use crate::{Result, Value};
use coprune_ir::ops::shape::cast::dtype_from_code;

struct Cast {
    to_float: bool,
}

/// Lowers `Cast` to a float or integer type.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let to = dtype_from_code(c.node.attr_int("to", 0)?);
    match to {
        t if t.is_float() => Ok(Box::new(Cast { to_float: true })),
        t if t.is_int() => Ok(Box::new(Cast { to_float: false })),
        _ => Err(c.unsupported(" (only casts to float or integer types)")),
    }
}

impl Kernel for Cast {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = value_in(inputs, 0)?;
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
