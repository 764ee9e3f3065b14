//! Typed errors of the ONNX importer/exporter; every variant names the file.

use coprune_ir::IrError;
use std::path::PathBuf;

/// Errors reading or writing ONNX files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an ONNX protobuf (truncated, wrong wire types, random data).
    #[error("{path}: not a valid ONNX model: {msg}")]
    Decode { path: PathBuf, msg: String },
    /// The protobuf decoded but its content is invalid (node, tensor, graph structure).
    #[error("{path}: {source}")]
    Ir {
        path: PathBuf,
        #[source]
        source: IrError,
    },
    /// A tensor's external data is missing, out of range or outside the model's directory.
    #[error("{path}: tensor `{tensor}`: external data: {msg}")]
    ExternalData {
        path: PathBuf,
        tensor: String,
        msg: String,
    },
    /// The model could not be encoded.
    #[error("{path}: cannot write the model: {msg}")]
    Encode { path: PathBuf, msg: String },
}

/// Result with [`OnnxError`].
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
