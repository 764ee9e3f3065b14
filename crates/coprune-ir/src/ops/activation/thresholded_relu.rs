//! `ThresholdedRelu`: x for x > alpha, 0 otherwise. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `ThresholdedRelu` (x for x > alpha, 0 otherwise).
    ThresholdedRelu,
    "ThresholdedRelu"
);
