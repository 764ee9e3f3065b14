//! Errors of the runtime; each names the node, op or input at fault.

/// Errors building or running a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The model could not be analysed.
    #[error(transparent)]
    Ir(#[from] coprune_ir::IrError),
    /// No CPU kernel for this op (or this use of it).
    #[error("node `{node}`: op {op} is not supported by coprune's runtime{detail}")]
    Unsupported {
        node: String,
        op: String,
        detail: String,
    },
    /// An external runtime (onnxruntime) could not be found, loaded or run.
    #[error("onnxruntime: {0}")]
    External(String),
    /// An input given to `run` does not match the session.
    #[error("input `{name}`: {msg}")]
    Input { name: String, msg: String },
}

/// Result with [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
