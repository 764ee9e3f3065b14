//! coprune-prune: decides what to remove and turns the decision into a patch.
//!
//! Place in the pipeline: after analysis, before export. [`depgraph::DepGraph`] finds the groups
//! of coupled channels from each op's [`coprune_ir::ChannelRule`]; [`importance`] scores units (one
//! criterion per file); [`allocate`] chooses how many units each group loses to meet a target,
//! using [`cost`] to predict parameters and MACs without touching tensor data; [`plan`] holds the
//! decision as plain serde data; [`apply`] compiles it to a [`coprune_ir::Patch`] applied in one
//! place. Criteria never run models.

pub mod allocate;
pub mod apply;
pub mod cluster;
pub mod cost;
pub mod depgraph;
mod error;
pub mod importance;
pub mod plan;
pub mod sparsity;

pub use error::{PruneError, Result};
