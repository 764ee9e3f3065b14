//! ONNX `TypeProto` ⇄ [`ValueType`].

use crate::proto::onnx::{
    tensor_shape_proto, type_proto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::{dtype_code, dtype_from_code};
use coprune_ir::{DimSpec, DimValue, IrError, ValueType, MAX_DIM};
use protobuf::Message;
use protobuf::MessageField;

/// The IR view of a value's type: tensors with their element type and dims, anything else
/// (sequence, map, optional, sparse, or no type) as [`ValueType::Other`].
pub fn parse_type(name: &str, tp: &MessageField<TypeProto>) -> Result<ValueType, IrError> {
    let Some(type_proto::Value::TensorType(tt)) = tp.as_ref().and_then(|t| t.value.as_ref()) else {
        return Ok(ValueType::Other);
    };
    let dtype = tt.elem_type.map(|c| dtype_from_code(c as i64));
    let shape = match tt.shape.as_ref() {
        None => None,
        Some(s) => Some(
            s.dim
                .iter()
                .map(|d| {
                    let value = match &d.value {
                        Some(tensor_shape_proto::dimension::Value::DimValue(v)) => {
                            if *v < 0 || *v as u64 > MAX_DIM {
                                return Err(IrError::Tensor {
                                    name: name.to_string(),
                                    msg: format!("declared dimension {v} is outside 0..={MAX_DIM}"),
                                });
                            }
                            DimValue::Value(*v)
                        }
                        Some(tensor_shape_proto::dimension::Value::DimParam(s)) => {
                            DimValue::Param(s.clone())
                        }
                        _ => DimValue::Unknown,
                    };
                    Ok(DimSpec {
                        value,
                        denotation: d.denotation.clone().unwrap_or_default(),
                    })
                })
                .collect::<Result<Vec<_>, IrError>>()?,
        ),
    };
    Ok(ValueType::Tensor { dtype, shape })
}

/// Writes an IR type into a `TypeProto` field (keeping the TypeProto's own denotation).
pub fn set_type(field: &mut MessageField<TypeProto>, ty: &ValueType) {
    let ValueType::Tensor { dtype, shape } = ty else {
        *field = MessageField::none();
        return;
    };
    let mut tp: TypeProto = field.take().unwrap_or_default();
    let mut tt = type_proto::Tensor::new();
    tt.elem_type = dtype.map(dtype_code);
    if let Some(dims) = shape {
        let mut s = TensorShapeProto::new();
        s.dim = dims
            .iter()
            .map(|d| {
                let mut pd = tensor_shape_proto::Dimension::new();
                pd.value = match &d.value {
                    DimValue::Value(x) => Some(tensor_shape_proto::dimension::Value::DimValue(*x)),
                    DimValue::Param(s) => {
                        Some(tensor_shape_proto::dimension::Value::DimParam(s.clone()))
                    }
                    DimValue::Unknown => None,
                };
                if !d.denotation.is_empty() {
                    pd.denotation = Some(d.denotation.clone());
                }
                pd
            })
            .collect();
        tt.shape = MessageField::some(s);
    }
    tp.value = Some(type_proto::Value::TensorType(tt));
    *field = MessageField::some(tp);
}

/// Why a carried value type could not be read.
#[derive(Debug)]
pub enum TypeError {
    /// The carried bytes are not a valid ValueInfoProto.
    Decode(String),
    /// A declared dimension is out of range.
    Ir(IrError),
}

/// The IR type of a carried ValueInfoProto remainder (which still holds the `type` field).
pub fn parse_type_bytes(name: &str, rest: &[u8]) -> Result<ValueType, TypeError> {
    let p = ValueInfoProto::parse_from_bytes(rest).map_err(|e| TypeError::Decode(e.to_string()))?;
    parse_type(name, &p.type_).map_err(TypeError::Ir)
}
