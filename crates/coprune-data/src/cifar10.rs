//! CIFAR-10 binary version (Krizhevsky): records of one label byte and 3×32×32 pixel bytes
//! (channel planes), in `data_batch_1.bin` … `data_batch_5.bin` (train) and `test_batch.bin`.

use crate::{DataError, Dataset, Normalize, Result, Split};
use std::path::{Path, PathBuf};

const RECORD: usize = 1 + 3 * 32 * 32;

/// The directory holding the batches: `dir` itself or its `cifar-10-batches-bin` folder (as the
/// archive unpacks).
fn batches_dir(dir: &Path) -> PathBuf {
    let inner = dir.join("cifar-10-batches-bin");
    if !dir.join("test_batch.bin").is_file() && inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    }
}

/// Loads CIFAR-10 as [3, 32, 32] normalised floats with labels 0–9.
pub fn load_cifar10(dir: &Path, split: Split, norm: &Normalize) -> Result<Dataset> {
    norm.check(3)?;
    let dir = batches_dir(dir);
    let files: Vec<String> = match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".into()],
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for f in files {
        let path = dir.join(&f);
        let bytes = std::fs::read(&path).map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            return Err(DataError::Format {
                path,
                msg: format!(
                    "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records",
                    bytes.len()
                ),
            });
        }
        for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
            if rec[0] > 9 {
                return Err(DataError::Format {
                    path,
                    msg: format!("record {i} has label {} (outside 0..=9)", rec[0]),
                });
            }
            labels.push(rec[0] as u32);
            pixels.extend_from_slice(&rec[1..]);
        }
    }
    Ok(Dataset {
        sample_shape: vec![3, 32, 32],
        data: norm.bytes(&pixels, 3, 32 * 32),
        labels,
        classes: 10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut r = vec![label];
        for c in 0..3u8 {
            r.extend(std::iter::repeat_n(fill.wrapping_add(c), 1024));
        }
        r
    }

    #[test]
    fn reads_batches_with_per_channel_normalisation() {
        let dir = coprune_testutil::temp_dir("cifar10");
        let inner = dir.join("cifar-10-batches-bin");
        std::fs::create_dir_all(&inner).unwrap();
        let mut test = record(3, 0);
        test.extend(record(9, 255));
        std::fs::write(inner.join("test_batch.bin"), &test).unwrap();
        let norm = Normalize {
            mean: vec![0.0, 0.5, 1.0],
            std: vec![1.0, 0.5, 0.25],
        };
        let d = load_cifar10(&dir, Split::Test, &norm).unwrap();
        assert_eq!(d.labels, vec![3, 9]);
        assert_eq!(d.sample_shape, vec![3, 32, 32]);
        // Sample 0: planes of 0, 1, 2; sample 1: 255, 0 (wrapped), 1.
        assert_eq!(d.data[0], 0.0);
        assert!((d.data[1024] - (1.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
        assert!((d.data[2048] - (2.0 / 255.0 - 1.0) / 0.25).abs() < 1e-6);
        assert_eq!(d.data[3072], 1.0);
        // Train batches are missing: the error names the file.
        let e = load_cifar10(&dir, Split::Train, &norm).unwrap_err();
        assert!(e.to_string().contains("data_batch_1.bin"), "{e}");
        // A truncated record and a bad label are refused.
        std::fs::write(inner.join("test_batch.bin"), &test[..5000]).unwrap();
        let e = load_cifar10(&dir, Split::Test, &norm).unwrap_err();
        assert!(e.to_string().contains("whole number"), "{e}");
        std::fs::write(inner.join("test_batch.bin"), record(10, 0)).unwrap();
        let e = load_cifar10(&dir, Split::Test, &norm).unwrap_err();
        assert!(e.to_string().contains("label 10"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
