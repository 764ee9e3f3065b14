//! Element-wise binary ops with numpy broadcasting (`Add`, `Sub`, `Mul`, `Div`); gradients of
//! broadcast inputs are summed back to their shapes.

use crate::kernel::{expand, input, needs, unbroadcast, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;

/// Which operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Sub,
    Mul,
    Div,
}

struct Binary {
    kind: Kind,
    y: Vec<usize>,
}

/// Lowers a binary op of `kind`.
pub fn lower(c: &LowerCtx, kind: Kind) -> Result<Box<dyn GradKernel>> {
    Ok(Box::new(Binary {
        kind,
        y: c.out_shape(0)?,
    }))
}

impl GradKernel for Binary {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let (a, b) = (input(x, 0)?, input(x, 1)?);
        let ea = expand(&a.data, &a.shape, &self.y);
        let eb = expand(&b.data, &b.shape, &self.y);
        let f = match self.kind {
            Kind::Add => |p: f32, q: f32| p + q,
            Kind::Sub => |p: f32, q: f32| p - q,
            Kind::Mul => |p: f32, q: f32| p * q,
            Kind::Div => |p: f32, q: f32| p / q,
        };
        let y = ea.iter().zip(&eb).map(|(&p, &q)| f(p, q)).collect();
        Ok(Forward::one(Buf::new(self.y.clone(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let (a, b) = (input(x, 0)?, input(x, 1)?);
        let g = &dy[0].data;
        let mut out = vec![None; x.len()];
        let mut put = |i: usize, shape: &[usize], full: Vec<f32>| {
            out[i] = Some(Buf::new(shape.to_vec(), unbroadcast(&full, &self.y, shape)));
        };
        if needs(need, 0) {
            let full = match self.kind {
                Kind::Add | Kind::Sub => g.clone(),
                Kind::Mul => mul(g, &expand(&b.data, &b.shape, &self.y), 1.0),
                Kind::Div => {
                    let eb = expand(&b.data, &b.shape, &self.y);
                    g.iter().zip(&eb).map(|(&d, &q)| d / q).collect()
                }
            };
            put(0, &a.shape, full);
        }
        if needs(need, 1) {
            let full = match self.kind {
                Kind::Add => g.clone(),
                Kind::Sub => g.iter().map(|v| -v).collect(),
                Kind::Mul => mul(g, &expand(&a.data, &a.shape, &self.y), 1.0),
                Kind::Div => {
                    // d(a/b)/db = −y/b
                    let eb = expand(&b.data, &b.shape, &self.y);
                    g.iter()
                        .zip(&y[0].data)
                        .zip(&eb)
                        .map(|((&d, &yv), &q)| -d * yv / q)
                        .collect()
                }
            };
            put(1, &b.shape, full);
        }
        Ok(out)
    }
}

fn mul(p: &[f32], q: &[f32], s: f32) -> Vec<f32> {
    p.iter().zip(q).map(|(a, b)| a * b * s).collect()
}
