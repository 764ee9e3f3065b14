//! `Relu`: max(x, 0). Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Relu` (max(x, 0)).
    Relu,
    "Relu"
);
