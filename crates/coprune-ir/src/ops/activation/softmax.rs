//! `Softmax`: normalised exponential along `axis`. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Softmax` (normalised exponential along `axis`).
    Softmax,
    "Softmax"
);
