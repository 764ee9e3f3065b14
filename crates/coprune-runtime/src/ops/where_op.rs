//! `Where` kernel: `cond ? x : y` with numpy broadcasting (booleans are held as integers).

use super::binary::{broadcast_to, bstrides};
use crate::kernel::{f32_in, value_in, Kernel, LowerCtx};
use crate::{Result, RuntimeError, Value};

struct Where {
    strides: [Vec<usize>; 3],
    out: Vec<usize>,
}

/// Lowers `Where`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let out = c.out_shape(0)?;
    Ok(Box::new(Where {
        strides: [
            bstrides(&c.in_shape(0)?, &out),
            bstrides(&c.in_shape(1)?, &out),
            bstrides(&c.in_shape(2)?, &out),
        ],
        out,
    }))
}

impl Kernel for Where {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let Value::I64 { data: cond, .. } = value_in(inputs, 0)? else {
            return Err(RuntimeError::Input {
                name: "condition".into(),
                msg: "expected a boolean tensor".into(),
            });
        };
        let cond = broadcast_to(cond, &self.strides[0], &self.out);
        let x = broadcast_to(f32_in(inputs, 1)?, &self.strides[1], &self.out);
        let y = broadcast_to(f32_in(inputs, 2)?, &self.strides[2], &self.out);
        let out = cond
            .iter()
            .zip(x.iter().zip(&y))
            .map(|(&c, (&a, &b))| if c != 0 { a } else { b })
            .collect();
        Ok(vec![Value::f32(self.out.clone(), out)])
    }
}
