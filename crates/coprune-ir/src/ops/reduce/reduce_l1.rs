//! `ReduceL1`: L1 norm over `axes`, keeping reduced axes as 1 when keepdims (shared logic in
//! `common.rs`).

crate::reduce_op!(
    /// `ReduceL1(data, axes?)`.
    ReduceL1,
    "ReduceL1"
);
