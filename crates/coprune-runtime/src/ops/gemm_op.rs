//! `Gemm` kernel: Y = alpha·op(A)·op(B) + beta·C.

use crate::dense::ConstB;
use crate::gemm::{matmul, MatRef};
use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::packed::Epilogue;
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
    /// beta·C transposed (N×M), the sparse path's starting value, unless C is `bias`.
    c_t: Option<Vec<f32>>,
    /// beta·C when its rows are all the same (a bias per output column, \[n\] or \[1, n\]):
    /// the sparse path adds it as it stores Y.
    bias: Option<Vec<f32>>,
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
        bias: None,
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
            g.bias =
                g.c.as_ref()
                    .filter(|c| n > 0 && c.chunks_exact(n).all(|r| r == &c[..n]))
                    .map(|c| c[..n].to_vec());
            g.c_t = g.c.as_ref().filter(|_| g.bias.is_none()).map(|c| {
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
    /// Y from A and (when not constant) B, with the fused Relu/Clip; `use_sparse` picks the
    /// sparse B when there is one.
    fn compute(&self, a: &[f32], b: &[f32], use_sparse: bool) -> Vec<f32> {
        let sparse = self.sparse.as_ref().filter(|_| use_sparse);
        if let (Some(sw), true) = (sparse, self.alpha == 1.0) {
            // The transposed product's store back writes every element, adding a C that is a
            // bias per output column and clamping in the same pass (separate passes over Y were
            // a fifth of a 90%-sparse MLP's time); any other C is where the product starts.
            let mut y = crate::buffers::take(self.m * self.n);
            let (init, bias) = match &self.bias {
                Some(b) => (None, Some(&b[..])),
                None => (self.c_t.as_deref(), None),
            };
            let (lo, hi) = self
                .post
                .map_or((f32::NEG_INFINITY, f32::INFINITY), |p| (p.lo, p.hi));
            let epi = Epilogue {
                bias,
                lo,
                hi,
                cols: None,
            };
            let epi = (bias.is_some() || self.post.is_some()).then_some(&epi);
            sw.matmul_t(a, self.m, init, epi, &mut y, self.threads);
            return y;
        }
        let mut y = self.product(a, b, sparse);
        if let Some(p) = &self.post {
            p.apply(&mut y);
        }
        y
    }

    /// `compute` but for the Relu/Clip, on the paths that do not fuse it.
    fn product(&self, a: &[f32], b: &[f32], sparse: Option<&SparseWeights>) -> Vec<f32> {
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
            Some(c) => c.clone(),
            _ => vec![0f32; self.m * self.n],
        };
        if let Some(sw) = sparse {
            // alpha ≠ 1 (`compute` takes the others).
            let mut t = crate::buffers::take(self.m * self.n);
            sw.matmul_t(a, self.m, None, None, &mut t, self.threads);
            y.iter_mut().zip(&t).for_each(|(o, v)| *o += self.alpha * v);
            crate::buffers::recycle(t);
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
        let y = self.compute(a, b, true);
        Ok(vec![Value::f32(vec![self.m, self.n], y)])
    }

    fn sparse(&self) -> Option<&SparseChoice> {
        self.choice.as_ref()
    }
}
