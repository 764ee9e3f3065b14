//! IR → ONNX protobuf, with external data and atomic writes.

use crate::proto::onnx::{attribute_proto::AttributeType, tensor_proto::DataLocation, TensorProto};
use crate::wire::{self, put_fixed32, put_len, put_varint_field};
use crate::{dtype_code, OnnxError, Result};
use coprune_ir::{
    AttrValue, Attribute, DType, Graph, Model, Node, Storage, Tensor, TensorData, ValueInfo,
};
use protobuf::Message;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Protobuf messages cannot exceed 2 GiB; above this many bytes of initializers, large tensors go
/// to an external data file even when no threshold was asked for.
const AUTO_EXTERNAL_BYTES: u64 = 1800 << 20;
/// Threshold used when external data is forced by size.
const AUTO_EXTERNAL_THRESHOLD: u64 = 1024;
/// Alignment of tensors inside the external data file (lets runtimes map them directly).
const EXTERNAL_ALIGN: u64 = 64;

/// How to write a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Initializers of at least this many bytes go to `<file>.data` next to the model; `None`
    /// keeps each tensor where it was (external ones go to `<file>.data`).
    pub external_data_threshold: Option<u64>,
}

/// What `save` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub model_bytes: u64,
    /// The external data file and its size, when one was written.
    pub external: Option<(PathBuf, u64)>,
    /// Number of tensors stored externally.
    pub external_tensors: usize,
}

/// Collects external tensor bytes while the proto is built.
struct Sink {
    threshold: Option<u64>,
    location: String,
    data: Vec<u8>,
    count: usize,
}

impl Sink {
    fn wants(&self, t: &Tensor) -> bool {
        if matches!(t.data, TensorData::Strings(_)) {
            return false;
        }
        match self.threshold {
            Some(th) => t.bytes().len() as u64 >= th,
            None => matches!(t.storage, Storage::External { .. }),
        }
    }
}

/// Encodes a model with every tensor inline.
pub fn encode(model: &Model) -> Result<Vec<u8>> {
    model_bytes(model, None)
}

/// Writes a model to `path` (and `<path>.data` when tensors go external). Both files are written
/// to temporary names and renamed into place, so a failure never leaves a half-written model.
pub fn save(model: &Model, path: &Path, opts: &ExportOptions) -> Result<ExportSummary> {
    let file_name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| OnnxError::Encode {
            path: path.to_path_buf(),
            msg: "the output path has no file name".into(),
        })?;
    let total: u64 = model
        .graph
        .initializers
        .iter()
        .map(|t| t.bytes().len() as u64)
        .sum();
    let threshold = match opts.external_data_threshold {
        None if total > AUTO_EXTERNAL_BYTES => Some(AUTO_EXTERNAL_THRESHOLD),
        t => t,
    };
    let mut sink = Sink {
        threshold,
        location: format!("{file_name}.data"),
        data: Vec::new(),
        count: 0,
    };
    let bytes = model_bytes(model, Some(&mut sink))?;
    let mut external = None;
    if sink.count > 0 {
        let data_path = path.with_file_name(&sink.location);
        write_atomic(&data_path, &sink.data)?;
        external = Some((data_path, sink.data.len() as u64));
    }
    write_atomic(path, &bytes)?;
    Ok(ExportSummary {
        model_bytes: bytes.len() as u64,
        external,
        external_tensors: sink.count,
    })
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

// Every message is written as its carried remainder (verbatim) followed by the modeled fields:
// protobuf lets fields come in any order, a later singular value wins, and the remainder never
// holds a field the IR models, so the result means the same as the source and re-imports to the
// identical IR.

fn put_str(out: &mut Vec<u8>, number: u32, s: &str) {
    if !s.is_empty() {
        put_len(out, number, s.as_bytes());
    }
}

fn model_bytes(m: &Model, sink: Option<&mut Sink>) -> Result<Vec<u8>> {
    let mut out = m.extra.0.clone();
    put_varint_field(&mut out, 1, m.ir_version as u64);
    put_str(&mut out, 2, &m.producer_name);
    put_str(&mut out, 3, &m.producer_version);
    for o in &m.opsets {
        let mut ob = o.extra.0.clone();
        put_str(&mut ob, 1, &o.domain);
        put_varint_field(&mut ob, 2, o.version as u64);
        put_len(&mut out, 8, &ob);
    }
    let g = graph_bytes(&m.graph, sink)?;
    put_len(&mut out, 7, &g);
    Ok(out)
}

