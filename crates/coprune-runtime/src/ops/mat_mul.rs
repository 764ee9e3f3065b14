//! `MatMul` kernel: [..., M, K] × [K, N] (constant or not) and equal-batch [..., M, K] × [..., K, N].

use crate::gemm::{matmul, MatRef};
use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct MatMul {
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    b_batched: bool,
    out: Vec<usize>,
    threads: usize,
}

/// Lowers `MatMul` (rank ≥ 2 operands; B either 2-D or with A's batch dims).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let (a, b, out) = (c.in_shape(0)?, c.in_shape(1)?, c.out_shape(0)?);
    if a.len() < 2 || b.len() < 2 {
        return Err(c.unsupported(" (1-D operands)"));
    }
    let (m, k, n) = (a[a.len() - 2], a[a.len() - 1], b[b.len() - 1]);
    let batch: usize = a[..a.len() - 2].iter().product();
    let b_batch: usize = b[..b.len() - 2].iter().product();
    if b_batch != 1 && b_batch != batch {
        return Err(c.unsupported(" (broadcast batch dims)"));
    }
    Ok(Box::new(MatMul {
        batch,
        m,
        k,
        n,
        b_batched: b_batch != 1,
        out,
        threads: c.threads,
    }))
}

impl Kernel for MatMul {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let (a, b) = (f32_in(inputs, 0)?, f32_in(inputs, 1)?);
        let (m, k, n) = (self.m, self.k, self.n);
        let mut y = vec![0f32; self.batch * m * n];
        if !self.b_batched {
            // Fold the batch into M: one large GEMM.
            matmul(
                MatRef::new(a, self.batch * m, k),
                MatRef::new(b, k, n),
                &mut y,
                false,
                self.threads,
            );
        } else {
            for i in 0..self.batch {
                matmul(
                    MatRef::new(&a[i * m * k..(i + 1) * m * k], m, k),
                    MatRef::new(&b[i * k * n..(i + 1) * k * n], k, n),
                    &mut y[i * m * n..(i + 1) * m * n],
                    false,
                    self.threads,
                );
            }
        }
        Ok(vec![Value::f32(self.out.clone(), y)])
    }
}
