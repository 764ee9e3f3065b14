//! ONNX protobuf → IR.

use crate::proto::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
};
use crate::wire::{self, Field};
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
    let ctx = Ctx { path, base_dir };
    let model = model_from(bytes, &ctx)?;
    model
        .graph
        .check_consistency()
        .map_err(|source| ctx.ir_err(source))?;
    Ok(model)
}

/// Checks that carried bytes decode as the message they came from (wrong wire types of known
/// fields, bad UTF-8, truncated nested messages are errors, as the reference decoder makes them).
fn validate<M: Message>(rest: &Opaque, what: &str, ctx: &Ctx) -> Result<()> {
    M::parse_from_bytes(&rest.0)
        .map(|_| ())
        .map_err(|e| ctx.decode_err(format!("{what}: {e}")))
}

/// Splits a message into the fields `modeled` selects and the verbatim bytes of the others.
fn split<'a>(
    b: &'a [u8],
    what: &str,
    modeled: impl Fn(&Field<'a>) -> bool,
) -> std::result::Result<(Vec<Field<'a>>, Opaque), String> {
    let all = wire::fields(b, what)?;
    let mut rest = Vec::new();
    let mut taken = Vec::new();
    for f in all {
        if modeled(&f) {
            taken.push(f);
        } else {
            rest.extend_from_slice(f.raw);
        }
    }
    Ok((taken, Opaque(rest)))
}

/// The last occurrence of field `n` (protobuf: the last value of a singular field wins).
fn last<'a, 'b>(fields: &'b [Field<'a>], n: u32) -> Option<&'b Field<'a>> {
    fields.iter().rev().find(|f| f.number == n)
}

/// Whether field `f` is a singular string field whose final value is non-empty: those are
/// modeled; an explicit empty string stays in the remainder so it is reproduced.
fn nonempty_last(all: &[Field], f: &Field) -> bool {
    match all
        .iter()
        .rev()
        .find(|x| x.number == f.number)
        .map(|x| x.value)
    {
        Some(wire::Value::Len(b)) => !b.is_empty(),
        _ => true,
    }
}

/// A modeled string field's value ("" when absent).
fn str_field(fields: &[Field], n: u32, what: &str) -> std::result::Result<String, String> {
    last(fields, n)
        .map(|f| f.string(what))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Concatenated payloads of a singular message field that occurs several times (protobuf merges
/// them, and parsing the concatenation is exactly that merge).
fn merged<'a>(
    fields: &[Field<'a>],
    n: u32,
    what: &str,
) -> std::result::Result<std::borrow::Cow<'a, [u8]>, String> {
    let mut parts = fields.iter().filter(|f| f.number == n);
    let (Some(first), None) = (parts.next(), parts.next()) else {
        // Several occurrences (or none): concatenate.
        let mut out = Vec::new();
        for f in fields.iter().filter(|f| f.number == n) {
            out.extend_from_slice(f.bytes(what)?);
        }
        return Ok(std::borrow::Cow::Owned(out));
    };
    first.bytes(what).map(std::borrow::Cow::Borrowed)
}

impl Ctx<'_> {
    /// Maps a wire-level error message to a decode error naming the file.
    fn d<T>(&self, r: std::result::Result<T, String>) -> Result<T> {
        r.map_err(|m| self.decode_err(m))
    }

    fn decode_err(&self, msg: String) -> OnnxError {
        OnnxError::Decode {
            path: self.path.to_path_buf(),
            msg,
        }
    }

    fn ir_err(&self, source: IrError) -> OnnxError {
        OnnxError::Ir {
            path: self.path.to_path_buf(),
            source,
        }
    }
}

fn model_from(b: &[u8], ctx: &Ctx) -> Result<Model> {
    let what = "ModelProto";
    let all = ctx.d(wire::fields(b, what))?;
    let (f, extra) = ctx.d(split(b, what, |f| match f.number {
        1 | 7 | 8 => true,
        2 | 3 => nonempty_last(&all, f),
        _ => false,
    }))?;
    if !f.iter().any(|x| x.number == 7) {
        return Err(ctx.decode_err("the model has no graph (is this an ONNX file?)".into()));
    }
    validate::<ModelProto>(&extra, what, ctx)?;
    let graph = graph_from(&ctx.d(merged(&f, 7, what))?, ctx)?;
    let mut opsets = Vec::new();
    for o in f.iter().filter(|x| x.number == 8) {
        opsets.push(opset_from(ctx.d(o.bytes(what))?, ctx)?);
    }
    Ok(Model {
        ir_version: ctx
            .d(last(&f, 1).map(|x| x.varint(what)).transpose())?
            .unwrap_or(0) as i64,
        opsets,
        producer_name: ctx.d(str_field(&f, 2, what))?,
        producer_version: ctx.d(str_field(&f, 3, what))?,
        graph,
        extra,
    })
}

