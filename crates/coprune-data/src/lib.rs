//! coprune-data: datasets for evaluation (and later fine-tuning).
//!
//! Place in the pipeline: feeds the evaluate and fine-tune stages. A [`Dataset`] is samples as
//! f32 (already normalised) plus integer labels; [`DataSpec`] parses the CLI's
//! `--data KIND:PATH[,OPTION=VALUE…]`. Formats: MNIST IDX (raw or `.gz`), CIFAR-10 binary
//! batches, `.npy` input/label pairs and `.npz` archives, and image folders (one folder per
//! class; PNG/JPEG) with resize, crop and normalisation options. An unknown kind is refused with
//! the list of supported ones.

mod cifar10;
mod folder;
mod mnist;
mod npy;

pub use cifar10::load_cifar10;
pub use folder::{load_folder, FolderOptions, Resize};
pub use mnist::load_mnist;
pub use npy::{load_npy_pair, load_npz};
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

/// Pixel normalisation per channel: x = (pixel / 255 − mean[c]) / std[c]. One value serves
/// every channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalize {
    /// The same mean and std for every channel.
    pub fn uniform(mean: f32, std: f32) -> Normalize {
        Normalize {
            mean: vec![mean],
            std: vec![std],
        }
    }

    /// Pixels / 255 unchanged otherwise.
    pub fn identity() -> Normalize {
        Normalize::uniform(0.0, 1.0)
    }

    /// ImageNet's statistics (torchvision's classifiers expect them).
    pub fn imagenet() -> Normalize {
        Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }

    /// Checks there is one value, or one per channel, and no zero std.
    pub fn check(&self, channels: usize) -> Result<()> {
        let fits = |v: &[f32]| v.len() == 1 || v.len() == channels;
        if !fits(&self.mean) || !fits(&self.std) {
            return Err(DataError::Spec(format!(
                "normalisation has {} means and {} stds for {channels} channels",
                self.mean.len(),
                self.std.len()
            )));
        }
        if self.std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err(DataError::Spec("normalisation std must be non-zero".into()));
        }
        Ok(())
    }

    /// Normalised samples from bytes laid out as samples of `channels` planes of `plane` pixels.
    pub fn bytes(&self, pixels: &[u8], channels: usize, plane: usize) -> Vec<f32> {
        let pick = |v: &[f32], c: usize| if v.len() == 1 { v[0] } else { v[c] };
        let table: Vec<[f32; 256]> = (0..channels.max(1))
            .map(|c| {
                let (m, s) = (pick(&self.mean, c), pick(&self.std, c));
                let mut t = [0.0f32; 256];
                for (p, v) in t.iter_mut().enumerate() {
                    *v = (p as f32 / 255.0 - m) / s;
                }
                t
            })
            .collect();
        pixels
            .iter()
            .enumerate()
            .map(|(i, &p)| table[(i / plane.max(1)) % table.len()][p as usize])
            .collect()
    }
}

/// A dataset on disk, as given on the command line (`KIND:PATH[,OPTION=VALUE…]`).
#[derive(Debug, Clone, PartialEq)]
pub enum DataSpec {
    /// MNIST IDX files (train-images-idx3-ubyte[.gz], …) in a directory.
    Mnist(PathBuf),
    /// CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin) in a directory.
    Cifar10(PathBuf),
    /// A NumPy archive with inputs and labels (x_train/y_train, x_test/y_test, or x/y).
    Npz(PathBuf),
    /// Two `.npy` files: inputs and labels.
    Npy(PathBuf, PathBuf),
    /// One folder per class (or train/ and test/ folders of those).
    Folder(PathBuf, FolderOptions),
}

const KINDS: &str = "mnist:DIR, cifar10:DIR, npz:FILE, npy:INPUTS.npy,LABELS.npy, \
                     folder:DIR[,size=HxW|resize=N][,crop=N][,gray][,mean=A/B/C][,std=A/B/C]";

impl std::str::FromStr for DataSpec {
    type Err = DataError;

    fn from_str(s: &str) -> Result<DataSpec> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            DataError::Spec(format!(
                "dataset `{s}` must look like KIND:PATH, e.g. mnist:data/mnist ({KINDS})"
            ))
        })?;
        if rest.is_empty() {
            return Err(DataError::Spec(format!("dataset `{s}` names no path")));
        }
        let plain = |path: &str| -> Result<PathBuf> {
            if path.contains(',') {
                return Err(DataError::Spec(format!(
                    "dataset kind `{kind}` takes no options (`{path}`)"
                )));
            }
            Ok(PathBuf::from(path))
        };
        match kind {
            "mnist" => Ok(DataSpec::Mnist(plain(rest)?)),
            "cifar10" => Ok(DataSpec::Cifar10(plain(rest)?)),
            "npz" => Ok(DataSpec::Npz(plain(rest)?)),
            "npy" => match rest.split_once(',') {
                Some((x, y)) if !x.is_empty() && !y.is_empty() && !y.contains(',') => {
                    Ok(DataSpec::Npy(PathBuf::from(x), PathBuf::from(y)))
                }
                _ => Err(DataError::Spec(format!(
                    "dataset `{s}`: npy takes two files, npy:INPUTS.npy,LABELS.npy"
                ))),
            },
            "folder" => {
                let mut parts = rest.split(',');
                let dir = PathBuf::from(parts.next().unwrap_or_default());
                let opts = FolderOptions::parse(parts)?;
                Ok(DataSpec::Folder(dir, opts))
            }
            other => Err(DataError::Spec(format!(
                "dataset kind `{other}` is not supported; supported: {KINDS}"
            ))),
        }
    }
}

impl DataSpec {
    /// The usual normalisation of this dataset: MNIST mean 0.1307, std 0.3081; CIFAR-10's
    /// per-channel statistics; a folder's options (ImageNet's by default); `.npy`/`.npz` byte
    /// images are only scaled to 0–1 (float arrays are used as they are).
    pub fn default_normalize(&self) -> Normalize {
        match self {
            DataSpec::Mnist(_) => Normalize::uniform(0.1307, 0.3081),
            DataSpec::Cifar10(_) => Normalize {
                mean: vec![0.4914, 0.4822, 0.4465],
                std: vec![0.2470, 0.2435, 0.2616],
            },
            DataSpec::Npz(_) | DataSpec::Npy(..) => Normalize::identity(),
            DataSpec::Folder(_, o) => o.normalize.clone(),
        }
    }

    /// Loads one split.
    pub fn load(&self, split: Split, norm: Normalize) -> Result<Dataset> {
        match self {
            DataSpec::Mnist(dir) => load_mnist(dir, split, norm),
            DataSpec::Cifar10(dir) => load_cifar10(dir, split, &norm),
            DataSpec::Npz(path) => load_npz(path, split, &norm),
            DataSpec::Npy(x, y) => load_npy_pair(x, y, &norm),
            DataSpec::Folder(dir, opts) => load_folder(dir, split, opts, &norm),
        }
    }
}
