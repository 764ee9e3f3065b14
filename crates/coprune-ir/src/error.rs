//! Typed errors of the IR: every variant names the node, op, value or tensor it is about.

/// Errors raised while building, checking or analysing a graph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IrError {
    /// An op-level problem (bad attribute, incompatible shapes); wrapped into [`IrError::Node`] by
    /// the graph passes so the message names the node.
    #[error("{0}")]
    Invalid(String),
    /// Any error raised while processing one node.
    #[error("node `{node}` ({op}): {source}")]
    Node {
        node: String,
        op: String,
        #[source]
        source: Box<IrError>,
    },
    /// No shape inference is implemented for this op.
    #[error("no shape inference for op `{op}`{}", if domain.is_empty() { String::new() } else { format!(" in domain `{domain}`") })]
    UnsupportedOp { op: String, domain: String },
    /// A node reads a value that no node, graph input or initializer produces.
    #[error("node `{node}` reads `{value}`, which no node, graph input or initializer produces")]
    DanglingInput { node: String, value: String },
    /// The same value name is produced twice.
    #[error("value `{value}` is produced twice (by {first} and by {second})")]
    DuplicateValue {
        value: String,
        first: String,
        second: String,
    },
    /// The nodes cannot be ordered: a cycle passes through this node.
    #[error("graph has a cycle through node `{node}`")]
    Cycle { node: String },
    /// A tensor's metadata and data disagree, or its size is out of range.
    #[error("tensor `{name}`: {msg}")]
    Tensor { name: String, msg: String },
    /// A graph output names a value that is never produced.
    #[error("graph output `{value}` is not produced by any node, input or initializer")]
    DanglingOutput { value: String },
}

/// Result with [`IrError`].
pub type Result<T, E = IrError> = std::result::Result<T, E>;

/// Returns early with an [`IrError::Invalid`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::IrError::Invalid(format!($($arg)*)))
    };
}

impl IrError {
    /// Wraps this error with the node it happened at.
    pub fn at_node(self, node: &str, op: &str) -> IrError {
        match self {
            e @ IrError::Node { .. } => e,
            e => IrError::Node {
                node: node.to_string(),
                op: op.to_string(),
                source: Box::new(e),
            },
        }
    }
}
