//! Element types. The set mirrors what model formats store; `Other` keeps a code the IR does not
//! know so that a model using it still round-trips.

use serde::{Deserialize, Serialize};

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DType {
    F32,
    U8,
    I8,
    U16,
    I16,
    I32,
    I64,
    String,
    Bool,
    F16,
    F64,
    U32,
    U64,
    Complex64,
    Complex128,
    BF16,
    F8E4M3FN,
    F8E4M3FNUZ,
    F8E5M2,
    F8E5M2FNUZ,
    U4,
    I4,
    F4E2M1,
    F8E8M0,
    U2,
    I2,
    F6E2M3,
    F6E3M2,
    /// A type code the IR does not model, kept verbatim (format-specific numbering).
    Other(i32),
}

impl DType {
    /// Bits per element; `None` for strings and unknown types.
    pub fn bits(self) -> Option<u64> {
        use DType::*;
        Some(match self {
            F32 | I32 | U32 => 32,
            U8 | I8 | Bool | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F8E8M0 => 8,
            U16 | I16 | F16 | BF16 => 16,
            I64 | U64 | F64 | Complex64 => 64,
            Complex128 => 128,
            U4 | I4 | F4E2M1 => 4,
            U2 | I2 => 2,
            F6E2M3 | F6E3M2 => 6,
            String | Other(_) => return None,
        })
    }

    /// Bytes needed for `numel` packed elements (sub-byte types round up to whole bytes).
    pub fn byte_size(self, numel: u64) -> Option<u64> {
        let bits = self.bits()?.checked_mul(numel)?;
        Some(bits.div_ceil(8))
    }

    /// Whether this is a floating-point type (parameters of a network are of these types).
    pub fn is_float(self) -> bool {
        use DType::*;
        matches!(
            self,
            F32 | F16
                | F64
                | BF16
                | F8E4M3FN
                | F8E4M3FNUZ
                | F8E5M2
                | F8E5M2FNUZ
                | F4E2M1
                | F8E8M0
                | F6E2M3
                | F6E3M2
        )
    }

    /// Whether this is an integer type (shape arithmetic happens in these).
    pub fn is_int(self) -> bool {
        use DType::*;
        matches!(
            self,
            U8 | I8 | U16 | I16 | I32 | I64 | U32 | U64 | U4 | I4 | U2 | I2
        )
    }

    /// Short lower-case name, as printed by the CLI.
    pub fn short_name(self) -> String {
        use DType::*;
        match self {
            F32 => "f32".into(),
            U8 => "u8".into(),
            I8 => "i8".into(),
            U16 => "u16".into(),
            I16 => "i16".into(),
            I32 => "i32".into(),
            I64 => "i64".into(),
            String => "string".into(),
            Bool => "bool".into(),
            F16 => "f16".into(),
            F64 => "f64".into(),
            U32 => "u32".into(),
            U64 => "u64".into(),
            Complex64 => "c64".into(),
            Complex128 => "c128".into(),
            BF16 => "bf16".into(),
            F8E4M3FN => "f8e4m3fn".into(),
            F8E4M3FNUZ => "f8e4m3fnuz".into(),
            F8E5M2 => "f8e5m2".into(),
            F8E5M2FNUZ => "f8e5m2fnuz".into(),
            U4 => "u4".into(),
            I4 => "i4".into(),
            F4E2M1 => "f4e2m1".into(),
            F8E8M0 => "f8e8m0".into(),
            U2 => "u2".into(),
            I2 => "i2".into(),
            F6E2M3 => "f6e2m3".into(),
            F6E3M2 => "f6e3m2".into(),
            Other(c) => format!("type#{c}"),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.short_name())
    }
}
