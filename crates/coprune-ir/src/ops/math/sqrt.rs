//! `Sqrt`: square root. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Sqrt` (square root).
    Sqrt,
    "Sqrt"
);
