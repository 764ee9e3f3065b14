//! coprune-ir: the format-agnostic graph IR every pipeline stage works on.
//!
//! Place in the pipeline: the format crates (coprune-onnx) import into and export from these
//! types; analysis, planning, pruning and the runtime all read and patch them. The op set lives in
//! [`ops`], one op per file, each implementing [`Op`]; [`infer()`] gives every value a [`Fact`];
//! [`analysis::analyze`] counts parameters, MACs and activation bytes.

pub mod analysis;
mod attr;
mod channel;
mod dim;
mod dtype;
mod error;
mod graph;
pub mod infer;
mod node;
mod op;
mod opaque;
pub mod ops;
mod patch;
mod tensor;

pub use attr::{AttrValue, Attribute};
pub use channel::{ChannelCtx, ChannelRule};
pub use dim::{known_numel, numel, shape_to_string, Dim, Shape};
pub use dtype::DType;
pub use error::{IrError, Result};
pub use graph::{
    constant_node_value, DimSpec, DimValue, Graph, Model, OpsetImport, ValueInfo, ValueType,
};
pub use infer::{infer, Inferred};
pub use node::Node;
pub use op::{ConstValue, Cost, Fact, Op, MAX_TRACKED_ELEMENTS};
pub use opaque::Opaque;
pub use patch::Patch;
pub use tensor::{Storage, Tensor, TensorData, MAX_DIM};
