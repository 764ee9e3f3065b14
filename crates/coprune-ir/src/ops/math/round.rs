//! `Round`: round half to even. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Round` (round half to even).
    Round,
    "Round"
);
