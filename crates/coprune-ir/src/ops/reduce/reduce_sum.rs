//! `ReduceSum`: sum over `axes`, keeping reduced axes as 1 when keepdims (shared logic in
//! `common.rs`).

crate::reduce_op!(
    /// `ReduceSum(data, axes?)`.
    ReduceSum,
    "ReduceSum"
);
