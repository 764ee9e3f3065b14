//! coprune-hw: the hardware side of planning.
//!
//! Place in the pipeline: between analysis and planning. A [`HardwareProfile`] is plain data
//! (cores, SIMD width, caches, peak FLOP/s, bandwidth, preferred channel multiple, sparsity
//! patterns, memory budget): built-in profiles are TOML files in `profiles/`, `host` is detected
//! here ([`detect_host`]) and measured by the runtime, and a user's own TOML file is accepted
//! wherever a target name is. A [`LatencyModel`] predicts the latency of one node at given
//! shapes; [`Roofline`] is the analytic one (with channel padding to the target's multiple), the
//! runtime provides a measured one. The pruning planner sees only the trait.

mod error;
mod host;
mod latency;
mod profile;

pub use error::{HwError, Result};
pub use host::detect_host;
pub use latency::{LatencyModel, NodeShape, Recheck, Roofline, Scaled, VIEW_OPS};
pub use profile::{builtin, Caches, DeviceKind, HardwareProfile, MemoryBudget, BUILTIN};
