//! The op set: one file per op under a family folder, each implementing [`crate::Op`], and the
//! registry that maps a node's op type to its constructor. The registry is a table, not a match
//! over behaviour: adding an op is one file plus one line here (see doc/adding-an-op.md).

pub mod activation;
pub mod math;
pub mod nn;
pub mod reduce;
pub mod shape;
pub mod util;

use crate::{IrError, Node, Op, Result};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Builds an op from a node's attributes, given the default-domain opset version.
pub type Ctor = fn(&Node, i64) -> Result<Box<dyn Op>>;

/// Every op with shape inference, by ONNX op type (default domain).
pub fn registry() -> &'static HashMap<&'static str, Ctor> {
    static REGISTRY: OnceLock<HashMap<&'static str, Ctor>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let table: &[(&'static str, Ctor)] = &[
            ("Abs", math::abs::Abs::build),
            ("Add", math::add::Add::build),
            ("And", math::and::And::build),
            ("ArgMax", reduce::arg_max::ArgMax::build),
            ("ArgMin", reduce::arg_min::ArgMin::build),
            ("AveragePool", nn::average_pool::AveragePool::build),
            (
                "BatchNormalization",
                nn::batch_normalization::BatchNormalization::build,
            ),
            ("BitShift", math::bit_shift::BitShift::build),
            ("Cast", shape::cast::Cast::build),
            ("Ceil", math::ceil::Ceil::build),
            ("Celu", activation::celu::Celu::build),
            ("Clip", activation::clip::Clip::build),
            ("Concat", shape::concat::Concat::build),
            ("Constant", shape::constant::Constant::build),
            (
                "ConstantOfShape",
                shape::constant_of_shape::ConstantOfShape::build,
            ),
            ("Conv", nn::conv::Conv::build),
            ("ConvTranspose", nn::conv_transpose::ConvTranspose::build),
            ("Cos", math::cos::Cos::build),
            ("Div", math::div::Div::build),
            ("Dropout", nn::dropout::Dropout::build),
            ("Elu", activation::elu::Elu::build),
            ("Equal", math::equal::Equal::build),
            ("Erf", activation::erf::Erf::build),
            ("Exp", math::exp::Exp::build),
            ("Expand", shape::expand::Expand::build),
            ("Flatten", shape::flatten::Flatten::build),
            ("Floor", math::floor::Floor::build),
            ("GRU", nn::gru::GRU::build),
            ("Gather", shape::gather::Gather::build),
            ("Gelu", activation::gelu::Gelu::build),
            ("Gemm", nn::gemm::Gemm::build),
            (
                "GlobalAveragePool",
                nn::global_average_pool::GlobalAveragePool::build,
            ),
            ("GlobalMaxPool", nn::global_max_pool::GlobalMaxPool::build),
            ("Greater", math::greater::Greater::build),
            (
                "GreaterOrEqual",
                math::greater_or_equal::GreaterOrEqual::build,
            ),
            (
                "GroupNormalization",
                nn::group_normalization::GroupNormalization::build,
            ),
            ("HardSigmoid", activation::hard_sigmoid::HardSigmoid::build),
            ("HardSwish", activation::hard_swish::HardSwish::build),
            ("Hardmax", activation::hardmax::Hardmax::build),
            ("Identity", shape::identity::Identity::build),
            (
                "InstanceNormalization",
                nn::instance_normalization::InstanceNormalization::build,
            ),
            ("LSTM", nn::lstm::LSTM::build),
            (
                "LayerNormalization",
                nn::layer_normalization::LayerNormalization::build,
            ),
            ("LeakyRelu", activation::leaky_relu::LeakyRelu::build),
            ("Less", math::less::Less::build),
            ("LessOrEqual", math::less_or_equal::LessOrEqual::build),
            ("Log", math::log::Log::build),
            ("LogSoftmax", activation::log_softmax::LogSoftmax::build),
            ("MatMul", nn::mat_mul::MatMul::build),
            ("Max", math::max::Max::build),
            ("MaxPool", nn::max_pool::MaxPool::build),
            ("Mean", math::mean::Mean::build),
            ("Min", math::min::Min::build),
            ("Mish", activation::mish::Mish::build),
            ("Mod", math::mod_op::Mod::build),
            ("Mul", math::mul::Mul::build),
            ("Neg", math::neg::Neg::build),
            ("Not", math::not::Not::build),
            ("Or", math::or::Or::build),
            ("PRelu", activation::prelu::PRelu::build),
            ("Pad", shape::pad::Pad::build),
            ("Pow", math::pow::Pow::build),
            ("Range", shape::range::Range::build),
            ("Reciprocal", math::reciprocal::Reciprocal::build),
            ("ReduceL1", reduce::reduce_l1::ReduceL1::build),
            ("ReduceL2", reduce::reduce_l2::ReduceL2::build),
            (
                "ReduceLogSumExp",
                reduce::reduce_log_sum_exp::ReduceLogSumExp::build,
            ),
            ("ReduceMax", reduce::reduce_max::ReduceMax::build),
            ("ReduceMean", reduce::reduce_mean::ReduceMean::build),
            ("ReduceMin", reduce::reduce_min::ReduceMin::build),
            ("ReduceProd", reduce::reduce_prod::ReduceProd::build),
            ("ReduceSum", reduce::reduce_sum::ReduceSum::build),
            (
                "ReduceSumSquare",
                reduce::reduce_sum_square::ReduceSumSquare::build,
            ),
            ("Relu", activation::relu::Relu::build),
            ("Reshape", shape::reshape::Reshape::build),
            ("Resize", shape::resize::Resize::build),
            ("Round", math::round::Round::build),
            ("Selu", activation::selu::Selu::build),
            ("Shape", shape::shape_op::Shape::build),
            ("Sigmoid", activation::sigmoid::Sigmoid::build),
            ("Sign", math::sign::Sign::build),
            ("Sin", math::sin::Sin::build),
            ("Size", shape::size::Size::build),
            ("Slice", shape::slice::Slice::build),
            ("Softmax", activation::softmax::Softmax::build),
            ("Softplus", activation::softplus::Softplus::build),
            ("Split", shape::split::Split::build),
            ("Sqrt", math::sqrt::Sqrt::build),
            ("Squeeze", shape::squeeze::Squeeze::build),
            ("Sub", math::sub::Sub::build),
            ("Sum", math::sum::Sum::build),
            ("Tanh", activation::tanh::Tanh::build),
            (
                "ThresholdedRelu",
                activation::thresholded_relu::ThresholdedRelu::build,
            ),
            ("Tile", shape::tile::Tile::build),
            ("Transpose", shape::transpose::Transpose::build),
            ("Unsqueeze", shape::unsqueeze::Unsqueeze::build),
            ("Upsample", shape::resize::Resize::build),
            ("Where", math::where_op::Where::build),
            ("Xor", math::xor::Xor::build),
        ];
        table.iter().copied().collect()
    })
}

/// Whether a domain is the default ONNX operator domain.
pub fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

/// The op of a node, or [`IrError::UnsupportedOp`] when there is none for its type/domain.
pub fn build_op(node: &Node, opset: i64) -> Result<Box<dyn Op>> {
    let ctor = is_default_domain(&node.domain)
        .then(|| registry().get(node.op_type.as_str()))
        .flatten()
        .ok_or_else(|| IrError::UnsupportedOp {
            op: node.op_type.clone(),
            domain: node.domain.clone(),
        })?;
    ctor(node, opset)
}
