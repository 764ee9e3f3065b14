//! CPU lowerings, one file per op (a few ops that only relabel shapes share `view`), and the
//! registry from op type to lowering.

pub mod abs;
pub mod add;
pub mod average_pool;
pub mod batch_normalization;
pub mod binary;
pub mod cast;
pub mod clip;
pub mod concat;
pub mod constant_of_shape;
pub mod conv;
pub mod depthwise;
pub mod depthwise_planar;
pub mod div;
pub mod erf;
pub mod exp;
pub mod expand;
pub mod gather;
pub mod gelu;
pub mod gemm_op;
pub mod global_pool;
pub mod gru;
pub mod hard_sigmoid;
pub mod hard_swish;
pub mod layer_normalization;
pub mod leaky_relu;
pub mod log;
pub mod lstm;
pub mod mat_mul;
pub mod max;
pub mod max_pool;
pub mod min;
pub mod mul;
pub mod neg;
pub mod pool;
pub mod pow;
pub mod prelu;
pub mod reciprocal;
pub mod recurrent;
pub mod reduce;
pub mod reduce_mean;
pub mod reduce_sum;
pub mod relu;
pub mod sigmoid;
pub mod slice;
pub mod softmax;
pub mod split;
pub mod sqrt;
pub mod sub;
pub mod tanh;
pub mod transpose;
pub mod unary;
pub mod view;
pub mod where_op;

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
            ("Abs", abs::lower),
            ("Add", add::lower),
            ("AveragePool", average_pool::lower),
            ("BatchNormalization", batch_normalization::lower),
            ("Cast", cast::lower),
            ("Clip", clip::lower),
            ("Concat", concat::lower),
            ("ConstantOfShape", constant_of_shape::lower),
            ("Conv", conv::lower),
            ("Div", div::lower),
            ("Dropout", view::lower),
            ("Erf", erf::lower),
            ("Exp", exp::lower),
            ("Expand", expand::lower),
            ("Flatten", view::lower),
            ("Gather", gather::lower),
            ("Gelu", gelu::lower),
            ("Gemm", gemm_op::lower),
            ("GlobalAveragePool", global_pool::lower_average),
            ("GlobalMaxPool", global_pool::lower_max),
            ("GRU", gru::lower),
            ("HardSigmoid", hard_sigmoid::lower),
            ("HardSwish", hard_swish::lower),
            ("Identity", view::lower),
            ("LSTM", lstm::lower),
            ("LayerNormalization", layer_normalization::lower),
            ("LeakyRelu", leaky_relu::lower),
            ("Log", log::lower),
            ("MatMul", mat_mul::lower),
            ("Max", max::lower),
            ("MaxPool", max_pool::lower),
            ("Min", min::lower),
            ("Mul", mul::lower),
            ("Neg", neg::lower),
            ("PRelu", prelu::lower),
            ("Pow", pow::lower),
            ("Reciprocal", reciprocal::lower),
            ("ReduceMean", reduce_mean::lower),
            ("ReduceSum", reduce_sum::lower),
            ("Relu", relu::lower),
            ("Reshape", view::lower),
            ("Sigmoid", sigmoid::lower),
            ("Slice", slice::lower),
            ("Softmax", softmax::lower),
            ("Split", split::lower),
            ("Sqrt", sqrt::lower),
            ("Squeeze", view::lower),
            ("Sub", sub::lower),
            ("Tanh", tanh::lower),
            ("Transpose", transpose::lower),
            ("Unsqueeze", view::lower),
            ("Where", where_op::lower),
        ];
        table.iter().copied().collect()
    })
}

/// Splits `src` into its even-indexed elements (into `even`, ⌈len/2⌉ of them) and odd-indexed
/// ones (into `odd`, ⌊len/2⌋): one pass that the compiler vectorizes, where a strided walk per
/// destination is element by element (stride-2 pooling and convolution inputs).
pub(crate) fn deinterleave2(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(src.chunks_exact(2)) {
        (*e, *o) = (pair[0], pair[1]);
    }
    if src.len() % 2 == 1 {
        even[src.len() / 2] = src[src.len() - 1];
    }
}
