//! `Erf`: error function (GELU patterns in exported transformers). Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Erf` (error function (GELU patterns in exported transformers)).
    Erf,
    "Erf"
);
