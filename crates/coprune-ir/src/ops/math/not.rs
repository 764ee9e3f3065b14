//! `Not`: logical not. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Not` (logical not).
    Not,
    "Not"
);
