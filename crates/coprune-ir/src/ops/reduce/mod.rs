//! Reductions.

pub mod arg_max;
pub mod arg_min;
pub mod common;
pub mod reduce_l1;
pub mod reduce_l2;
pub mod reduce_log_sum_exp;
pub mod reduce_max;
pub mod reduce_mean;
pub mod reduce_min;
pub mod reduce_prod;
pub mod reduce_sum;
pub mod reduce_sum_square;
