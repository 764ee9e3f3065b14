//! coprune-onnx: reads ONNX models into coprune-ir and writes them back.
//!
//! Place in the pipeline: the first and last step: `load` → analyse/plan/prune on the IR →
//! `save`. Lossless by construction: each protobuf message is split into the fields the IR models
//! and a remainder (unknown fields, fields newer than the IR, subgraphs) that is re-encoded as
//! [`coprune_ir::Opaque`] bytes and merged back on export. Bindings are rust-protobuf code
//! generated from `proto/onnx.proto` by `tools/protogen` (no protoc needed to build).

mod dtype;
mod error;
mod export;
mod import;
#[allow(clippy::all, missing_docs)]
mod proto;
mod types;
mod wire;

pub use dtype::{dtype_code, dtype_from_code};
pub use error::{OnnxError, Result};
pub use export::{encode, save, write_atomic, ExportOptions, ExportSummary};
pub use import::{decode, load};
