//! Layers with parameters or windows: convolutions, normalisations, matmuls, pooling, recurrent.

pub mod average_pool;
pub mod batch_normalization;
pub mod conv;
pub mod conv_transpose;
pub mod dropout;
pub mod gemm;
pub mod global_average_pool;
pub mod global_max_pool;
pub mod group_normalization;
pub mod gru;
pub mod instance_normalization;
pub mod layer_normalization;
pub mod lstm;
pub mod mat_mul;
pub mod max_pool;
pub mod recurrent;
