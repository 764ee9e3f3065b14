//! `Floor`: round down. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Floor` (round down).
    Floor,
    "Floor"
);
