//! `Sin`: sine. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Sin` (sine).
    Sin,
    "Sin"
);
