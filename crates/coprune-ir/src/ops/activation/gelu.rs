//! `Gelu`: Gaussian error linear unit (opset 20). Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Gelu` (Gaussian error linear unit (opset 20)).
    Gelu,
    "Gelu"
);
