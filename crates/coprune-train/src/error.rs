//! Errors of the trainer; each names the node, op, tensor or step at fault.

/// Errors building a training graph or training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    #[error(transparent)]
    Ir(#[from] coprune_ir::IrError),
    #[error(transparent)]
    Runtime(#[from] coprune_runtime::RuntimeError),
    /// No backward pass for this op (or this use of it).
    #[error("node `{node}`: op {op} cannot be trained by coprune{detail}")]
    Unsupported {
        node: String,
        op: String,
        detail: String,
    },
    /// The model or data do not fit together (labels out of range, wrong input size, …).
    #[error("{0}")]
    Mismatch(String),
    /// The loss became NaN or infinite; the weights of the last finished epoch are kept.
    #[error("the loss became {value} at epoch {epoch}, step {step}: training stopped (try a lower learning rate)")]
    NonFinite {
        value: f32,
        epoch: usize,
        step: usize,
    },
}

/// Result with [`TrainError`].
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
