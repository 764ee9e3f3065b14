//! `LeakyRelu`: x for x ≥ 0, alpha·x otherwise. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `LeakyRelu` (x for x ≥ 0, alpha·x otherwise).
    LeakyRelu,
    "LeakyRelu"
);
