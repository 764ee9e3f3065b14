//! `LogSoftmax`: log of Softmax along `axis`. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `LogSoftmax` (log of Softmax along `axis`).
    LogSoftmax,
    "LogSoftmax"
);
