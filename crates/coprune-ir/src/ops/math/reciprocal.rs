//! `Reciprocal`: 1/x. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Reciprocal` (1/x).
    Reciprocal,
    "Reciprocal"
);
