//! IR → ONNX protobuf, with external data and atomic writes.

use crate::proto::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, ValueInfoProto,
};
use crate::{dtype_code, OnnxError, Result};
use coprune_ir::{
    AttrValue, Attribute, DType, Graph, Model, Node, Opaque, Storage, Tensor, TensorData, ValueInfo,
};
use protobuf::{EnumOrUnknown, Message, MessageField};
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
    let proto = model_to(model, None)?;
    proto.write_to_bytes().map_err(|e| OnnxError::Encode {
        path: PathBuf::from("<memory>"),
        msg: e.to_string(),
    })
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
    let proto = model_to(model, Some(&mut sink))?;
    let bytes = proto.write_to_bytes().map_err(|e| OnnxError::Encode {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
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

/// Starts from the carried remainder of a message, or an empty one.
fn base<M: Message>(extra: &Opaque) -> Result<M> {
    if extra.is_empty() {
        return Ok(M::new());
    }
    M::parse_from_bytes(&extra.0).map_err(|e| OnnxError::Encode {
        path: PathBuf::from("<memory>"),
        msg: format!("carried fields do not decode: {e}"),
    })
}

/// Sets a string field when the IR value is non-empty; an empty one leaves what the carried
/// remainder had (absent, or an explicit empty string).
fn set_str(f: &mut Option<String>, s: &str) {
    if !s.is_empty() {
        *f = Some(s.to_string());
    }
}

fn model_to(m: &Model, sink: Option<&mut Sink>) -> Result<ModelProto> {
    let mut p: ModelProto = base(&m.extra)?;
    p.ir_version = Some(m.ir_version);
    p.opset_import = m
        .opsets
        .iter()
        .map(|o| {
            let mut op: OperatorSetIdProto = base(&o.extra)?;
            set_str(&mut op.domain, &o.domain);
            op.version = Some(o.version);
            Ok(op)
        })
        .collect::<Result<_>>()?;
    set_str(&mut p.producer_name, &m.producer_name);
    set_str(&mut p.producer_version, &m.producer_version);
    p.graph = MessageField::some(graph_to(&m.graph, sink)?);
    Ok(p)
}

fn kv(k: &str, v: &str) -> StringStringEntryProto {
    let mut e = StringStringEntryProto::new();
    e.key = Some(k.to_string());
    e.value = Some(v.to_string());
    e
}

fn graph_to(g: &Graph, mut sink: Option<&mut Sink>) -> Result<GraphProto> {
    let mut p: GraphProto = base(&g.extra)?;
    set_str(&mut p.name, &g.name);
    p.node = g.nodes.iter().map(node_to).collect::<Result<_>>()?;
    p.initializer = g
        .initializers
        .iter()
        .map(|t| tensor_to(t, sink.as_deref_mut()))
        .collect::<Result<_>>()?;
    p.input = g.inputs.iter().map(value_info_to).collect::<Result<_>>()?;
    p.output = g.outputs.iter().map(value_info_to).collect::<Result<_>>()?;
    p.value_info = g
        .value_info
        .iter()
        .map(value_info_to)
        .collect::<Result<_>>()?;
    Ok(p)
}

fn node_to(n: &Node) -> Result<NodeProto> {
    let mut p: NodeProto = base(&n.extra)?;
    set_str(&mut p.name, &n.name);
    set_str(&mut p.op_type, &n.op_type);
    set_str(&mut p.domain, &n.domain);
    p.input = n.inputs.clone();
    p.output = n.outputs.clone();
    p.attribute = n.attrs.iter().map(attr_to).collect::<Result<_>>()?;
    Ok(p)
}

fn attr_to(a: &Attribute) -> Result<AttributeProto> {
    let mut p: AttributeProto = base(&a.extra)?;
    set_str(&mut p.name, &a.name);
    let kind = match &a.value {
        AttrValue::Float(v) => {
            p.f = Some(*v);
            AttributeType::FLOAT
        }
        AttrValue::Int(v) => {
            p.i = Some(*v);
            AttributeType::INT
        }
        AttrValue::String(v) => {
            p.s = Some(v.clone());
            AttributeType::STRING
        }
        AttrValue::Tensor(t) => {
            p.t = MessageField::some(tensor_to(t, None)?);
            AttributeType::TENSOR
        }
        AttrValue::Graph(g) => {
            p.g = MessageField::some(base(g)?);
            AttributeType::GRAPH
        }
        AttrValue::Floats(v) => {
            p.floats = v.clone();
            AttributeType::FLOATS
        }
        AttrValue::Ints(v) => {
            p.ints = v.clone();
            AttributeType::INTS
        }
        AttrValue::Strings(v) => {
            p.strings = v.clone();
            AttributeType::STRINGS
        }
        AttrValue::Tensors(v) => {
            p.tensors = v
                .iter()
                .map(|t| tensor_to(t, None))
                .collect::<Result<_>>()?;
            AttributeType::TENSORS
        }
        AttrValue::Graphs(v) => {
            p.graphs = v.iter().map(base).collect::<Result<_>>()?;
            AttributeType::GRAPHS
        }
        AttrValue::Other => return Ok(p),
    };
    p.type_ = Some(EnumOrUnknown::new(kind));
    Ok(p)
}

fn value_info_to(v: &ValueInfo) -> Result<ValueInfoProto> {
    let mut p: ValueInfoProto = base(&v.extra)?;
    set_str(&mut p.name, &v.name);
    let carried = crate::types::parse_type(&v.name, &p.type_).ok();
    if carried.as_ref() != Some(&v.ty) {
        crate::types::set_type(&mut p.type_, &v.ty);
    }
    Ok(p)
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

fn tensor_to(t: &Tensor, sink: Option<&mut Sink>) -> Result<TensorProto> {
    let mut p: TensorProto = base(&t.extra)?;
    set_str(&mut p.name, &t.name);
    p.data_type = Some(dtype_code(t.dtype));
    p.dims = t.dims.iter().map(|&d| d as i64).collect();
    match &t.data {
        TensorData::Strings(s) => p.string_data = s.clone(),
        TensorData::Bytes(b) => match sink {
            Some(sink) if sink.wants(t) => {
                let pad =
                    (EXTERNAL_ALIGN - sink.data.len() as u64 % EXTERNAL_ALIGN) % EXTERNAL_ALIGN;
                sink.data.extend(std::iter::repeat_n(0u8, pad as usize));
                let offset = sink.data.len();
                sink.data.extend_from_slice(b);
                sink.count += 1;
                p.data_location = Some(EnumOrUnknown::new(DataLocation::EXTERNAL));
                p.external_data = vec![
                    kv("location", &sink.location),
                    kv("offset", &offset.to_string()),
                    kv("length", &b.len().to_string()),
                ];
            }
            _ => {
                let typed =
                    t.storage == Storage::Typed && !b.is_empty() && set_typed(&mut p, t.dtype, b);
                if !typed {
                    p.raw_data = Some(b.clone());
                }
            }
        },
    }
    Ok(p)
}
