//! `ReduceLogSumExp`: log-sum-exp over `axes`, keeping reduced axes as 1 when keepdims (shared logic in
//! `common.rs`).

crate::reduce_op!(
    /// `ReduceLogSumExp(data, axes?)`.
    ReduceLogSumExp,
    "ReduceLogSumExp"
);
