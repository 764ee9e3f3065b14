//! Runtime values: dense row-major tensors.

/// A tensor at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    F32 { shape: Vec<usize>, data: Vec<f32> },
    I64 { shape: Vec<usize>, data: Vec<i64> },
}

impl Value {
    /// An f32 tensor.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Value {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Value::F32 { shape, data }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F32 { shape, .. } | Value::I64 { shape, .. } => shape,
        }
    }

    /// The f32 data, if this is an f32 tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Value::F32 { data, .. } => Some(data),
            Value::I64 { .. } => None,
        }
    }

    /// The same data under another shape (element count unchanged).
    pub fn reshaped(&self, shape: Vec<usize>) -> Value {
        match self {
            Value::F32 { data, .. } => Value::F32 {
                shape,
                data: data.clone(),
            },
            Value::I64 { data, .. } => Value::I64 {
                shape,
                data: data.clone(),
            },
        }
    }
}