fn graph_bytes(g: &Graph, mut sink: Option<&mut Sink>) -> Result<Vec<u8>> {
    let mut out = g.extra.0.clone();
    for n in &g.nodes {
        put_len(&mut out, 1, &node_bytes(n)?);
    }
    put_str(&mut out, 2, &g.name);
    for t in &g.initializers {
        match sparse_tensor_bytes(t) {
            Some(b) => put_len(&mut out, 15, &b),
            None => put_len(&mut out, 5, &tensor_bytes(t, sink.as_deref_mut())?),
        }
    }
    for (number, list) in [(11, &g.inputs), (12, &g.outputs), (13, &g.value_info)] {
        for v in list {
            put_len(&mut out, number, &value_info_bytes(v)?);
        }
    }
    Ok(out)
}

fn node_bytes(n: &Node) -> Result<Vec<u8>> {
    let mut out = n.extra.0.clone();
    for i in &n.inputs {
        put_len(&mut out, 1, i.as_bytes());
    }
    for o in &n.outputs {
        put_len(&mut out, 2, o.as_bytes());
    }
    put_str(&mut out, 3, &n.name);
    put_str(&mut out, 4, &n.op_type);
    for a in &n.attrs {
        put_len(&mut out, 5, &attr_bytes(a)?);
    }
    put_str(&mut out, 7, &n.domain);
    Ok(out)
}

fn attr_bytes(a: &Attribute) -> Result<Vec<u8>> {
    let mut out = a.extra.0.clone();
    put_str(&mut out, 1, &a.name);
    let kind = match &a.value {
        AttrValue::Float(v) => {
            put_fixed32(&mut out, 2, v.to_bits());
            AttributeType::FLOAT
        }
        AttrValue::Int(v) => {
            put_varint_field(&mut out, 3, *v as u64);
            AttributeType::INT
        }
        AttrValue::String(v) => {
            put_len(&mut out, 4, v);
            AttributeType::STRING
        }
        AttrValue::Tensor(t) => {
            put_len(&mut out, 5, &tensor_bytes(t, None)?);
            AttributeType::TENSOR
        }
        AttrValue::Graph(g) => {
            put_len(&mut out, 6, &g.0);
            AttributeType::GRAPH
        }
        AttrValue::Floats(v) => {
            for x in v {
                put_fixed32(&mut out, 7, x.to_bits());
            }
            AttributeType::FLOATS
        }
        AttrValue::Ints(v) => {
            for x in v {
                put_varint_field(&mut out, 8, *x as u64);
            }
            AttributeType::INTS
        }
        AttrValue::Strings(v) => {
            for x in v {
                put_len(&mut out, 9, x);
            }
            AttributeType::STRINGS
        }
        AttrValue::Tensors(v) => {
            for t in v {
                put_len(&mut out, 10, &tensor_bytes(t, None)?);
            }
            AttributeType::TENSORS
        }
        AttrValue::Graphs(v) => {
            for g in v {
                put_len(&mut out, 11, &g.0);
            }
            AttributeType::GRAPHS
        }
        AttrValue::Other => return Ok(out),
    };
    put_varint_field(&mut out, 20, kind as u64);
    Ok(out)
}

fn value_info_bytes(v: &ValueInfo) -> Result<Vec<u8>> {
    let carried = crate::types::parse_type_bytes(&v.name, &v.extra.0).ok();
    let mut out;
    if carried.as_ref() == Some(&v.ty) {
        out = v.extra.0.clone();
        put_str(&mut out, 1, &v.name);
    } else {
        // The IR changed the type (e.g. pruned channels): drop the carried type, write the new.
        out = Vec::with_capacity(v.extra.0.len());
        let fields =
            wire::fields(&v.extra.0, "ValueInfoProto").map_err(|msg| OnnxError::Encode {
                path: PathBuf::from("<memory>"),
                msg,
            })?;
        for f in fields.iter().filter(|f| f.number != 2) {
            out.extend_from_slice(f.raw);
        }
        put_str(&mut out, 1, &v.name);
        let mut field = protobuf::MessageField::none();
        crate::types::set_type(&mut field, &v.ty);
        if let Some(tp) = field.as_ref() {
            let b = tp.write_to_bytes().map_err(|e| OnnxError::Encode {
                path: PathBuf::from("<memory>"),
                msg: e.to_string(),
            })?;
            put_len(&mut out, 2, &b);
        }
    }
    Ok(out)
}

