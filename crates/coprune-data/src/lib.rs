//! coprune-data: datasets for evaluation (and later fine-tuning).
//!
//! Place in the pipeline: feeds the evaluate stage. A [`Dataset`] is images as f32 (already
//! normalised) plus integer labels; [`DataSpec`] parses the CLI's `--data KIND:PATH`. Formats:
//! MNIST IDX (raw or `.gz`). More formats (CIFAR-10, npy/npz, image folders) come with the
//! runtime issue; an unknown kind is refused with the list of supported ones.

mod mnist;

pub use mnist::load_mnist;
use std::path::PathBuf;

/// Errors reading a dataset; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{0}")]
    Spec(String),
}

/// Result with [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Which part of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// A labelled image dataset held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Shape of one sample, e.g. [1, 28, 28].
    pub sample_shape: Vec<usize>,
    /// All samples, normalised, row-major, one after another.
    pub data: Vec<f32>,
    pub labels: Vec<u32>,
    pub classes: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Elements per sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The samples at `idx`, in that order (indices may repeat).
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let per = self.sample_len();
        let mut data = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            data.extend_from_slice(&self.data[i * per..(i + 1) * per]);
        }
        Dataset {
            sample_shape: self.sample_shape.clone(),
            data,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// Keeps the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.data.truncate(n * self.sample_len());
        }
    }
}

/// Pixel normalisation: x = (pixel / 255 − mean) / std.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub mean: f32,
    pub std: f32,
}

/// A dataset on disk, as given on the command line (`mnist:DIR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSpec {
    /// MNIST IDX files (train-images-idx3-ubyte[.gz], …) in a directory.
    Mnist(PathBuf),
}

impl std::str::FromStr for DataSpec {
    type Err = DataError;

    fn from_str(s: &str) -> Result<DataSpec> {
        let (kind, path) = s.split_once(':').ok_or_else(|| {
            DataError::Spec(format!(
                "dataset `{s}` must look like KIND:PATH, e.g. mnist:data/mnist"
            ))
        })?;
        match kind {
            "mnist" => Ok(DataSpec::Mnist(PathBuf::from(path))),
            other => Err(DataError::Spec(format!(
                "dataset kind `{other}` is not supported; supported: mnist"
            ))),
        }
    }
}

impl DataSpec {
    /// The usual normalisation of this dataset (MNIST: mean 0.1307, std 0.3081).
    pub fn default_normalize(&self) -> Normalize {
        match self {
            DataSpec::Mnist(_) => Normalize {
                mean: 0.1307,
                std: 0.3081,
            },
        }
    }

    /// Loads one split.
    pub fn load(&self, split: Split, norm: Normalize) -> Result<Dataset> {
        match self {
            DataSpec::Mnist(dir) => load_mnist(dir, split, norm),
        }
    }
}