fn opset_from(b: &[u8], ctx: &Ctx) -> Result<OpsetImport> {
    let what = "OperatorSetIdProto";
    let all = ctx.d(wire::fields(b, what))?;
    let (f, extra) = ctx.d(split(b, what, |f| match f.number {
        1 => nonempty_last(&all, f),
        2 => true,
        _ => false,
    }))?;
    validate::<OperatorSetIdProto>(&extra, what, ctx)?;
    Ok(OpsetImport {
        domain: ctx.d(str_field(&f, 1, what))?,
        version: ctx
            .d(last(&f, 2).map(|x| x.varint(what)).transpose())?
            .unwrap_or(0) as i64,
        extra,
    })
}

fn graph_from(b: &[u8], ctx: &Ctx) -> Result<Graph> {
    let what = "GraphProto";
    let all = ctx.d(wire::fields(b, what))?;
    let (f, extra) = ctx.d(split(b, what, |f| match f.number {
        1 | 5 | 11 | 12 | 13 | 15 => true,
        2 => nonempty_last(&all, f),
        _ => false,
    }))?;
    validate::<GraphProto>(&extra, what, ctx)?;
    let mut g = Graph {
        name: ctx.d(str_field(&f, 2, what))?,
        extra,
        ..Graph::default()
    };
    for x in &f {
        match x.number {
            1 => g.nodes.push(node_from(ctx.d(x.bytes(what))?, ctx)?),
            5 => g
                .initializers
                .push(tensor_from(ctx.d(x.bytes(what))?, ctx)?),
            11 => g.inputs.push(value_info_from(ctx.d(x.bytes(what))?, ctx)?),
            12 => g.outputs.push(value_info_from(ctx.d(x.bytes(what))?, ctx)?),
            13 => g
                .value_info
                .push(value_info_from(ctx.d(x.bytes(what))?, ctx)?),
            15 => g
                .initializers
                .push(sparse_tensor_from(ctx.d(x.bytes(what))?, ctx)?),
            _ => {}
        }
    }
    Ok(g)
}

