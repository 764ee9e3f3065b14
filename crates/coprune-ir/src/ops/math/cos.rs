//! `Cos`: cosine. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Cos` (cosine).
    Cos,
    "Cos"
);
