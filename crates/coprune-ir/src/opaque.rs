//! Format-specific bytes the IR carries without understanding them.

/// Encoded fields of the source format that the IR does not model (unknown fields, newer fields,
/// subgraphs of control-flow ops). Only the format crate that wrote them reads them back; the IR
/// only moves them along, which is what makes import → export lossless.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Opaque(pub Vec<u8>);

impl Opaque {
    /// Whether there is nothing carried.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
