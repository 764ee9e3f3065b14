//! `Selu`: scaled exponential linear unit. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Selu` (scaled exponential linear unit).
    Selu,
    "Selu"
);
