//! `Celu`: continuously differentiable ELU. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Celu` (continuously differentiable ELU).
    Celu,
    "Celu"
);
