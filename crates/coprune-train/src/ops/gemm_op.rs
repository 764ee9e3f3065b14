//! `Gemm`: Y = α·A'·B' + β·C (A' = A or Aᵀ, B' likewise, C broadcast). Backward:
//! dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY, dC = β·Σ dY over the broadcast dims.

use crate::kernel::{input, needs, unbroadcast, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::gemm::{matmul, MatRef};
use coprune_runtime::LowerCtx;
use rayon::current_num_threads;

struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
    m: usize,
    k: usize,
    n: usize,
}

/// Lowers `Gemm`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let a = c.in_shape(0)?;
    let y = c.out_shape(0)?;
    let trans_a = c.node.attr_int("transA", 0)? != 0;
    let k = if trans_a { a[0] } else { a[1] };
    Ok(Box::new(Gemm {
        alpha: c.node.attr_float("alpha", 1.0)?,
        beta: c.node.attr_float("beta", 1.0)?,
        trans_a,
        trans_b: c.node.attr_int("transB", 0)? != 0,
        m: y[0],
        k,
        n: y[1],
    }))
}

impl Gemm {
    fn a<'a>(&self, a: &'a [f32]) -> MatRef<'a> {
        if self.trans_a {
            MatRef::new(a, self.k, self.m).t()
        } else {
            MatRef::new(a, self.m, self.k)
        }
    }

    fn b<'a>(&self, b: &'a [f32]) -> MatRef<'a> {
        if self.trans_b {
            MatRef::new(b, self.n, self.k).t()
        } else {
            MatRef::new(b, self.k, self.n)
        }
    }
}

fn scale(v: &mut [f32], s: f32) {
    if s != 1.0 {
        v.iter_mut().for_each(|x| *x *= s);
    }
}

impl GradKernel for Gemm {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let (a, b) = (input(x, 0)?, input(x, 1)?);
        let (m, n) = (self.m, self.n);
        let mut y = vec![0f32; m * n];
        matmul(
            self.a(&a.data),
            self.b(&b.data),
            &mut y,
            false,
            current_num_threads(),
        );
        scale(&mut y, self.alpha);
        if let Some(c) = x.get(2).copied().flatten() {
            for (o, v) in y.iter_mut().zip(broadcast2(&c.data, &c.shape, m, n)) {
                *o += self.beta * v;
            }
        }
        Ok(Forward::one(Buf::new(vec![m, n], y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let (a, b) = (input(x, 0)?, input(x, 1)?);
        let (m, k, n) = (self.m, self.k, self.n);
        let g = MatRef::new(&dy[0].data, m, n);
        let t = current_num_threads();
        let mut out = vec![None; x.len()];
        if needs(need, 0) {
            let mut da = vec![0f32; m * k];
            if self.trans_a {
                // dA (k×m) = B'·dYᵀ
                matmul(self.b(&b.data), g.t(), &mut da, false, t);
            } else {
                matmul(g, self.b(&b.data).t(), &mut da, false, t);
            }
            scale(&mut da, self.alpha);
            out[0] = Some(Buf::new(a.shape.clone(), da));
        }
        if needs(need, 1) {
            let mut db = vec![0f32; k * n];
            if self.trans_b {
                // dB (n×k) = dYᵀ·A'
                matmul(g.t(), self.a(&a.data), &mut db, false, t);
            } else {
                matmul(self.a(&a.data).t(), g, &mut db, false, t);
            }
            scale(&mut db, self.alpha);
            out[1] = Some(Buf::new(b.shape.clone(), db));
        }
        if needs(need, 2) {
            if let Some(c) = x.get(2).copied().flatten() {
                let mut dc = unbroadcast(&dy[0].data, &[m, n], &c.shape);
                scale(&mut dc, self.beta);
                out[2] = Some(Buf::new(c.shape.clone(), dc));
            }
        }
        Ok(out)
    }
}

/// `c` (shape broadcastable to [m, n]) expanded to m·n values.
fn broadcast2(c: &[f32], shape: &[usize], m: usize, n: usize) -> Vec<f32> {
    let full: Vec<usize> = std::iter::repeat_n(1, 2 - shape.len().min(2))
        .chain(shape.iter().copied())
        .collect();
    let (rs, cs) = (
        if full[0] == 1 { 0 } else { full[1] },
        if full[1] == 1 { 0 } else { 1 },
    );
    (0..m * n).map(|i| c[(i / n) * rs + (i % n) * cs]).collect()
}
