//! One module per subcommand: its flags and how it calls the pipeline.

pub mod analyze;
pub mod bench;
pub mod convert;
pub mod demo;
pub mod eval;
pub mod groups;
pub mod prune;
