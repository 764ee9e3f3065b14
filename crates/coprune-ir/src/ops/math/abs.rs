//! `Abs`: |x|. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Abs` (|x|).
    Abs,
    "Abs"
);
