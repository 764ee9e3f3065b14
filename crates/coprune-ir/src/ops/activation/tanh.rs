//! `Tanh`: hyperbolic tangent. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Tanh` (hyperbolic tangent).
    Tanh,
    "Tanh"
);