/// Packed little-endian bytes → the typed repeated field for `dtype`.
fn set_typed(p: &mut TensorProto, dtype: DType, b: &[u8]) -> bool {
    use DType::*;
    match dtype {
        F32 | Complex64 => {
            p.float_data = b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        F64 | Complex128 => {
            p.double_data = b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")))
                .collect()
        }
        I64 => {
            p.int64_data = b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("chunk of 8")))
                .collect()
        }
        U64 => {
            p.uint64_data = b
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("chunk of 8")))
                .collect()
        }
        U32 => {
            p.uint64_data = b
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64)
                .collect()
        }
        I32 => {
            p.int32_data = b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        I16 => {
            p.int32_data = b
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i32)
                .collect()
        }
        U16 | F16 | BF16 => {
            p.int32_data = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as i32)
                .collect()
        }
        I8 => p.int32_data = b.iter().map(|&v| v as i8 as i32).collect(),
        U8 | Bool | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F8E8M0 | U4 | I4 | F4E2M1
        | U2 | I2 => p.int32_data = b.iter().map(|&v| v as i32).collect(),
        _ => return false,
    }
    true
}

/// A tensor marked [`Storage::Sparse`] as a `SparseTensorProto`: its non-zero elements (values
/// named like the tensor) and their int64 linear indices, ascending (what the ONNX checker and
/// onnxruntime accept). `None` for other tensors, and for ones the format cannot hold.
fn sparse_tensor_bytes(t: &Tensor) -> Option<Vec<u8>> {
    let Storage::Sparse { source } = &t.storage else {
        return None;
    };
    if !source.0.is_empty() && crate::import::sparse_source_matches(&source.0, t) {
        return Some(source.0.clone());
    }
    let size = t.dtype.bits().filter(|b| b % 8 == 0)? as usize / 8;
    let TensorData::Bytes(b) = &t.data else {
        return None;
    };
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    for (i, e) in b.chunks_exact(size).enumerate() {
        if e.iter().any(|&x| x != 0) {
            values.extend_from_slice(e);
            indices.extend_from_slice(&(i as i64).to_le_bytes());
        }
    }
    let nnz = (values.len() / size) as u64;
    let mut v = Vec::new();
    put_varint_field(&mut v, 1, nnz);
    put_varint_field(&mut v, 2, dtype_code(t.dtype) as u64);
    put_str(&mut v, 8, &t.name);
    put_len(&mut v, 9, &values);
    let mut ix = Vec::new();
    put_varint_field(&mut ix, 1, nnz);
    put_varint_field(&mut ix, 2, dtype_code(DType::I64) as u64);
    put_len(&mut ix, 9, &indices);
    let mut out = Vec::new();
    put_len(&mut out, 1, &v);
    put_len(&mut out, 2, &ix);
    for &d in &t.dims {
        put_varint_field(&mut out, 3, d);
    }
    Some(out)
}

fn tensor_bytes(t: &Tensor, sink: Option<&mut Sink>) -> Result<Vec<u8>> {
    let mut out = t.extra.0.clone();
    for &d in &t.dims {
        put_varint_field(&mut out, 1, d);
    }
    put_varint_field(&mut out, 2, dtype_code(t.dtype) as u64);
    put_str(&mut out, 8, &t.name);
    match &t.data {
        TensorData::Strings(s) => {
            for x in s {
                put_len(&mut out, 6, x);
            }
        }
        TensorData::Bytes(b) => match sink {
            Some(sink) if sink.wants(t) => {
                let pad =
                    (EXTERNAL_ALIGN - sink.data.len() as u64 % EXTERNAL_ALIGN) % EXTERNAL_ALIGN;
                sink.data.extend(std::iter::repeat_n(0u8, pad as usize));
                let offset = sink.data.len();
                sink.data.extend_from_slice(b);
                sink.count += 1;
                for (k, v) in [
                    ("location", sink.location.clone()),
                    ("offset", offset.to_string()),
                    ("length", b.len().to_string()),
                ] {
                    let mut e = Vec::new();
                    put_len(&mut e, 1, k.as_bytes());
                    put_len(&mut e, 2, v.as_bytes());
                    put_len(&mut out, 13, &e);
                }
                put_varint_field(&mut out, 14, DataLocation::EXTERNAL as u64);
            }
            _ => {
                let mut p = TensorProto::new();
                let typed =
                    t.storage == Storage::Typed && !b.is_empty() && set_typed(&mut p, t.dtype, b);
                if typed {
                    let bytes = p.write_to_bytes().map_err(|e| OnnxError::Encode {
                        path: PathBuf::from("<memory>"),
                        msg: e.to_string(),
                    })?;
                    out.extend_from_slice(&bytes);
                } else {
                    put_len(&mut out, 9, b);
                }
            }
        },
    }
    Ok(out)
}
