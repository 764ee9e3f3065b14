//! `HardSwish`: x · HardSigmoid(x) with alpha 1/6, beta 0.5. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `HardSwish` (x · HardSigmoid(x) with alpha 1/6, beta 0.5).
    HardSwish,
    "HardSwish"
);
