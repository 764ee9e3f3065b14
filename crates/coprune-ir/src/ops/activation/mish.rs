//! `Mish`: x · tanh(softplus(x)). Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Mish` (x · tanh(softplus(x))).
    Mish,
    "Mish"
);
