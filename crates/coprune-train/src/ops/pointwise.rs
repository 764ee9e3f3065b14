//! Element-wise activations share this: forward `f(x)`, derivative `df(x, y)`.

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use rayon::prelude::*;

type F1 = Box<dyn Fn(f32) -> f32 + Send + Sync>;
type F2 = Box<dyn Fn(f32, f32) -> f32 + Send + Sync>;

/// An element-wise op with its derivative in terms of input and output.
pub struct Pointwise {
    f: F1,
    df: F2,
}

impl Pointwise {
    /// A boxed kernel from `f` and `df(x, y) = f'(x)`.
    pub fn boxed(
        f: impl Fn(f32) -> f32 + Send + Sync + 'static,
        df: impl Fn(f32, f32) -> f32 + Send + Sync + 'static,
    ) -> Box<dyn GradKernel> {
        Box::new(Pointwise {
            f: Box::new(f),
            df: Box::new(df),
        })
    }
}

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

impl GradKernel for Pointwise {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let x = input(x, 0)?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(CHUNK)
            .zip(x.data.par_chunks(CHUNK))
            .for_each(|(ys, xs)| {
                for (o, &v) in ys.iter_mut().zip(xs) {
                    *o = (self.f)(v);
                }
            });
        Ok(Forward::one(Buf::new(x.shape.clone(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        if !needs(need, 0) {
            return Ok(vec![None]);
        }
        let xb = input(x, 0)?;
        let mut dx = vec![0f32; xb.len()];
        dx.par_chunks_mut(CHUNK)
            .zip(xb.data.par_chunks(CHUNK))
            .zip(y[0].data.par_chunks(CHUNK))
            .zip(dy[0].data.par_chunks(CHUNK))
            .for_each(|(((d, xs), ys), gs)| {
                for (((o, &xv), &yv), &g) in d.iter_mut().zip(xs).zip(ys).zip(gs) {
                    *o = g * (self.df)(xv, yv);
                }
            });
        let mut out = vec![None; x.len()];
        out[0] = Some(Buf::new(xb.shape.clone(), dx));
        Ok(out)
    }
}
