//! `Exp`: e^x. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Exp` (e^x).
    Exp,
    "Exp"
);
