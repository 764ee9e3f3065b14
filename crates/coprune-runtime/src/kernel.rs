//! The kernel trait and what a lowering sees.

use crate::{Result, RuntimeError, Value};
use coprune_ir::{Fact, Node, Tensor};

/// One lowered node, ready to run.
pub trait Kernel: Send + Sync {
    /// Computes the outputs from the inputs (`None` for omitted optional inputs).
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>>;

    /// For kernels with a constant weight that has zeros: whether the sparse path was chosen.
    fn sparse(&self) -> Option<&crate::sparse::SparseChoice> {
        None
    }
}

/// What a lowering function gets: the node, concrete input/output facts, constant inputs.
pub struct LowerCtx<'a> {
    pub node: &'a Node,
    pub inputs: Vec<Option<&'a Fact>>,
    pub outputs: Vec<&'a Fact>,
    pub constants: Vec<Option<&'a Tensor>>,
    /// Threads for data-parallel kernels.
    pub threads: usize,
    /// Whether sparse kernels may be used (default: timed per layer).
    pub sparse: crate::sparse::SparseMode,
    /// An activation fused into this node's output (Conv followed by Relu or Clip).
    pub post: Option<Post>,
    /// A residual Add fused into this node (a Conv): the node's last input is added to its
    /// output, before `post`.
    pub residual: bool,
    /// Input 0 (and a fused residual, when `nhwc_out`) holds its [N, C, H, W] value
    /// channels-last, as `[N][H][W][C]` (see `layout`): only for the ops that read it so.
    pub nhwc_in: bool,
    /// Output 0 is written channels-last.
    pub nhwc_out: bool,
}

/// A clamp applied to a kernel's output in place of a separate Relu/Clip pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Post {
    pub lo: f32,
    pub hi: f32,
}

impl Post {
    /// `v` clamped to `[lo, hi]` (a NaN becomes `lo`, as `f32::max` does).
    #[inline(always)]
    pub fn clamp(&self, v: f32) -> f32 {
        v.max(self.lo).min(self.hi)
    }

    /// Clamps every element.
    pub fn apply(&self, y: &mut [f32]) {
        for v in y {
            *v = self.clamp(*v);
        }
    }
}

impl<'a> LowerCtx<'a> {
    /// The context of `node` from whole-graph inference and the graph's constants.
    pub fn new(
        node: &'a Node,
        inferred: &'a coprune_ir::Inferred,
        consts: &'a std::collections::HashMap<String, std::borrow::Cow<'_, Tensor>>,
        threads: usize,
    ) -> LowerCtx<'a> {
        LowerCtx {
            node,
            inputs: inferred.input_facts(node),
            outputs: node
                .outputs
                .iter()
                .filter_map(|o| inferred.facts.get(o))
                .collect(),
            constants: node
                .inputs
                .iter()
                .map(|v| consts.get(v).map(|t| &**t))
                .collect(),
            threads,
            sparse: Default::default(),
            post: None,
            residual: false,
            nhwc_in: false,
            nhwc_out: false,
        }
    }

    /// Concrete dims of input `i`.
    pub fn in_shape(&self, i: usize) -> Result<Vec<usize>> {
        let f = self
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.unsupported(&format!(" (input {i} missing)")))?;
        concrete(&f.shape).ok_or_else(|| self.unsupported(" (symbolic shape)"))
    }

    /// Concrete dims of output `i`.
    pub fn out_shape(&self, i: usize) -> Result<Vec<usize>> {
        let f = self
            .outputs
            .get(i)
            .ok_or_else(|| self.unsupported(&format!(" (output {i} missing)")))?;
        concrete(&f.shape).ok_or_else(|| self.unsupported(" (symbolic shape)"))
    }

    /// Constant input `i` as f32 values.
    pub fn const_f32(&self, i: usize) -> Option<Vec<f32>> {
        self.constants
            .get(i)
            .copied()
            .flatten()
            .and_then(|t| t.to_f32_vec().ok())
    }

    /// The unsupported-op error for this node.
    pub fn unsupported(&self, detail: &str) -> RuntimeError {
        RuntimeError::Unsupported {
            node: self.node.display_name().to_string(),
            op: self.node.op_type.clone(),
            detail: detail.to_string(),
        }
    }
}

/// Dims as usize when all are known and non-negative.
pub fn concrete(shape: &[coprune_ir::Dim]) -> Option<Vec<usize>> {
    shape
        .iter()
        .map(|d| d.as_known().and_then(|v| usize::try_from(v).ok()))
        .collect()
}

/// Input `i` (any type), or an error.
pub fn value_in<'a>(inputs: &[Option<&'a Value>], i: usize) -> Result<&'a Value> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| RuntimeError::Input {
            name: format!("#{i}"),
            msg: "missing".into(),
        })
}

/// The f32 input `i`, or an error.
pub fn f32_in<'a>(inputs: &[Option<&'a Value>], i: usize) -> Result<&'a [f32]> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .and_then(Value::as_f32)
        .ok_or_else(|| RuntimeError::Input {
            name: format!("#{i}"),
            msg: "expected an f32 tensor".into(),
        })
}
