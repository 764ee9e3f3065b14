//! `Softplus`: ln(1 + e^x). Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Softplus` (ln(1 + e^x)).
    Softplus,
    "Softplus"
);
