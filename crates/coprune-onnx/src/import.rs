//! ONNX protobuf → IR.

use crate::proto::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, AttributeProto, GraphProto,
    ModelProto, NodeProto, TensorProto, ValueInfoProto,
};
use crate::{dtype_from_code, OnnxError, Result};
use coprune_ir::{
    AttrValue, Attribute, DType, Graph, IrError, Model, Node, Opaque, OpsetImport, Storage, Tensor,
    TensorData, ValueInfo, MAX_DIM,
};
use protobuf::Message;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Where tensors' external data is looked up, and the file name used in messages.
struct Ctx<'a> {
    path: &'a Path,
    base_dir: Option<&'a Path>,
}

/// Reads an ONNX model file (external data is resolved relative to its directory).
pub fn load(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    decode(&bytes, path, dir)
}

/// Decodes ONNX bytes; `path` names the source in errors, `base_dir` is where external data lives
/// (`None`: external data is an error).
pub fn decode(bytes: &[u8], path: &Path, base_dir: Option<&Path>) -> Result<Model> {
    check_framing(bytes).map_err(|msg| OnnxError::Decode {
        path: path.to_path_buf(),
        msg,
    })?;
    let proto = ModelProto::parse_from_bytes(bytes).map_err(|e| OnnxError::Decode {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    if proto.graph.is_none() {
        return Err(OnnxError::Decode {
            path: path.to_path_buf(),
            msg: "the model has no graph (is this an ONNX file?)".into(),
        });
    }
    let ctx = Ctx { path, base_dir };
    let model = model_from(proto, &ctx)?;
    model
        .graph
        .check_consistency()
        .map_err(|source| OnnxError::Ir {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(model)
}

/// Takes a string field, except a present-but-empty one: that stays in the remainder so the
/// export reproduces the explicit empty value (proto2 keeps presence).
fn take_str(f: &mut Option<String>) -> String {
    match f {
        Some(s) if !s.is_empty() => f.take().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The remainder of a message after the modeled fields were taken out.
fn rest<M: Message>(m: &M) -> Opaque {
    Opaque(m.write_to_bytes().unwrap_or_default())
}

fn model_from(mut p: ModelProto, ctx: &Ctx) -> Result<Model> {
    let graph = graph_from(p.graph.take().unwrap_or_default(), ctx)?;
    let opsets = std::mem::take(&mut p.opset_import)
        .into_iter()
        .map(|mut o| OpsetImport {
            domain: take_str(&mut o.domain),
            version: o.version.take().unwrap_or(0),
            extra: rest(&o),
        })
        .collect();
    Ok(Model {
        ir_version: p.ir_version.take().unwrap_or(0),
        opsets,
        producer_name: take_str(&mut p.producer_name),
        producer_version: take_str(&mut p.producer_version),
        graph,
        extra: rest(&p),
    })
}

fn graph_from(mut p: GraphProto, ctx: &Ctx) -> Result<Graph> {
    let ir_err = |source: IrError| OnnxError::Ir {
        path: ctx.path.to_path_buf(),
        source,
    };
    let initializers = std::mem::take(&mut p.initializer)
        .into_iter()
        .map(|t| tensor_from(t, ctx))
        .collect::<Result<Vec<_>>>()?;
    let nodes = std::mem::take(&mut p.node)
        .into_iter()
        .map(|n| node_from(n, ctx))
        .collect::<Result<Vec<_>>>()?;
    let vis = |v: Vec<ValueInfoProto>| -> Result<Vec<ValueInfo>> {
        v.into_iter()
            .map(|v| value_info_from(v).map_err(ir_err))
            .collect()
    };
    Ok(Graph {
        name: take_str(&mut p.name),
        nodes,
        inputs: vis(std::mem::take(&mut p.input))?,
        outputs: vis(std::mem::take(&mut p.output))?,
        value_info: vis(std::mem::take(&mut p.value_info))?,
        initializers,
        extra: rest(&p),
    })
}

fn node_from(mut p: NodeProto, ctx: &Ctx) -> Result<Node> {
    let name = take_str(&mut p.name);
    let op_type = take_str(&mut p.op_type);
    let label = if name.is_empty() {
        p.output
            .first()
            .cloned()
            .unwrap_or_else(|| "<unnamed>".into())
    } else {
        name.clone()
    };
    let attrs = std::mem::take(&mut p.attribute)
        .into_iter()
        .map(|a| attr_from(a, ctx))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| match e {
            OnnxError::Ir { path, source } => OnnxError::Ir {
                path,
                source: source.at_node(&label, &op_type),
            },
            OnnxError::ExternalData { path, tensor, msg } => OnnxError::ExternalData {
                path,
                tensor: format!("{tensor}` in node `{label}"),
                msg,
            },
            other => other,
        })?;
    Ok(Node {
        name,
        op_type,
        domain: take_str(&mut p.domain),
        inputs: std::mem::take(&mut p.input),
        outputs: std::mem::take(&mut p.output),
        attrs,
        extra: rest(&p),
    })
}

/// The attribute's kind: its declared type, or (old files without `type`) the field that is set.
fn attr_kind(p: &AttributeProto) -> AttributeType {
    if let Some(t) = p.type_.and_then(|t| t.enum_value().ok()) {
        if t != AttributeType::UNDEFINED {
            return t;
        }
    }
    if p.f.is_some() {
        AttributeType::FLOAT
    } else if p.i.is_some() {
        AttributeType::INT
    } else if p.s.is_some() {
        AttributeType::STRING
    } else if p.t.is_some() {
        AttributeType::TENSOR
    } else if p.g.is_some() {
        AttributeType::GRAPH
    } else if !p.floats.is_empty() {
        AttributeType::FLOATS
    } else if !p.ints.is_empty() {
        AttributeType::INTS
    } else if !p.strings.is_empty() {
        AttributeType::STRINGS
    } else if !p.tensors.is_empty() {
        AttributeType::TENSORS
    } else if !p.graphs.is_empty() {
        AttributeType::GRAPHS
    } else {
        AttributeType::UNDEFINED
    }
}

fn attr_from(mut p: AttributeProto, ctx: &Ctx) -> Result<Attribute> {
    let name = take_str(&mut p.name);
    let kind = attr_kind(&p);
    let value = match kind {
        AttributeType::FLOAT => AttrValue::Float(p.f.take().unwrap_or(0.0)),
        AttributeType::INT => AttrValue::Int(p.i.take().unwrap_or(0)),
        AttributeType::STRING => AttrValue::String(p.s.take().unwrap_or_default()),
        AttributeType::TENSOR => {
            AttrValue::Tensor(tensor_from(p.t.take().unwrap_or_default(), ctx)?)
        }
        AttributeType::GRAPH => AttrValue::Graph(rest(&p.g.take().unwrap_or_default())),
        AttributeType::FLOATS => AttrValue::Floats(std::mem::take(&mut p.floats)),
        AttributeType::INTS => AttrValue::Ints(std::mem::take(&mut p.ints)),
        AttributeType::STRINGS => AttrValue::Strings(std::mem::take(&mut p.strings)),
        AttributeType::TENSORS => AttrValue::Tensors(
            std::mem::take(&mut p.tensors)
                .into_iter()
                .map(|t| tensor_from(t, ctx))
                .collect::<Result<_>>()?,
        ),
        AttributeType::GRAPHS => {
            AttrValue::Graphs(std::mem::take(&mut p.graphs).iter().map(rest).collect())
        }
        // Sparse tensors, type protos and undefined kinds stay whole in `extra`.
        _ => AttrValue::Other,
    };
    if !matches!(value, AttrValue::Other) {
        p.type_ = None;
    }
    Ok(Attribute {
        name,
        value,
        extra: rest(&p),
    })
}

fn value_info_from(mut p: ValueInfoProto) -> Result<ValueInfo, IrError> {
    let name = take_str(&mut p.name);
    // The type stays in the remainder too: export rewrites it only when the IR type changed, so
    // everything inside it (denotations, unknown fields) survives untouched.
    let ty = crate::types::parse_type(&name, &p.type_)?;
    Ok(ValueInfo {
        name,
        ty,
        extra: rest(&p),
    })
}

/// Converts typed repeated fields to packed little-endian bytes.
fn typed_bytes(dtype: DType, p: &TensorProto) -> std::result::Result<Vec<u8>, String> {
    use DType::*;
    Ok(match dtype {
        F32 | Complex64 => p.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        F64 | Complex128 => p.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        I64 => p.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        U64 => p.uint64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        U32 => p
            .uint64_data
            .iter()
            .flat_map(|&v| (v as u32).to_le_bytes())
            .collect(),
        I32 => p.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        I16 | U16 | F16 | BF16 => p
            .int32_data
            .iter()
            .flat_map(|&v| (v as u16).to_le_bytes())
            .collect(),
        // One element per int32 for 8-bit types; one packed byte per int32 for 4- and 2-bit ones.
        I8 | U8 | Bool | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F8E8M0 | U4 | I4
        | F4E2M1 | U2 | I2 => p.int32_data.iter().map(|&v| v as u8).collect(),
        other => {
            return Err(format!(
                "typed (non-raw) data of type {other} is not supported"
            ))
        }
    })
}

/// Whether the typed field for `dtype` holds anything.
fn has_typed(p: &TensorProto) -> bool {
    !(p.float_data.is_empty()
        && p.double_data.is_empty()
        && p.int64_data.is_empty()
        && p.uint64_data.is_empty()
        && p.int32_data.is_empty()
        && p.string_data.is_empty())
}

fn tensor_from(mut p: TensorProto, ctx: &Ctx) -> Result<Tensor> {
    let name = take_str(&mut p.name);
    let ir_err = |msg: String| OnnxError::Ir {
        path: ctx.path.to_path_buf(),
        source: IrError::Tensor {
            name: name.clone(),
            msg,
        },
    };
    let code = p.data_type.take().unwrap_or(0);
    if code == 0 {
        return Err(ir_err("data_type is missing (UNDEFINED)".into()));
    }
    let dtype = dtype_from_code(code as i64);
    let mut dims = Vec::with_capacity(p.dims.len());
    for &d in &p.dims {
        if d < 0 || d as u64 > MAX_DIM {
            return Err(ir_err(format!(
                "dimension {d} in {:?} is outside 0..={MAX_DIM}",
                p.dims
            )));
        }
        dims.push(d as u64);
    }
    p.dims.clear();
    let external = p
        .data_location
        .and_then(|l| l.enum_value().ok())
        .is_some_and(|l| l == DataLocation::EXTERNAL);
    let (data, storage) = if external {
        let (bytes, location) = read_external(&name, &p, dtype, &dims, ctx)?;
        p.data_location = None;
        p.external_data.clear();
        (TensorData::Bytes(bytes), Storage::External { location })
    } else if let Some(raw) = p.raw_data.take() {
        (TensorData::Bytes(raw), Storage::Raw)
    } else if dtype == DType::String {
        (
            TensorData::Strings(std::mem::take(&mut p.string_data)),
            Storage::Typed,
        )
    } else if has_typed(&p) {
        let bytes = typed_bytes(dtype, &p).map_err(ir_err)?;
        p.float_data.clear();
        p.double_data.clear();
        p.int64_data.clear();
        p.uint64_data.clear();
        p.int32_data.clear();
        (TensorData::Bytes(bytes), Storage::Typed)
    } else {
        (TensorData::Bytes(Vec::new()), Storage::Raw)
    };
    let t = Tensor {
        name: name.clone(),
        dtype,
        dims,
        data,
        storage,
        extra: rest(&p),
    };
    t.validate().map_err(|source| OnnxError::Ir {
        path: ctx.path.to_path_buf(),
        source,
    })?;
    Ok(t)
}

/// Reads a tensor's external data, refusing locations outside the model's directory.
fn read_external(
    name: &str,
    p: &TensorProto,
    dtype: DType,
    dims: &[u64],
    ctx: &Ctx,
) -> Result<(Vec<u8>, String)> {
    let err = |msg: String| OnnxError::ExternalData {
        path: ctx.path.to_path_buf(),
        tensor: name.to_string(),
        msg,
    };
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for kv in &p.external_data {
        let v = kv.value.clone().unwrap_or_default();
        match kv.key.as_deref() {
            Some("location") => location = Some(v),
            Some("offset") => {
                offset = v
                    .parse()
                    .map_err(|_| err(format!("offset `{v}` is not a number")))?
            }
            Some("length") => {
                length = Some(
                    v.parse::<u64>()
                        .map_err(|_| err(format!("length `{v}` is not a number")))?,
                )
            }
            _ => {}
        }
    }
    let location = location.ok_or_else(|| err("no `location` entry".into()))?;
    let base = ctx.base_dir.ok_or_else(|| {
        err("the model was not read from a file, so external data cannot be resolved".into())
    })?;
    let rel = Path::new(&location);
    if location.is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(err(format!(
            "location `{location}` must be a relative path inside the model's directory"
        )));
    }
    let full: PathBuf = base.join(rel);
    let canon_base = base
        .canonicalize()
        .map_err(|e| err(format!("{}: {e}", base.display())))?;
    let canon = full
        .canonicalize()
        .map_err(|e| err(format!("{}: {e}", full.display())))?;
    if !canon.starts_with(&canon_base) {
        return Err(err(format!(
            "location `{location}` resolves outside the model's directory"
        )));
    }
    let mut f = std::fs::File::open(&canon).map_err(|e| err(format!("{}: {e}", full.display())))?;
    let size = f.metadata().map_err(|e| err(e.to_string()))?.len();
    let len = length.unwrap_or(size.saturating_sub(offset));
    if let Some(expected) = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .and_then(|n| dtype.byte_size(n))
    {
        if expected != len {
            return Err(err(format!(
                "{len} bytes, but the tensor's type and dims need {expected}"
            )));
        }
    }
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(err(format!(
            "offset {offset} + length {len} exceeds the size of `{location}` ({size} bytes)"
        )));
    }
    let mut buf = vec![0u8; len as usize];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|e| err(format!("{}: {e}", full.display())))?;
    Ok((buf, location))
}

/// Reads one base-128 varint at `*pos`.
fn varint(b: &[u8], pos: &mut usize) -> std::result::Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or("truncated (file ends inside a field)")?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("malformed varint".into())
}

/// Walks the top-level fields of the message and checks each one ends inside the file.
/// rust-protobuf accepts a file cut inside a length-delimited field when the cut falls on an
/// inner field boundary; a truncated download must be reported as such, not as a smaller graph.
fn check_framing(b: &[u8]) -> std::result::Result<(), String> {
    let mut pos = 0usize;
    while pos < b.len() {
        let at = pos;
        let tag = varint(b, &mut pos)?;
        let skip = match tag & 7 {
            0 => {
                varint(b, &mut pos)?;
                0
            }
            1 => 8,
            2 => varint(b, &mut pos)?,
            5 => 4,
            w => {
                return Err(format!(
                    "wire type {w} of field {} at byte {at} is invalid",
                    tag >> 3
                ))
            }
        };
        let end = (pos as u64)
            .checked_add(skip)
            .filter(|&e| e <= b.len() as u64);
        match end {
            Some(e) => pos = e as usize,
            None => {
                return Err(format!(
                "truncated: field {} at byte {at} needs {skip} bytes but the file ends at byte {}",
                tag >> 3,
                b.len()
            ))
            }
        }
    }
    Ok(())
}
