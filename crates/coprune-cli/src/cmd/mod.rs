//! One module per subcommand: its flags and how it calls the pipeline.

pub mod analyze;
pub mod bench;
pub mod convert;
pub mod demo;
pub mod eval;
pub mod groups;
pub mod profile;
pub mod prune;
pub mod train;

/// `--input-shape NAME=DIMS` (repeatable), shared by every command that needs concrete shapes.
#[derive(Debug, Clone, clap::Args)]
pub struct ShapeArgs {
    /// Concrete shape of a graph input, e.g. `input=1x3x224x224` (repeatable). Symbolic dims of
    /// inputs not given here are set to 1 (the batch dim to --batch where a command has one).
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shape: Vec<coprune::prelude::InputShape>,
}
