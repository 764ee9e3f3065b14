//! `ReduceMax`: maximum over `axes`, keeping reduced axes as 1 when keepdims (shared logic in
//! `common.rs`).

crate::reduce_op!(
    /// `ReduceMax(data, axes?)`.
    ReduceMax,
    "ReduceMax"
);
