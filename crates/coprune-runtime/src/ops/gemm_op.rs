//! `Gemm` kernel: Y = alpha·op(A)·op(B) + beta·C.

use crate::dense::ConstB;
use crate::gemm::{matmul, MatRef};
use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::sparse::{self, Isa, SparseChoice, SparseWeights};
use crate::{Result, Value};

struct Gemm {
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    /// beta·C broadcast to [m, n], precomputed when C is constant.
    c: Option<Vec<f32>>,
    /// A constant B (dropped once `dense` holds it).
    b: Option<Vec<f32>>,
    /// A constant B prepared for the product (without `transA`); else the `gemm` crate.
    dense: Option<ConstB>,
    isa: Isa,
    threads: usize,
    /// A constant B with enough zeros, compressed as op(B)ᵀ (N×K).
    sparse: Option<SparseWeights>,
    /// beta·C transposed (N×M), the sparse path's starting value.
    c_t: Option<Vec<f32>>,
    choice: Option<SparseChoice>,
    /// A Relu or Clip fused into the output.
    post: Option<crate::kernel::Post>,
}

/// Lowers `Gemm`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let a = c.in_shape(0)?;
    let y = c.out_shape(0)?;
    let trans_a = c.node.attr_int("transA", 0)? != 0;
    let trans_b = c.node.attr_int("transB", 0)? != 0;
    let (m, n) = (y[0], y[1]);
    let k = if trans_a { a[0] } else { a[1] };
    let beta = c.node.attr_float("beta", 1.0)?;
    let cc = match c.inputs.get(2).copied().flatten() {
        None => None,
        Some(f) => {
            let v = c
                .const_f32(2)
                .ok_or_else(|| c.unsupported(" (C computed at run time)"))?;
            let s: Vec<usize> = crate::kernel::concrete(&f.shape).unwrap_or_default();
            // Broadcast C ([n], [1, n], [m, 1], [m, n] or scalar) to [m, n].
            let (cm, cn) = match s.len() {
                0 => (1, 1),
                1 => (1, s[0]),
                _ => (s[0], s[1]),
            };
            let mut out = vec![0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    out[i * n + j] =
                        beta * v[(if cm == 1 { 0 } else { i }) * cn + if cn == 1 { 0 } else { j }];
                }
            }
            Some(out)
        }
    };
    let mut g = Gemm {
        m,
        k,
        n,
        trans_a,
        trans_b,
        alpha: c.node.attr_float("alpha", 1.0)?,
        c: cc,
        b: c.const_f32(1),
        dense: None,
        post: c.post,
        isa: Isa::detect(),
        threads: c.threads,
        sparse: None,
        c_t: None,
        choice: None,
    };
    if let Some(b) = g.b.as_ref().filter(|_| !trans_a) {
        g.dense = Some(ConstB::new(b, k, n, trans_b, m));
        let density = sparse::density(b);
        if density < 1.0 {
            g.choice = Some(SparseChoice {
                density,
                format: None,
                timed_ms: None,
            });
        }
        if density < 1.0 && sparse::candidate(c.sparse, density) {
            let rows = if trans_b {
                SparseWeights::for_matmul_t(b, n, k, m)
            } else {
                let mut bt = vec![0f32; n * k];
                sparse::transpose(b, k, n, &mut bt);
                SparseWeights::for_matmul_t(&bt, n, k, m)
            };
            let format = rows.format();
            g.sparse = Some(rows);
            g.c_t = g.c.as_ref().map(|c| {
                let mut t = vec![0f32; m * n];
                sparse::transpose(c, m, n, &mut t);
                t
            });
            let a = sparse::probe_input(m * k);
            let choice = sparse::settle(c.sparse, density, format, |on| {
                g.compute(&a, &[], on);
            });
            if choice.format.is_none() {
                g.sparse = None;
            }
            g.choice = Some(choice);
        }
    }
    if g.dense.is_some() {
        // The prepared copy is all the product reads: keep one copy of the weights.
        g.b = None;
    }
    Ok(Box::new(g))
}

impl Gemm {
    /// Y from A and (when not constant) B; `use_sparse` picks the sparse B when there is one.
    fn compute(&self, a: &[f32], b: &[f32], use_sparse: bool) -> Vec<f32> {
        let sparse = self.sparse.as_ref().filter(|_| use_sparse);
        if let (None, Some(cb)) = (sparse, &self.dense) {
            // The product overwrites every element; alpha and C come after.
            let mut y = crate::buffers::take(self.m * self.n);
            cb.product(self.isa, a, self.m, &mut y, self.threads);
            if self.alpha != 1.0 {
                y.iter_mut().for_each(|v| *v *= self.alpha);
            }
            if let Some(c) = &self.c {
                y.iter_mut().zip(c).for_each(|(o, c)| *o += c);
            }
            return y;
        }
        let mut y = match &self.c {
            // The sparse path starts from the transposed C instead.
            Some(c) if !(sparse.is_some() && self.alpha == 1.0) => c.clone(),
            _ => vec![0f32; self.m * self.n],
        };
        if let Some(sw) = sparse {
            if self.alpha == 1.0 {
                sw.matmul_t(a, self.m, self.c_t.as_deref(), &mut y, self.threads);
            } else {
                let mut t = vec![0f32; self.m * self.n];
                sw.matmul_t(a, self.m, None, &mut t, self.threads);
                y.iter_mut().zip(t).for_each(|(o, v)| *o += self.alpha * v);
            }
            return y;
        }
        let b = self.b.as_deref().unwrap_or(b);
        let am = if self.trans_a {
            MatRef::new(a, self.k, self.m).t()
        } else {
            MatRef::new(a, self.m, self.k)
        };
        let bm = if self.trans_b {
            MatRef::new(b, self.n, self.k).t()
        } else {
            MatRef::new(b, self.k, self.n)
        };
        if self.alpha == 1.0 {
            matmul(am, bm, &mut y, self.c.is_some(), self.threads);
        } else {
            let mut t = vec![0f32; self.m * self.n];
            matmul(am, bm, &mut t, false, self.threads);
            y.iter_mut().zip(t).for_each(|(o, v)| *o += self.alpha * v);
        }
        y
    }
}

impl Kernel for Gemm {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let a = f32_in(inputs, 0)?;
        let b = match (&self.b, &self.dense) {
            (None, None) => f32_in(inputs, 1)?,
            _ => &[][..],
        };
        let mut y = self.compute(a, b, true);
        if let Some(p) = &self.post {
            p.apply(&mut y);
        }
        Ok(vec![Value::f32(vec![self.m, self.n], y)])
    }

    fn sparse(&self) -> Option<&SparseChoice> {
        self.choice.as_ref()
    }
}
