//! MNIST in IDX format (LeCun et al.), raw or gzipped.

use crate::{DataError, Dataset, Normalize, Result, Split};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads `name` or `name.gz` from `dir`.
fn read_idx(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>)> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    let (path, gzipped) = if raw.is_file() {
        (raw, false)
    } else if gz.is_file() {
        (gz, true)
    } else {
        return Err(DataError::Io {
            path: gz,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("neither {name} nor {name}.gz exists"),
            ),
        });
    };
    let bytes = std::fs::read(&path).map_err(|source| DataError::Io {
        path: path.clone(),
        source,
    })?;
    if !gzipped {
        return Ok((path, bytes));
    }
    let mut out = Vec::new();
    GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| DataError::Format {
            path: path.clone(),
            msg: format!("not valid gzip: {e}"),
        })?;
    Ok((path, out))
}

/// Parses an IDX header: (dims, data offset). Only unsigned-byte data (type 0x08).
fn idx_dims(path: &Path, b: &[u8], rank: usize) -> Result<Vec<usize>> {
    let err = |msg: String| DataError::Format {
        path: path.to_path_buf(),
        msg,
    };
    if b.len() < 4 + 4 * rank || b[0] != 0 || b[1] != 0 {
        return Err(err("not an IDX file".into()));
    }
    if b[2] != 0x08 || b[3] as usize != rank {
        return Err(err(format!(
            "expected unsigned-byte data of rank {rank}, found type {:#x} rank {}",
            b[2], b[3]
        )));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes([b[4 + 4 * i], b[5 + 4 * i], b[6 + 4 * i], b[7 + 4 * i]]) as usize
        })
        .collect();
    let n: usize = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err("dims overflow".into()))?;
    if b.len() != 4 + 4 * rank + n {
        return Err(err(format!(
            "{} bytes of data, dims {dims:?} need {n}",
            b.len() - 4 - 4 * rank
        )));
    }
    Ok(dims)
}

/// Loads MNIST images as [1, rows, cols] normalised floats, with labels 0–9.
pub fn load_mnist(dir: &Path, split: Split, norm: Normalize) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let (ipath, images) = read_idx(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let (lpath, labels) = read_idx(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let idims = idx_dims(&ipath, &images, 3)?;
    let ldims = idx_dims(&lpath, &labels, 1)?;
    if idims[0] != ldims[0] {
        return Err(DataError::Format {
            path: lpath,
            msg: format!("{} labels for {} images", ldims[0], idims[0]),
        });
    }
    let labels: Vec<u32> = labels[8..].iter().map(|&l| l as u32).collect();
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(DataError::Format {
            path: lpath,
            msg: format!("label {bad} is outside 0..=9"),
        });
    }
    norm.check(1)?;
    let data = norm.bytes(&images[16..], 1, idims[1] * idims[2]);
    Ok(Dataset {
        sample_shape: vec![1, idims[1], idims[2]],
        data,
        labels,
        classes: 10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_idx(dir: &Path) {
        let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        img.extend([0, 255, 128, 0, 10, 20, 30, 40]);
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), img).unwrap();
        std::fs::write(
            dir.join("t10k-labels-idx1-ubyte"),
            [0, 0, 8, 1, 0, 0, 0, 2, 7, 3],
        )
        .unwrap();
    }

    #[test]
    fn reads_raw_idx() {
        let dir = coprune_testutil::temp_dir("mnist");
        write_idx(&dir);
        let d = load_mnist(&dir, Split::Test, Normalize::identity()).unwrap();
        assert_eq!(d.sample_shape, vec![1, 2, 2]);
        assert_eq!(d.labels, vec![7, 3]);
        assert_eq!(d.data[1], 1.0);
        std::fs::write(
            dir.join("t10k-labels-idx1-ubyte"),
            [0, 0, 8, 1, 0, 0, 0, 2, 7, 12],
        )
        .unwrap();
        let e = load_mnist(&dir, Split::Test, Normalize::identity()).unwrap_err();
        assert!(e.to_string().contains("label 12"), "{e}");
        std::fs::write(
            dir.join("t10k-labels-idx1-ubyte"),
            [0, 0, 8, 1, 0, 0, 0, 3, 7, 1],
        )
        .unwrap();
        assert!(load_mnist(&dir, Split::Test, Normalize::identity()).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
