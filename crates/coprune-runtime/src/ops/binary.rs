//! Broadcasting binary kernels share this (numpy rules).

use crate::kernel::{f32_in, Kernel, LowerCtx, Post};
use crate::{Result, Value};

/// `f(a, b)` with broadcasting to the output shape (fixed at lowering).
pub struct Binary<F: Fn(f32, f32) -> f32 + Send + Sync> {
    f: F,
    out: Vec<usize>,
    a_strides: Vec<usize>,
    b_strides: Vec<usize>,
    /// A Relu/Clip fused into the output (the session fuses one after a residual Add).
    post: Option<Post>,
    /// Same-shape operands run in chunks on the session's threads when > 1.
    threads: usize,
}

/// Elements per parallel task of a same-shape binary op (64 KiB of output).
const CHUNK: usize = 16 << 10;

/// Strides of `shape` broadcast to `out` (0 along broadcast axes).
pub(crate) fn bstrides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let off = out.len() - shape.len();
    let mut strides = vec![0; out.len()];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        strides[off + i] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}

impl<F: Fn(f32, f32) -> f32 + Send + Sync> Binary<F> {
    /// Lowers a binary op with function `f`.
    pub fn lower(c: &LowerCtx, f: F) -> Result<Binary<F>> {
        let out = c.out_shape(0)?;
        let (a, b) = (c.in_shape(0)?, c.in_shape(1)?);
        Ok(Binary {
            f,
            a_strides: bstrides(&a, &out),
            b_strides: bstrides(&b, &out),
            out,
            post: c.post,
            threads: c.threads,
        })
    }
}

impl<F: Fn(f32, f32) -> f32 + Send + Sync> Binary<F> {
    /// `o[j] = g(f(a[j], b[j]))` over one chunk of same-shape operands, or with `b[0]` for
    /// every `j` when `b` holds one value.
    #[inline(always)]
    fn chunk(&self, o: &mut [f32], a: &[f32], b: &[f32], g: impl Fn(f32) -> f32) {
        if let [y] = b {
            for (o, &x) in o.iter_mut().zip(a) {
                *o = g((self.f)(x, *y));
            }
        } else {
            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                *o = g((self.f)(x, y));
            }
        }
    }
}

impl<F: Fn(f32, f32) -> f32 + Send + Sync> Kernel for Binary<F> {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let (a, b) = (f32_in(inputs, 0)?, f32_in(inputs, 1)?);
        let n: usize = self.out.iter().product();
        if a.len() == n && (b.len() == n || b.len() == 1) {
            // A recycled output (a residual Add's is as large as the convolutions' around it).
            let mut out = crate::buffers::take(n);
            // Without a fused clamp the values pass unchanged (NaN stays NaN).
            let part = |i: usize, o: &mut [f32]| {
                let a = &a[i * CHUNK..][..o.len()];
                let b = if b.len() == n {
                    &b[i * CHUNK..][..o.len()]
                } else {
                    &b[..1]
                };
                match self.post {
                    None => self.chunk(o, a, b, |v| v),
                    Some(p) => self.chunk(o, a, b, |v| p.clamp(v)),
                }
            };
            if self.threads > 1 && n >= 2 * CHUNK {
                crate::pool::chunks_mut(&mut out, CHUNK, part);
            } else {
                out.chunks_mut(CHUNK)
                    .enumerate()
                    .for_each(|(i, o)| part(i, o));
            }
            return Ok(vec![Value::f32(self.out.clone(), out)]);
        }
        let mut out = Vec::with_capacity(n);
        let post = |v: f32| self.post.map_or(v, |p| p.clamp(v));
        let r = self.out.len();
        let mut idx = vec![0usize; r];
        let (mut ia, mut ib) = (0usize, 0usize);
        for _ in 0..n {
            out.push(post((self.f)(a[ia], b[ib])));
            // Odometer increment over the output index.
            for d in (0..r).rev() {
                idx[d] += 1;
                ia += self.a_strides[d];
                ib += self.b_strides[d];
                if idx[d] < self.out[d] {
                    break;
                }
                ia -= self.a_strides[d] * self.out[d];
                ib -= self.b_strides[d] * self.out[d];
                idx[d] = 0;
            }
        }
        Ok(vec![Value::f32(self.out.clone(), out)])
    }
}

/// `data` (of a shape whose broadcast strides to `out` are `strides`) copied out to `out`.
pub(crate) fn broadcast_to<T: Copy>(data: &[T], strides: &[usize], out: &[usize]) -> Vec<T> {
    let n: usize = out.iter().product();
    let mut y = Vec::with_capacity(n);
    let r = out.len();
    let mut idx = vec![0usize; r];
    let mut at = 0usize;
    for _ in 0..n {
        y.push(data[at]);
        for d in (0..r).rev() {
            idx[d] += 1;
            at += strides[d];
            if idx[d] < out[d] {
                break;
            }
            at -= strides[d] * out[d];
            idx[d] = 0;
        }
    }
    y
}
