//! `Sigmoid`: 1 / (1 + e^-x). Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Sigmoid` (1 / (1 + e^-x)).
    Sigmoid,
    "Sigmoid"
);