fn node_from(b: &[u8], ctx: &Ctx) -> Result<Node> {
    let what = "NodeProto";
    let all = ctx.d(wire::fields(b, what))?;
    let (f, extra) = ctx.d(split(b, what, |f| match f.number {
        1 | 2 | 5 => true,
        3 | 4 | 7 => nonempty_last(&all, f),
        _ => false,
    }))?;
    validate::<NodeProto>(&extra, what, ctx)?;
    let name = ctx.d(str_field(&f, 3, what))?;
    let op_type = ctx.d(str_field(&f, 4, what))?;
    let mut node = Node {
        name,
        op_type,
        domain: ctx.d(str_field(&f, 7, what))?,
        inputs: Vec::new(),
        outputs: Vec::new(),
        attrs: Vec::new(),
        extra,
    };
    for x in &f {
        match x.number {
            1 => node.inputs.push(ctx.d(x.string(what))?),
            2 => node.outputs.push(ctx.d(x.string(what))?),
            _ => {}
        }
    }
    let label = node.display_name().to_string();
    for x in f.iter().filter(|x| x.number == 5) {
        let attr = attr_from(ctx.d(x.bytes(what))?, ctx).map_err(|e| match e {
            OnnxError::Ir { path, source } => OnnxError::Ir {
                path,
                source: source.at_node(&label, &node.op_type),
            },
            OnnxError::Decode { path, msg } => OnnxError::Decode {
                path,
                msg: format!("node `{label}`: {msg}"),
            },
            OnnxError::ExternalData { path, tensor, msg } => OnnxError::ExternalData {
                path,
                tensor: format!("{tensor}` in node `{label}"),
                msg,
            },
            other => other,
        })?;
        node.attrs.push(attr);
    }
    Ok(node)
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

fn attr_from(b: &[u8], ctx: &Ctx) -> Result<Attribute> {
    let what = "AttributeProto";
    // rust-protobuf decodes the scalar and list values (packed or not); tensors and graphs are
    // taken from the raw fields so their own remainders stay verbatim.
    let p =
        AttributeProto::parse_from_bytes(b).map_err(|e| ctx.decode_err(format!("{what}: {e}")))?;
    let kind = attr_kind(&p);
    let value_field = match kind {
        AttributeType::FLOAT => Some(2),
        AttributeType::INT => Some(3),
        AttributeType::STRING => Some(4),
        AttributeType::TENSOR => Some(5),
        AttributeType::GRAPH => Some(6),
        AttributeType::FLOATS => Some(7),
        AttributeType::INTS => Some(8),
        AttributeType::STRINGS => Some(9),
        AttributeType::TENSORS => Some(10),
        AttributeType::GRAPHS => Some(11),
        _ => None,
    };
    let all = ctx.d(wire::fields(b, what))?;
    let (f, extra) = ctx.d(split(b, what, |x| match x.number {
        1 => nonempty_last(&all, x),
        20 => value_field.is_some(),
        n => Some(n) == value_field,
    }))?;
    let value = match kind {
        AttributeType::FLOAT => AttrValue::Float(p.f.unwrap_or(0.0)),
        AttributeType::INT => AttrValue::Int(p.i.unwrap_or(0)),
        AttributeType::STRING => AttrValue::String(p.s.clone().unwrap_or_default()),
        AttributeType::TENSOR => AttrValue::Tensor(tensor_from(&ctx.d(merged(&f, 5, what))?, ctx)?),
        AttributeType::GRAPH => AttrValue::Graph(Opaque(ctx.d(merged(&f, 6, what))?.into_owned())),
        AttributeType::FLOATS => AttrValue::Floats(p.floats.clone()),
        AttributeType::INTS => AttrValue::Ints(p.ints.clone()),
        AttributeType::STRINGS => AttrValue::Strings(p.strings.clone()),
        AttributeType::TENSORS => AttrValue::Tensors(
            f.iter()
                .filter(|x| x.number == 10)
                .map(|x| tensor_from(ctx.d(x.bytes(what))?, ctx))
                .collect::<Result<_>>()?,
        ),
        AttributeType::GRAPHS => AttrValue::Graphs(
            f.iter()
                .filter(|x| x.number == 11)
                .map(|x| ctx.d(x.bytes(what)).map(|g| Opaque(g.to_vec())))
                .collect::<Result<_>>()?,
        ),
        // Sparse tensors, type protos and undefined kinds stay whole in `extra`.
        _ => AttrValue::Other,
    };
    Ok(Attribute {
        name: ctx.d(str_field(&f, 1, what))?,
        value,
        extra,
    })
}

fn value_info_from(b: &[u8], ctx: &Ctx) -> Result<ValueInfo> {
    let what = "ValueInfoProto";
    let all = ctx.d(wire::fields(b, what))?;
    // The type stays in the remainder: export rewrites it only when the IR type changed, so
    // everything inside it (denotations, unknown fields) survives untouched.
    let (f, extra) = ctx.d(split(b, what, |x| x.number == 1 && nonempty_last(&all, x)))?;
    let name = ctx.d(str_field(&f, 1, what))?;
    let ty = crate::types::parse_type_bytes(&name, &extra.0).map_err(|e| match e {
        crate::types::TypeError::Decode(m) => ctx.decode_err(format!("value `{name}`: {m}")),
        crate::types::TypeError::Ir(e) => ctx.ir_err(e),
    })?;
    Ok(ValueInfo { name, ty, extra })
}

/// Converts typed repeated fields to packed little-endian bytes.
/// The typed field for `dtype` as packed bytes and its field number; `None` when that field is
/// empty (other typed fields that do not match the type stay in the remainder).
fn typed_bytes(
    dtype: DType,
    p: &TensorProto,
) -> std::result::Result<Option<(Vec<u8>, u32)>, String> {
    use DType::*;
    let field = match dtype {
        F32 | Complex64 => 4,
        F64 | Complex128 => 10,
        I64 => 7,
        U64 | U32 => 11,
        _ => 5,
    };
    let bytes: Vec<u8> = match dtype {
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
    };
    Ok((!bytes.is_empty()).then_some((bytes, field)))
}

/// A `SparseTensorProto` (values, int64 indices linear [NNZ] or coordinates [NNZ, rank], dims)
/// as a dense tensor marked [`Storage::Sparse`], so that export writes it back the same way.
fn sparse_tensor_from(b: &[u8], ctx: &Ctx) -> Result<Tensor> {
    sparse_dense(b, ctx)
}

/// Whether an encoded `SparseTensorProto` holds exactly `t` (name, type, shape, values).
pub(crate) fn sparse_source_matches(source: &[u8], t: &Tensor) -> bool {
    let ctx = Ctx {
        path: Path::new("<memory>"),
        base_dir: None,
    };
    sparse_dense(source, &ctx).is_ok_and(|d| {
        d.name == t.name && d.dtype == t.dtype && d.dims == t.dims && d.data == t.data
    })
}

fn sparse_dense(b: &[u8], ctx: &Ctx) -> Result<Tensor> {
    let what = "SparseTensorProto";
    let p = crate::proto::onnx::SparseTensorProto::parse_from_bytes(b)
        .map_err(|e| ctx.decode_err(format!("{what}: {e}")))?;
    let part = |m: &protobuf::MessageField<TensorProto>, which: &str| -> Result<Tensor> {
        let t = m
            .as_ref()
            .ok_or_else(|| ctx.decode_err(format!("{what} without {which}")))?;
        let bytes = t
            .write_to_bytes()
            .map_err(|e| ctx.decode_err(format!("{what}: {e}")))?;
        tensor_from(&bytes, ctx)
    };
    let values = part(&p.values, "values")?;
    let name = values.name.clone();
    let err = |msg: String| {
        ctx.ir_err(IrError::Tensor {
            name: name.clone(),
            msg: format!("sparse initializer: {msg}"),
        })
    };
    let mut dims = Vec::with_capacity(p.dims.len());
    for &d in &p.dims {
        if d < 0 || d as u64 > MAX_DIM {
            return Err(err(format!("dimension {d} in {:?}", p.dims)));
        }
        dims.push(d as u64);
    }
    let numel: u64 = dims.iter().product();
    let size = values
        .dtype
        .bits()
        .filter(|b| b % 8 == 0)
        .map(|b| (b / 8) as usize)
        .ok_or_else(|| err(format!("{:?} values cannot be placed", values.dtype)))?;
    let nnz = values.numel().unwrap_or(0) as usize;
    let vb = values.bytes();
    let index = part(&p.indices, "indices")?
        .to_i64_vec()
        .map_err(|e| err(e.to_string()))?;
    // Linear indices, or one coordinate tuple per value.
    let rank = dims.len().max(1);
    let linear: Vec<u64> = if index.len() == nnz {
        index.iter().map(|&i| i as u64).collect()
    } else if index.len() == nnz * rank {
        index
            .chunks(rank)
            .map(|c| {
                c.iter()
                    .zip(&dims)
                    .fold(0u64, |acc, (&i, &d)| acc * d + i as u64)
            })
            .collect()
    } else {
        return Err(err(format!(
            "{} indices for {nnz} values of shape {dims:?}",
            index.len()
        )));
    };
    let mut dense = vec![0u8; numel as usize * size];
    for (k, &at) in linear.iter().enumerate() {
        if at >= numel {
            return Err(err(format!("index {at} outside shape {dims:?}")));
        }
        let at = at as usize;
        dense[at * size..(at + 1) * size].copy_from_slice(&vb[k * size..(k + 1) * size]);
    }
    let mut t = Tensor::from_bytes(name, values.dtype, dims, dense).map_err(|e| ctx.ir_err(e))?;
    t.storage = Storage::Sparse {
        source: Opaque(b.to_vec()),
    };
    Ok(t)
}

fn tensor_from(b: &[u8], ctx: &Ctx) -> Result<Tensor> {
    let what = "TensorProto";
    let mut p =
        TensorProto::parse_from_bytes(b).map_err(|e| ctx.decode_err(format!("{what}: {e}")))?;
    let name = p.name.clone().unwrap_or_default();
    let ir_err = |msg: String| {
        ctx.ir_err(IrError::Tensor {
            name: name.clone(),
            msg,
        })
    };
    let code = p.data_type.unwrap_or(0);
    if code == 0 {
        return Err(ir_err("data_type is missing (UNDEFINED)".into()));
    }
    let dtype = dtype_from_code(code as i64);
    let mut dims = Vec::with_capacity(p.dims.len());
    for &dim in &p.dims {
        if dim < 0 || dim as u64 > MAX_DIM {
            return Err(ir_err(format!(
                "dimension {dim} in {:?} is outside 0..={MAX_DIM}",
                p.dims
            )));
        }
        dims.push(dim as u64);
    }
    let external = p
        .data_location
        .and_then(|l| l.enum_value().ok())
        .is_some_and(|l| l == DataLocation::EXTERNAL);
    // Which data fields the IR takes; the others (e.g. a typed field that does not match the
    // data type) stay in the remainder.
    let (data, storage, data_fields): (TensorData, Storage, &[u32]) = if external {
        let (bytes, location) = read_external(&name, &p, dtype, &dims, ctx)?;
        (
            TensorData::Bytes(bytes),
            Storage::External { location },
            &[13, 14],
        )
    } else if let Some(raw) = p.raw_data.take() {
        (TensorData::Bytes(raw), Storage::Raw, &[9])
    } else if dtype == DType::String {
        (
            TensorData::Strings(std::mem::take(&mut p.string_data)),
            Storage::Typed,
            &[6],
        )
    } else if let Some((bytes, field)) = typed_bytes(dtype, &p).map_err(ir_err)? {
        let fields: &[u32] = match field {
            4 => &[4],
            5 => &[5],
            7 => &[7],
            10 => &[10],
            _ => &[11],
        };
        (TensorData::Bytes(bytes), Storage::Typed, fields)
    } else {
        (TensorData::Bytes(Vec::new()), Storage::Raw, &[])
    };
    let all = ctx.d(wire::fields(b, what))?;
    let (_, extra) = ctx.d(split(b, what, |x| match x.number {
        1 | 2 => true,
        8 => nonempty_last(&all, x),
        n => data_fields.contains(&n),
    }))?;
    let t = Tensor {
        name: name.clone(),
        dtype,
        dims,
        data,
        storage,
        extra,
    };
    t.validate().map_err(|e| ctx.ir_err(e))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::onnx::{GraphProto, ModelProto, SparseTensorProto};

    fn model_with(sp: SparseTensorProto) -> Vec<u8> {
        let mut g = GraphProto::new();
        g.name = Some("g".into());
        g.sparse_initializer.push(sp);
        let mut m = ModelProto::new();
        m.ir_version = Some(8);
        m.graph = protobuf::MessageField::some(g);
        m.write_to_bytes().unwrap()
    }

    fn sparse(
        values: &[f32],
        indices: &[i64],
        index_dims: &[i64],
        dims: &[i64],
    ) -> SparseTensorProto {
        let mut v = TensorProto::new();
        v.name = Some("w".into());
        v.data_type = Some(1);
        v.dims = vec![values.len() as i64];
        v.float_data = values.to_vec();
        let mut i = TensorProto::new();
        i.data_type = Some(7);
        i.dims = index_dims.to_vec();
        i.int64_data = indices.to_vec();
        let mut s = SparseTensorProto::new();
        s.values = protobuf::MessageField::some(v);
        s.indices = protobuf::MessageField::some(i);
        s.dims = dims.to_vec();
        s
    }

    #[test]
    fn sparse_initializers_read_as_dense_in_both_index_forms() {
        let want = [0.0, 1.5, 0.0, 0.0, 0.0, -2.0];
        for (idx, idims) in [(vec![1, 5], vec![2]), (vec![0, 1, 1, 2], vec![2, 2])] {
            let bytes = model_with(sparse(&[1.5, -2.0], &idx, &idims, &[2, 3]));
            let m = decode(&bytes, Path::new("<t>"), None).unwrap();
            let t = &m.graph.initializers[0];
            assert_eq!((t.name.as_str(), t.dims.as_slice()), ("w", &[2u64, 3][..]));
            assert!(matches!(t.storage, Storage::Sparse { .. }));
            assert_eq!(t.to_f32_vec().unwrap(), want);
        }
        for (idx, idims, msg) in [
            (vec![1, 6], vec![2], "outside shape"),
            (vec![1, 2, 3], vec![3], "3 indices for 2 values"),
        ] {
            let bytes = model_with(sparse(&[1.5, -2.0], &idx, &idims, &[2, 3]));
            let e = decode(&bytes, Path::new("<t>"), None).unwrap_err();
            assert!(e.to_string().contains(msg), "{e}");
        }
    }
}
