//! CPU lowerings, one file per op (a few ops that only relabel shapes share `view`), and the
//! registry from op type to lowering.

pub mod add;
pub mod average_pool;
pub mod batch_normalization;
pub mod binary;
pub mod cast;
pub mod clip;
pub mod concat;
pub mod conv;
pub mod div;
pub mod gather;
pub mod gemm_op;
pub mod global_pool;
pub mod hard_sigmoid;
pub mod hard_swish;
pub mod leaky_relu;
pub mod mat_mul;
pub mod max_pool;
pub mod mul;
pub mod pool;
pub mod prelu;
pub mod relu;
pub mod sigmoid;
pub mod softmax;
pub mod split;
pub mod sub;
pub mod tanh;
pub mod transpose;
pub mod unary;
pub mod view;

use crate::kernel::{Kernel, LowerCtx};
use crate::Result;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Builds a kernel for one node.
pub type Lower = fn(&LowerCtx) -> Result<Box<dyn Kernel>>;

/// Lowerings by op type (default domain).
pub fn registry() -> &'static HashMap<&'static str, Lower> {
    static R: OnceLock<HashMap<&'static str, Lower>> = OnceLock::new();
    R.get_or_init(|| {
        let table: &[(&'static str, Lower)] = &[
            ("Add", add::lower),
            ("AveragePool", average_pool::lower),
            ("BatchNormalization", batch_normalization::lower),
            ("Cast", cast::lower),
            ("Clip", clip::lower),
            ("Concat", concat::lower),
            ("Conv", conv::lower),
            ("Div", div::lower),
            ("Dropout", view::lower),
            ("Flatten", view::lower),
            ("Gather", gather::lower),
            ("Gemm", gemm_op::lower),
            ("GlobalAveragePool", global_pool::lower_average),
            ("GlobalMaxPool", global_pool::lower_max),
            ("HardSigmoid", hard_sigmoid::lower),
            ("HardSwish", hard_swish::lower),
            ("Identity", view::lower),
            ("LeakyRelu", leaky_relu::lower),
            ("MatMul", mat_mul::lower),
            ("MaxPool", max_pool::lower),
            ("Mul", mul::lower),
            ("PRelu", prelu::lower),
            ("Relu", relu::lower),
            ("Reshape", view::lower),
            ("Sigmoid", sigmoid::lower),
            ("Softmax", softmax::lower),
            ("Split", split::lower),
            ("Squeeze", view::lower),
            ("Sub", sub::lower),
            ("Tanh", tanh::lower),
            ("Transpose", transpose::lower),
            ("Unsqueeze", view::lower),
        ];
        table.iter().copied().collect()
    })
}
