//! Errors of the pruning engine.

/// Errors raised while building groups, allocating or applying a plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// The model could not be analysed or patched.
    #[error(transparent)]
    Ir(#[from] coprune_ir::IrError),
    /// No plan meets the requested budget; says what is achievable and what blocks more.
    #[error("{0}")]
    BudgetNotMet(String),
    /// A setting is invalid (ratio out of range, unknown node, plan for another model).
    #[error("{0}")]
    Invalid(String),
}

/// Result with [`PruneError`].
pub type Result<T, E = PruneError> = std::result::Result<T, E>;
