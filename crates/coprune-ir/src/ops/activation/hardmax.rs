//! `Hardmax`: one-hot of the max along `axis` (shared logic: `axis_softmax_op!` in `ops/util.rs`).

crate::axis_softmax_op!(
    /// `Hardmax(input)` along `axis`.
    Hardmax,
    "Hardmax"
);
