//! `Hardmax`: one-hot of the max along `axis`. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Hardmax` (one-hot of the max along `axis`).
    Hardmax,
    "Hardmax"
);
