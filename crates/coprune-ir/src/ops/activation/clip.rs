//! `Clip`: min(max(x, min), max); ReLU6 in MobileNet exports. Element-wise, so the output keeps the input's type and shape.

crate::unary_op!(
    /// `Clip` (min(max(x, min), max); ReLU6 in MobileNet exports).
    Clip,
    "Clip"
);
