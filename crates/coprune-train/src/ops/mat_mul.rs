//! `MatMul` for the shapes networks train with: A [..., M, K] × B [K, N] (a weight; A's leading
//! dims are flattened into rows), or both of rank ≥ 3 with equal batch dims (attention).
//! Backward: dA = dY·Bᵀ, dB = Aᵀ·dY (summed over the flattened rows or per batch).

use crate::kernel::{input, needs, unsupported, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::gemm::{matmul, MatRef};
use coprune_runtime::LowerCtx;
use rayon::current_num_threads;

struct MatMul {
    /// Independent products (1 when B is 2-D).
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    y: Vec<usize>,
}

/// Lowers `MatMul`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let a = c.in_shape(0)?;
    let b = c.in_shape(1)?;
    let y = c.out_shape(0)?;
    if a.len() < 2 || b.len() < 2 {
        return Err(unsupported(c, " (1-D operands)"));
    }
    let k = a[a.len() - 1];
    let n = b[b.len() - 1];
    let (batch, m) = if b.len() == 2 {
        (1, a[..a.len() - 1].iter().product())
    } else if a.len() == b.len() && a[..a.len() - 2] == b[..b.len() - 2] {
        (a[..a.len() - 2].iter().product(), a[a.len() - 2])
    } else {
        return Err(unsupported(
            c,
            &format!(" (broadcast batch dims {a:?} × {b:?})"),
        ));
    };
    Ok(Box::new(MatMul { batch, m, k, n, y }))
}

impl GradKernel for MatMul {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let (a, b) = (input(x, 0)?, input(x, 1)?);
        let (m, k, n) = (self.m, self.k, self.n);
        let mut y = vec![0f32; self.batch * m * n];
        let t = current_num_threads();
        for i in 0..self.batch {
            matmul(
                MatRef::new(&a.data[i * m * k..(i + 1) * m * k], m, k),
                MatRef::new(&b.data[i * k * n..(i + 1) * k * n], k, n),
                &mut y[i * m * n..(i + 1) * m * n],
                false,
                t,
            );
        }
        Ok(Forward::one(Buf::new(self.y.clone(), y)))
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
        let t = current_num_threads();
        let mut out = vec![None; x.len()];
        let g = &dy[0].data;
        if needs(need, 0) {
            let mut da = vec![0f32; a.len()];
            for i in 0..self.batch {
                matmul(
                    MatRef::new(&g[i * m * n..(i + 1) * m * n], m, n),
                    MatRef::new(&b.data[i * k * n..(i + 1) * k * n], k, n).t(),
                    &mut da[i * m * k..(i + 1) * m * k],
                    false,
                    t,
                );
            }
            out[0] = Some(Buf::new(a.shape.clone(), da));
        }
        if needs(need, 1) {
            let mut db = vec![0f32; b.len()];
            for i in 0..self.batch {
                matmul(
                    MatRef::new(&a.data[i * m * k..(i + 1) * m * k], m, k).t(),
                    MatRef::new(&g[i * m * n..(i + 1) * m * n], m, n),
                    &mut db[i * k * n..(i + 1) * k * n],
                    false,
                    t,
                );
            }
            out[1] = Some(Buf::new(b.shape.clone(), db));
        }
        Ok(out)
    }
}
