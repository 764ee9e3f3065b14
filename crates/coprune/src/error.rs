//! Errors of the pipeline functions.

/// A pipeline error; each stage's typed error is kept as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a model failed (names the file).
    #[error(transparent)]
    Onnx(#[from] coprune_onnx::OnnxError),
    /// The model's content is invalid for the requested stage (names the node/value).
    #[error("{path}: {source}")]
    Ir {
        path: String,
        #[source]
        source: coprune_ir::IrError,
    },
    /// A user-supplied setting is malformed.
    #[error("{0}")]
    Usage(String),
    /// The runtime cannot lower or run the model (names node and op).
    #[error("{path}: {source}")]
    Runtime {
        path: String,
        #[source]
        source: coprune_runtime::RuntimeError,
    },
    /// A dataset could not be read or does not fit the model.
    #[error(transparent)]
    Data(#[from] coprune_data::DataError),
    /// Training failed (names the node, or the epoch and step of a NaN loss).
    #[error("{path}: {source}")]
    Train {
        path: String,
        #[source]
        source: coprune_train::TrainError,
    },
    /// Pruning failed; `BudgetNotMet` is the one error that is not bad input (exit 1).
    #[error("{path}: {source}")]
    Prune {
        path: String,
        #[source]
        source: coprune_prune::PruneError,
    },
}

impl Error {
    /// Whether the error is the user's input (bad file, bad flag) rather than an unmet budget —
    /// decides the exit code (2 for bad input).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Error::Prune {
                source: coprune_prune::PruneError::BudgetNotMet(_),
                ..
            } | Error::Train {
                source: coprune_train::TrainError::NonFinite { .. },
                ..
            }
        )
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
