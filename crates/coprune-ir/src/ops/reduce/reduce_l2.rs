//! `ReduceL2`: L2 norm over `axes`, keeping reduced axes as 1 when keepdims (shared logic in
//! `common.rs`).

crate::reduce_op!(
    /// `ReduceL2(data, axes?)`.
    ReduceL2,
    "ReduceL2"
);
