//! `ConstantOfShape` kernel: the inferred output shape filled with the `value` attribute
//! (f32 zero by default).

use crate::kernel::{Kernel, LowerCtx};
use crate::{Result, Value};

struct Fill(Value);

/// Lowers `ConstantOfShape`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let out = c.out_shape(0)?;
    let n = out.iter().product();
    let value = match c.node.attr_tensor("value")? {
        None => Value::f32(out, vec![0.0; n]),
        Some(t) if t.dtype.is_float() => {
            let v = t.to_f32_vec().ok().and_then(|v| v.first().copied());
            Value::f32(out, vec![v.unwrap_or(0.0); n])
        }
        Some(t) => {
            let v = t.to_i64_vec().ok().and_then(|v| v.first().copied());
            Value::I64 {
                shape: out,
                data: vec![v.unwrap_or(0); n],
            }
        }
    };
    Ok(Box::new(Fill(value)))
}

impl Kernel for Fill {
    fn run(&self, _inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        Ok(vec![self.0.clone()])
    }
}
