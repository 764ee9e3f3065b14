//! `Sign`: sign of x. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Sign` (sign of x).
    Sign,
    "Sign"
);
