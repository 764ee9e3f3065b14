//! `Softmax`: normalised exponential along `axis` (shared logic: `axis_softmax_op!` in `ops/util.rs`).

crate::axis_softmax_op!(
    /// `Softmax(input)` along `axis`.
    Softmax,
    "Softmax"
);
