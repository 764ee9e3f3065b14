//! Errors of the hardware layer.

/// Errors loading a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HwError {
    /// A target name that is neither built in nor a readable file.
    #[error("unknown target `{name}`: not a built-in profile ({list}) and no such TOML file")]
    Unknown { name: String, list: String },
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
}

/// Result with [`HwError`].
pub type Result<T, E = HwError> = std::result::Result<T, E>;
