//! Channel rules: how the indices along a value's channel axis flow through an op. The dependency
//! graph in coprune-prune is built from these; an op without a rule blocks pruning through itself
//! and the rule says why.

use crate::Fact;

/// What an op sees when asked for its rule: the facts of its inputs/outputs, which inputs are
/// constants, and for each variable input the axis that carries tracked channels (if any).
#[derive(Debug, Clone, Copy)]
pub struct ChannelCtx<'a> {
    pub inputs: &'a [Option<&'a Fact>],
    pub outputs: &'a [Fact],
    /// Per input: whether it is a constant (initializer, Constant node, alias of either).
    pub constant: &'a [bool],
    /// Per input: the tracked channel axis, `None` when the input carries no tracked channels.
    pub chan_axis: &'a [Option<usize>],
}

impl ChannelCtx<'_> {
    /// The tracked channel axis of input `i`.
    pub fn axis(&self, i: usize) -> Option<usize> {
        self.chan_axis.get(i).copied().flatten()
    }

    /// Whether input `i` is a constant.
    pub fn is_const(&self, i: usize) -> bool {
        self.constant.get(i).copied().unwrap_or(false)
    }

    /// Rank of input `i` (0 when absent).
    pub fn rank(&self, i: usize) -> usize {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .map_or(0, |f| f.rank())
    }
}

/// How channels pass through one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRule {
    /// Channels cannot pass; everything reaching this op stays unpruned, for this reason.
    Block(String),
    /// The op reads only shapes of its inputs (Shape, Size): no coupling, nothing to slice.
    Passive,
    /// Element-wise with numpy broadcasting: variable inputs' channel axes align onto one output
    /// axis and are coupled index by index; constant inputs of full size on that axis are sliced.
    Elementwise,
    /// Element-wise per channel along axis 1 (BatchNormalization, InstanceNormalization): the
    /// listed constant inputs are per-channel vectors (axis 0).
    PerChannel { params: Vec<usize> },
    /// GroupNormalization over axis 1: channels leave in whole groups (the statistics of the
    /// groups kept do not change) and `num_groups` follows. The listed constant inputs hold one
    /// value per channel (opset 21) or per group (opset 18).
    GroupNorm { groups: usize, params: Vec<usize> },
    /// Element-wise like [`ChannelRule::Elementwise`] (constant scale/bias vectors are sliced),
    /// but the op normalises across the channel axis (LayerNormalization over the hidden size):
    /// removing channels changes the statistics of the kept ones, so the pruned model is not
    /// exactly the masked one. The reason is reported with the group; fine-tuning recovers it.
    Renormalized(String),
    /// The channel axis moves: output 0 carries input 0's channels on `axis` (Squeeze,
    /// Unsqueeze, Transpose).
    Moved { axis: usize },
    /// A layer with a constant weight: it reads input 0's channels (`in_axis`) through the weight's
    /// `w_in_axis` and creates new channels on output 0's `out_axis`, one per index of
    /// `w_out_axis`. `bias` is a per-output-channel vector; `out_broadcast` a constant added with
    /// numpy broadcasting to the output (Gemm's C).
    Dense {
        weight: usize,
        w_in_axis: usize,
        w_out_axis: usize,
        in_axis: usize,
        out_axis: usize,
        bias: Option<usize>,
        out_broadcast: Option<usize>,
    },
    /// Depthwise convolution: output channel j comes from input channel j / multiplier; the
    /// weight's axis 0 and the bias follow the output channels, and `group` becomes the new count.
    /// `transposed` (ConvTranspose, weight `[C, multiplier, k…]`): axis 0 follows the inputs.
    Depthwise {
        weight: usize,
        bias: Option<usize>,
        multiplier: usize,
        transposed: bool,
    },
    /// Grouped convolution (1 < groups < channels): input channel position p of every group is
    /// read through weight axis 1 position p, so those channels go together, and output channel
    /// q of every group likewise; each group keeps the same size and `group` is unchanged.
    /// `transposed` (ConvTranspose, weight `[C, M/group, k…]`): weight axis 0 holds every input
    /// channel and axis 1 the output positions of one group.
    Grouped {
        weight: usize,
        bias: Option<usize>,
        groups: usize,
        transposed: bool,
    },
    /// Concatenation along `axis`.
    Concat { axis: usize },
    /// Split along `axis` (sizes updated when channels are removed).
    Split { axis: usize },
    /// Some channels of `axis`, in output order (Slice, any step): `picks[k]` is the input
    /// position of output channel k. Entry `index` of the op's starts/ends/steps is recomputed
    /// when channels are removed (or the op becomes a Gather when the kept ones are no longer
    /// evenly spaced).
    Range {
        axis: usize,
        picks: Vec<usize>,
        index: usize,
    },
    /// [N, C, rest…] → [N, C·inner]: channel c becomes features c·inner … c·inner+inner-1.
    Flatten { inner: usize },
}
