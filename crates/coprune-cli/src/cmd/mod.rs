//! One module per subcommand: its flags and how it calls the pipeline.

pub mod analyze;
pub mod bench;
pub mod compress;
pub mod convert;
pub mod demo;
pub mod eval;
pub mod groups;
pub mod profile;
pub mod prune;
pub mod sensitivity;
pub mod train;

/// `--sparse auto|off|on`, shared by the commands that run models.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum Sparse {
    /// Time each layer with zero weights dense and sparse at load; keep the faster.
    Auto,
    /// Dense kernels only.
    Off,
    /// Sparse kernels wherever at least 25% of a layer's weights are zero.
    On,
}

impl From<Sparse> for coprune::prelude::SparseMode {
    fn from(s: Sparse) -> coprune::prelude::SparseMode {
        match s {
            Sparse::Auto => coprune::prelude::SparseMode::Auto,
            Sparse::Off => coprune::prelude::SparseMode::Off,
            Sparse::On => coprune::prelude::SparseMode::On,
        }
    }
}

/// `--input-shape NAME=DIMS` (repeatable), shared by every command that needs concrete shapes.
#[derive(Debug, Clone, clap::Args)]
pub struct ShapeArgs {
    /// Concrete shape of a graph input, e.g. `input=1x3x224x224` (repeatable). Symbolic dims of
    /// inputs not given here are set to 1 (the batch dim to --batch where a command has one).
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shape: Vec<coprune::prelude::InputShape>,
}
