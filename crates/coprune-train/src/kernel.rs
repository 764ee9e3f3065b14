//! The trainable-kernel trait: a forward pass that keeps what the backward pass needs (inputs
//! and outputs are kept by the graph), and the backward pass itself.

use crate::{Result, TrainError};
use coprune_runtime::LowerCtx;

/// A dense row-major f32 tensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buf {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Buf {
    /// A tensor from shape and data (lengths must agree).
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Buf {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Buf { shape, data }
    }

    /// Zeros of a shape.
    pub fn zeros(shape: &[usize]) -> Buf {
        Buf {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// What a forward pass returns: the outputs and, in training mode, new values for state inputs
/// (BatchNormalization's running statistics) as (input index, value).
#[derive(Debug, Default)]
pub struct Forward {
    pub outputs: Vec<Buf>,
    pub state: Vec<(usize, Buf)>,
}

impl Forward {
    /// One output, no state.
    pub fn one(y: Buf) -> Forward {
        Forward {
            outputs: vec![y],
            state: Vec::new(),
        }
    }
}

/// One node lowered for training.
pub trait GradKernel: Send + Sync {
    /// Computes the outputs. `x[i]` is `None` for omitted inputs and for non-float constants
    /// (shapes, axes), which a kernel reads when it is lowered. `train` selects training
    /// behaviour (batch statistics).
    fn forward(&self, x: &[Option<&Buf>], train: bool) -> Result<Forward>;

    /// Gradients of the inputs from the gradients of the outputs `dy` (zeros for outputs nothing
    /// depends on). Only inputs with `need[i]` must be computed; others may be `None`.
    fn backward(
        &self,
        x: &[Option<&Buf>],
        y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>>;
}

/// The input `i`, or an error naming it.
pub fn input<'a>(x: &[Option<&'a Buf>], i: usize) -> Result<&'a Buf> {
    x.get(i)
        .copied()
        .flatten()
        .ok_or_else(|| TrainError::Mismatch(format!("input {i} of a trained node is missing")))
}

/// The unsupported error for a node being lowered.
pub fn unsupported(c: &LowerCtx, detail: &str) -> TrainError {
    TrainError::Unsupported {
        node: c.node.display_name().to_string(),
        op: c.node.op_type.clone(),
        detail: detail.to_string(),
    }
}

/// Whether input `i` is needed.
pub fn needs(need: &[bool], i: usize) -> bool {
    need.get(i).copied().unwrap_or(false)
}

/// Sums `g` (shaped `from`, broadcast result) down to `to` (numpy broadcasting), for gradients
/// of broadcast inputs.
pub fn unbroadcast(g: &[f32], from: &[usize], to: &[usize]) -> Vec<f32> {
    if from == to {
        return g.to_vec();
    }
    let rank = from.len();
    let pad = rank - to.len();
    let to_full: Vec<usize> = std::iter::repeat_n(1, pad)
        .chain(to.iter().copied())
        .collect();
    let n_out: usize = to.iter().product();
    let mut out = vec![0f32; n_out];
    // Strides of the target (0 where broadcast).
    let mut strides = vec![0usize; rank];
    let mut acc = 1;
    for d in (0..rank).rev() {
        strides[d] = if to_full[d] == 1 { 0 } else { acc };
        acc *= to_full[d];
    }
    let mut idx = vec![0usize; rank];
    for &v in g {
        let o: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out[o] += v;
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < from[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// `v` (shape `shape`) expanded to `out` by numpy broadcasting.
pub fn expand(v: &[f32], shape: &[usize], out: &[usize]) -> Vec<f32> {
    if shape == out {
        return v.to_vec();
    }
    let rank = out.len();
    let pad = rank - shape.len();
    let mut strides = vec![0usize; rank];
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        strides[pad + d] = if shape[d] == 1 { 0 } else { acc };
        acc *= shape[d];
    }
    let n: usize = out.iter().product();
    let mut res = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    for _ in 0..n {
        res.push(v[off]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            off += strides[d];
            if idx[d] < out[d] {
                break;
            }
            off -= strides[d] * idx[d];
            idx[d] = 0;
        }
    }
    res
}
