//! `Neg`: -x. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Neg` (-x).
    Neg,
    "Neg"
);
