//! ONNX element-type codes ⇄ [`DType`].

use coprune_ir::DType;

pub use coprune_ir::ops::shape::cast::dtype_from_code;

/// The ONNX `TensorProto.DataType` code of a [`DType`].
pub fn dtype_code(dt: DType) -> i32 {
    use DType::*;
    match dt {
        F32 => 1,
        U8 => 2,
        I8 => 3,
        U16 => 4,
        I16 => 5,
        I32 => 6,
        I64 => 7,
        String => 8,
        Bool => 9,
        F16 => 10,
        F64 => 11,
        U32 => 12,
        U64 => 13,
        Complex64 => 14,
        Complex128 => 15,
        BF16 => 16,
        F8E4M3FN => 17,
        F8E4M3FNUZ => 18,
        F8E5M2 => 19,
        F8E5M2FNUZ => 20,
        U4 => 21,
        I4 => 22,
        F4E2M1 => 23,
        F8E8M0 => 24,
        U2 => 25,
        I2 => 26,
        F6E2M3 => 27,
        F6E3M2 => 28,
        Other(c) => c,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 1..=30 {
            assert_eq!(dtype_code(dtype_from_code(c as i64)), c);
        }
    }
}
