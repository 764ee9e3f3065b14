//! `Log`: natural logarithm. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Log` (natural logarithm).
    Log,
    "Log"
);
