//! `MatMul` kernel: [..., M, K] × [K, N] (constant or not) and equal-batch [..., M, K] × [..., K, N].

use crate::dense::ConstB;
use crate::gemm::{matmul, MatRef};
use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::sparse::{self, Isa, SparseChoice, SparseWeights};
use crate::{Result, Value};

struct MatMul {
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    b_batched: bool,
    out: Vec<usize>,
    /// A constant 2-D B prepared for the product (the batch folded into M).
    dense: Option<ConstB>,
    isa: Isa,
    threads: usize,
    /// A constant 2-D B with enough zeros, compressed as Bᵀ (N×K).
    sparse: Option<SparseWeights>,
    choice: Option<SparseChoice>,
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
    let mut mm = MatMul {
        batch,
        m,
        k,
        n,
        b_batched: b_batch != 1,
        out,
        dense: None,
        isa: Isa::detect(),
        threads: c.threads,
        sparse: None,
        choice: None,
    };
    if let Some(bw) = c.const_f32(1).filter(|_| b.len() == 2) {
        mm.dense = Some(ConstB::new(&bw, k, n, false, batch * m));
        let density = sparse::density(&bw);
        if density < 1.0 {
            mm.choice = Some(SparseChoice {
                density,
                format: None,
                timed_ms: None,
            });
        }
        if density < 1.0 && sparse::candidate(c.sparse, density) {
            let mut bt = vec![0f32; n * k];
            sparse::transpose(&bw, k, n, &mut bt);
            let sw = SparseWeights::for_matmul_t(&bt, n, k, batch * m);
            let format = sw.format();
            mm.sparse = Some(sw);
            let a = sparse::probe_input(batch * m * k);
            let choice = sparse::settle(c.sparse, density, format, |on| {
                mm.compute(&a, &bw, on);
            });
            if choice.format.is_none() {
                mm.sparse = None;
            }
            mm.choice = Some(choice);
        }
    }
    Ok(Box::new(mm))
}

impl MatMul {
    fn compute(&self, a: &[f32], b: &[f32], use_sparse: bool) -> Vec<f32> {
        let (m, k, n) = (self.m, self.k, self.n);
        // Every path overwrites the whole output.
        let mut y = crate::buffers::take(self.batch * m * n);
        if let Some(sw) = self.sparse.as_ref().filter(|_| use_sparse) {
            sw.matmul_t(a, self.batch * m, None, None, &mut y, self.threads);
        } else if let Some(cb) = &self.dense {
            cb.product(self.isa, a, self.batch * m, &mut y, self.threads);
        } else if !self.b_batched {
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
        y
    }
}

impl Kernel for MatMul {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let (a, b) = (f32_in(inputs, 0)?, f32_in(inputs, 1)?);
        Ok(vec![Value::f32(self.out.clone(), self.compute(a, b, true))])
    }

    fn sparse(&self) -> Option<&SparseChoice> {
        self.choice.as_ref()
    }
}
