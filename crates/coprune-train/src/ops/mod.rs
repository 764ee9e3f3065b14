//! Training lowerings (forward + backward), one file per op; ops that only relabel the shape
//! share `view`, element-wise ones `pointwise` and `binary`, the 2-D pools `pool`.

pub mod add;
pub mod average_pool;
pub mod batch_normalization;
pub mod binary;
pub mod clip;
pub mod concat;
pub mod conv;
pub mod div;
pub mod gemm_op;
pub mod global_average_pool;
pub mod hard_sigmoid;
pub mod hard_swish;
pub mod layer_normalization;
pub mod leaky_relu;
pub mod mat_mul;
pub mod max_pool;
pub mod mul;
pub mod pointwise;
pub mod pool;
pub mod relu;
pub mod sigmoid;
pub mod softmax;
pub mod split;
pub mod sub;
pub mod tanh;
pub mod view;

use crate::kernel::GradKernel;
use crate::Result;
use coprune_runtime::LowerCtx;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Builds a trainable kernel for one node.
pub type Lower = fn(&LowerCtx) -> Result<Box<dyn GradKernel>>;

/// Training lowerings by op type (default domain).
pub fn registry() -> &'static HashMap<&'static str, Lower> {
    static R: OnceLock<HashMap<&'static str, Lower>> = OnceLock::new();
    R.get_or_init(|| {
        let table: &[(&'static str, Lower)] = &[
            ("Add", add::lower),
            ("AveragePool", average_pool::lower),
            ("BatchNormalization", batch_normalization::lower),
            ("Clip", clip::lower),
            ("Concat", concat::lower),
            ("Conv", conv::lower),
            ("Div", div::lower),
            ("Dropout", view::lower),
            ("Flatten", view::lower),
            ("Gemm", gemm_op::lower),
            ("GlobalAveragePool", global_average_pool::lower),
            ("HardSigmoid", hard_sigmoid::lower),
            ("HardSwish", hard_swish::lower),
            ("Identity", view::lower),
            ("LayerNormalization", layer_normalization::lower),
            ("LeakyRelu", leaky_relu::lower),
            ("MatMul", mat_mul::lower),
            ("MaxPool", max_pool::lower),
            ("Mul", mul::lower),
            ("Relu", relu::lower),
            ("Reshape", view::lower),
            ("Sigmoid", sigmoid::lower),
            ("Softmax", softmax::lower),
            ("Split", split::lower),
            ("Squeeze", view::lower),
            ("Sub", sub::lower),
            ("Tanh", tanh::lower),
            ("Unsqueeze", view::lower),
        ];
        table.iter().copied().collect()
    })
}
