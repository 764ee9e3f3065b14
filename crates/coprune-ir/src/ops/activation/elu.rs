//! `Elu`: exponential linear unit. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Elu` (exponential linear unit).
    Elu,
    "Elu"
);
