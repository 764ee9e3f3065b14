//! `ReduceSumSquare`: sum of squares over `axes`, keeping reduced axes as 1 when keepdims (shared logic in
//! `common.rs`).

crate::reduce_op!(
    /// `ReduceSumSquare(data, axes?)`.
    ReduceSumSquare,
    "ReduceSumSquare"
);
