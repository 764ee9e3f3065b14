//! Constant tensors (weights, Constant-node values, attribute tensors).

use crate::{DType, IrError, Opaque, Result};

/// The largest dimension accepted anywhere (2^32): larger values are treated as corrupt input
/// rather than allocated.
pub const MAX_DIM: u64 = 1 << 32;

/// Element data of a tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// Packed little-endian element bytes (sub-byte types packed as the format defines).
    Bytes(Vec<u8>),
    /// One byte string per element (string tensors).
    Strings(Vec<Vec<u8>>),
}

/// How the source file stored the data, so that an export writes it back the same way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Storage {
    /// Packed bytes in the model file.
    #[default]
    Raw,
    /// Typed repeated fields (e.g. `float_data`) in the model file.
    Typed,
    /// A separate data file next to the model.
    External {
        /// File name relative to the model's directory.
        location: String,
    },
    /// Only the non-zero elements and their positions (an ONNX `sparse_initializer`); the IR
    /// holds the dense values all the same.
    Sparse {
        /// The encoded source message when read from a file (written back verbatim while the
        /// values are unchanged); empty for tensors made sparse by coprune.
        source: crate::Opaque,
    },
}

/// A constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Name (initializers have one; attribute tensors may not).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions (empty for a scalar).
    pub dims: Vec<u64>,
    /// The elements.
    pub data: TensorData,
    /// How the data was stored in the source file.
    pub storage: Storage,
    /// Fields of the source format the IR does not model, carried through unchanged.
    pub extra: Opaque,
}

impl Tensor {
    /// A tensor from packed little-endian bytes, checking the byte count against dtype × dims.
    pub fn from_bytes(
        name: impl Into<String>,
        dtype: DType,
        dims: Vec<u64>,
        bytes: Vec<u8>,
    ) -> Result<Tensor> {
        let t = Tensor {
            name: name.into(),
            dtype,
            dims,
            data: TensorData::Bytes(bytes),
            storage: Storage::Raw,
            extra: Opaque::default(),
        };
        t.validate()?;
        Ok(t)
    }

    /// An f32 tensor.
    pub fn from_f32(name: impl Into<String>, dims: Vec<u64>, values: &[f32]) -> Result<Tensor> {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_bytes(name, DType::F32, dims, bytes)
    }

    /// An i64 tensor.
    pub fn from_i64(name: impl Into<String>, dims: Vec<u64>, values: &[i64]) -> Result<Tensor> {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_bytes(name, DType::I64, dims, bytes)
    }

    /// A copy of everything but the data (which is left empty).
    pub fn clone_without_data(&self) -> Tensor {
        Tensor {
            name: self.name.clone(),
            dtype: self.dtype,
            dims: self.dims.clone(),
            data: TensorData::Bytes(Vec::new()),
            storage: self.storage.clone(),
            extra: self.extra.clone(),
        }
    }

    /// Number of elements; `None` on overflow.
    pub fn numel(&self) -> Option<u64> {
        self.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    /// Checks dims are in range and the data size matches dtype × dims.
    pub fn validate(&self) -> Result<()> {
        let err = |msg: String| IrError::Tensor {
            name: self.name.clone(),
            msg,
        };
        if let Some(d) = self.dims.iter().find(|&&d| d > MAX_DIM) {
            return Err(err(format!(
                "dimension {d} in {:?} exceeds the limit of {MAX_DIM}",
                self.dims
            )));
        }
        let numel = self
            .numel()
            .ok_or_else(|| err(format!("element count of {:?} overflows", self.dims)))?;
        match &self.data {
            TensorData::Bytes(b) => {
                if let Some(expected) = self.dtype.byte_size(numel) {
                    if b.len() as u64 != expected {
                        return Err(err(format!(
                            "{} bytes of data, but {} × {:?} needs {expected}",
                            b.len(),
                            self.dtype,
                            self.dims
                        )));
                    }
                }
            }
            TensorData::Strings(s) => {
                if s.len() as u64 != numel {
                    return Err(err(format!(
                        "{} strings, but dims {:?} need {numel}",
                        s.len(),
                        self.dims
                    )));
                }
            }
        }
        Ok(())
    }

    /// The packed bytes (empty for string tensors).
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            TensorData::Bytes(b) => b,
            TensorData::Strings(_) => &[],
        }
    }

    /// Values as f32 (f32, f64, f16 and bf16 convert; others are an error).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let b = self.bytes();
        Ok(match self.dtype {
            DType::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")) as f32)
                .collect(),
            DType::F16 => b
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DType::BF16 => b
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            other => {
                return Err(IrError::Tensor {
                    name: self.name.clone(),
                    msg: format!("expected a floating-point tensor, found {other}"),
                })
            }
        })
    }

    /// Values as i64 (any integer or bool type converts).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        let b = self.bytes();
        Ok(match self.dtype {
            DType::I64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("chunk of 8")))
                .collect(),
            DType::U64 => b
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("chunk of 8")) as i64)
                .collect(),
            DType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            DType::U32 => b
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                .collect(),
            DType::I16 => b
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DType::U16 => b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DType::I8 => b.iter().map(|&v| v as i8 as i64).collect(),
            DType::U8 | DType::Bool => b.iter().map(|&v| v as i64).collect(),
            other => {
                return Err(IrError::Tensor {
                    name: self.name.clone(),
                    msg: format!("expected an integer tensor, found {other}"),
                })
            }
        })
    }

    /// Values as f64 for small-value tracking: floats and integers both convert.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        if self.dtype.is_float() {
            Ok(self.to_f32_vec()?.into_iter().map(f64::from).collect())
        } else {
            Ok(self.to_i64_vec()?.into_iter().map(|v| v as f64).collect())
        }
    }
}

/// IEEE half → f32 (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m × 2^-24.
            let v = m as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_mismatch_is_an_error() {
        let e = Tensor::from_bytes("w", DType::F32, vec![2, 3], vec![0; 20]).unwrap_err();
        assert!(e.to_string().contains("tensor `w`"), "{e}");
        assert!(e.to_string().contains("needs 24"), "{e}");
    }

    #[test]
    fn huge_dim_is_an_error() {
        let e = Tensor::from_bytes("w", DType::F32, vec![1 << 40], vec![]).unwrap_err();
        assert!(e.to_string().contains("exceeds the limit"), "{e}");
    }

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
