//! `Ceil`: round up. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Ceil` (round up).
    Ceil,
    "Ceil"
);
