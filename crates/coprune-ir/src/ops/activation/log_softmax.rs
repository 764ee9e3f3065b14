//! `LogSoftmax`: log of Softmax along `axis` (shared logic: `axis_softmax_op!` in `ops/util.rs`).

crate::axis_softmax_op!(
    /// `LogSoftmax(input)` along `axis`.
    LogSoftmax,
    "LogSoftmax"
);
