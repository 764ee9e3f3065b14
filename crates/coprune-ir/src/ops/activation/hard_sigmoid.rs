//! `HardSigmoid`: max(0, min(1, alpha·x + beta)). Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `HardSigmoid` (max(0, min(1, alpha·x + beta))).
    HardSigmoid,
    "HardSigmoid"
);
