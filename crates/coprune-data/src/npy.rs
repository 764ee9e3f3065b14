//! NumPy `.npy` input/label pairs and `.npz` archives (read with the `npyz` and `zip` crates).
//! Inputs: float arrays are used as they are (already preprocessed); byte arrays are images,
//! scaled to 0–1 and normalised, and rank-4 byte arrays with 1 or 3 trailing channels (NHWC, as
//! Keras stores them) are turned into NCHW. Labels: one integer per sample.

use crate::{DataError, Dataset, Normalize, Result, Split};
use npyz::{DType, NpyFile, Order, TypeChar};
use std::io::Read;
use std::path::Path;

/// An array as read: shape and either floats or bytes.
enum Array {
    Float(Vec<usize>, Vec<f32>),
    Bytes(Vec<usize>, Vec<u8>),
    Int(Vec<usize>, Vec<i64>),
}

fn read_array(path: &Path, what: &str, r: impl Read) -> Result<Array> {
    let err = |msg: String| DataError::Format {
        path: path.to_path_buf(),
        msg: format!("{what}: {msg}"),
    };
    let npy = NpyFile::new(r).map_err(|e| err(format!("not a NumPy array: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if npy.order() == Order::Fortran && shape.len() > 1 {
        return Err(err(
            "Fortran-ordered arrays are not supported; save it with np.ascontiguousarray".into(),
        ));
    }
    let DType::Plain(ts) = npy.dtype() else {
        return Err(err("structured arrays are not supported".into()));
    };
    let io = |e: std::io::Error| err(format!("reading the data: {e}"));
    Ok(match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => Array::Float(shape, npy.into_vec::<f32>().map_err(io)?),
        (TypeChar::Float, 8) => Array::Float(
            shape,
            npy.into_vec::<f64>()
                .map_err(io)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        ),
        (TypeChar::Uint, 1) => Array::Bytes(shape, npy.into_vec::<u8>().map_err(io)?),
        (TypeChar::Int, 1) => Array::Int(shape, to_i64(npy.into_vec::<i8>().map_err(io)?)),
        (TypeChar::Int, 2) => Array::Int(shape, to_i64(npy.into_vec::<i16>().map_err(io)?)),
        (TypeChar::Int, 4) => Array::Int(shape, to_i64(npy.into_vec::<i32>().map_err(io)?)),
        (TypeChar::Int, 8) => Array::Int(shape, npy.into_vec::<i64>().map_err(io)?),
        (TypeChar::Uint, 2) => Array::Int(shape, to_i64(npy.into_vec::<u16>().map_err(io)?)),
        (TypeChar::Uint, 4) => Array::Int(shape, to_i64(npy.into_vec::<u32>().map_err(io)?)),
        (TypeChar::Uint, 8) => Array::Int(
            shape,
            npy.into_vec::<u64>()
                .map_err(io)?
                .into_iter()
                .map(|v| v.min(i64::MAX as u64) as i64)
                .collect(),
        ),
        _ => return Err(err(format!("element type `{}` is not supported", ts))),
    })
}

fn to_i64<T: Into<i64>>(v: Vec<T>) -> Vec<i64> {
    v.into_iter().map(Into::into).collect()
}

/// Builds the dataset from an input array and a label array.
fn dataset(path: &Path, x: Array, y: Array, norm: &Normalize) -> Result<Dataset> {
    let err = |msg: String| DataError::Format {
        path: path.to_path_buf(),
        msg,
    };
    let (lshape, labels) = match y {
        Array::Int(s, v) => (s, v),
        Array::Bytes(s, v) => (s, v.into_iter().map(i64::from).collect()),
        Array::Float(..) => {
            return Err(err(
                "labels must be integers (class indices), found floats".into()
            ))
        }
    };
    if lshape.len() != 1 && !(lshape.len() == 2 && lshape[1] == 1) {
        return Err(err(format!("labels must have shape [N], found {lshape:?}")));
    }
    let labels: Vec<u32> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            u32::try_from(l)
                .map_err(|_| err(format!("label {l} of sample {i} is negative or too large")))
        })
        .collect::<Result<_>>()?;
    let (shape, data) = match x {
        Array::Float(s, v) => (s, v),
        Array::Int(s, v) => (s, v.into_iter().map(|x| x as f32).collect()),
        Array::Bytes(mut s, v) => {
            let v = if s.len() == 4 && matches!(s[3], 1 | 3) && !matches!(s[1], 1 | 3) {
                // NHWC bytes → NCHW.
                let (n, h, w, c) = (s[0], s[1], s[2], s[3]);
                let mut t = vec![0u8; v.len()];
                for i in 0..n {
                    for y in 0..h {
                        for x in 0..w {
                            for ch in 0..c {
                                t[((i * c + ch) * h + y) * w + x] =
                                    v[((i * h + y) * w + x) * c + ch];
                            }
                        }
                    }
                }
                s = vec![n, c, h, w];
                t
            } else {
                v
            };
            let channels = if s.len() >= 4 { s[1] } else { 1 };
            let plane: usize = if s.len() >= 4 {
                s[2..].iter().product()
            } else {
                s[1..].iter().product()
            };
            norm.check(channels)?;
            let data = norm.bytes(&v, channels, plane);
            (s, data)
        }
    };
    if shape.len() < 2 {
        return Err(err(format!(
            "inputs must have shape [N, …], found {shape:?}"
        )));
    }
    if shape[0] != labels.len() {
        return Err(err(format!(
            "{} inputs but {} labels",
            shape[0],
            labels.len()
        )));
    }
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    Ok(Dataset {
        sample_shape: shape[1..].to_vec(),
        data,
        labels,
        classes,
    })
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads inputs and labels from two `.npy` files (the same for every split).
pub fn load_npy_pair(x: &Path, y: &Path, norm: &Normalize) -> Result<Dataset> {
    let xa = read_array(x, "inputs", std::io::BufReader::new(open(x)?))?;
    let ya = read_array(y, "labels", std::io::BufReader::new(open(y)?))?;
    dataset(y, xa, ya, norm)
}

/// Loads one split from an `.npz` archive: `x_train`/`y_train` or `x_test`/`y_test` when
/// present, else `x`/`y` (also `inputs`, `images` or `data` with `labels`) for every split.
pub fn load_npz(path: &Path, split: Split, norm: &Normalize) -> Result<Dataset> {
    let err = |msg: String| DataError::Format {
        path: path.to_path_buf(),
        msg,
    };
    let mut zip = zip::ZipArchive::new(open(path)?)
        .map_err(|e| err(format!("not an .npz (zip) archive: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.strip_suffix(".npy"))
        .map(str::to_string)
        .collect();
    let suffix = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    let pairs = [
        (format!("x_{suffix}"), format!("y_{suffix}")),
        ("x".into(), "y".into()),
        ("inputs".into(), "labels".into()),
        ("images".into(), "labels".into()),
        ("data".into(), "labels".into()),
    ];
    let Some((xk, yk)) = pairs
        .iter()
        .find(|(x, y)| names.contains(x) && names.contains(y))
    else {
        let mut sorted = names.clone();
        sorted.sort();
        return Err(err(format!(
            "no input/label arrays for the {suffix} split: expected x_{suffix}/y_{suffix} or x/y, the archive has {}",
            if sorted.is_empty() { "no arrays".into() } else { sorted.join(", ") }
        )));
    };
    let mut read = |key: &str, what: &str| -> Result<Array> {
        let entry = zip
            .by_name(&format!("{key}.npy"))
            .map_err(|e| err(format!("{key}: {e}")))?;
        read_array(path, &format!("{what} `{key}`"), entry)
    };
    let xa = read(xk, "inputs")?;
    let ya = read(yk, "labels")?;
    dataset(path, xa, ya, norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An `.npy` file (format 1.0) of `descr` with `shape` and raw little-endian `data`.
    fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let tuple = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn npy_pair_of_floats_and_int64_labels() {
        let dir = coprune_testutil::temp_dir("npy-pair");
        let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
        std::fs::write(
            &x,
            npy("<f4", &[3, 2], &f32s(&[0.5, -1.0, 2.0, 3.0, 4.0, 5.0])),
        )
        .unwrap();
        let labels: Vec<u8> = [1i64, 0, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&y, npy("<i8", &[3], &labels)).unwrap();
        let d = load_npy_pair(&x, &y, &Normalize::identity()).unwrap();
        assert_eq!(d.sample_shape, vec![2]);
        assert_eq!(d.data, vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!((d.labels.clone(), d.classes), (vec![1, 0, 4], 5));
        // Labels that are floats, or fewer labels than inputs, are refused.
        std::fs::write(&y, npy("<f4", &[3], &f32s(&[1.0, 0.0, 4.0]))).unwrap();
        let e = load_npy_pair(&x, &y, &Normalize::identity()).unwrap_err();
        assert!(e.to_string().contains("integers"), "{e}");
        std::fs::write(&y, npy("|u1", &[2], &[1, 0])).unwrap();
        let e = load_npy_pair(&x, &y, &Normalize::identity()).unwrap_err();
        assert!(e.to_string().contains("3 inputs but 2 labels"), "{e}");
        std::fs::write(&x, b"not numpy").unwrap();
        let e = load_npy_pair(&x, &y, &Normalize::identity()).unwrap_err();
        assert!(
            e.to_string().contains("x.npy") && e.to_string().contains("not a NumPy array"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn npz_splits_and_nhwc_bytes() {
        let dir = coprune_testutil::temp_dir("npz");
        let path = dir.join("d.npz");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        // Two 2×2 RGB images in NHWC: pixel (y, x) of image i has channels (i, 10+y, 20+x).
        let mut px = Vec::new();
        for i in 0..2u8 {
            for yy in 0..2u8 {
                for xx in 0..2u8 {
                    px.extend([i, 10 + yy, 20 + xx]);
                }
            }
        }
        for (name, bytes) in [
            ("x_test.npy", npy("|u1", &[2, 2, 2, 3], &px)),
            ("y_test.npy", npy("<i4", &[2], &[7, 0, 0, 0, 2, 0, 0, 0])),
            ("x_train.npy", npy("<f8", &[1, 1], &1.5f64.to_le_bytes())),
            ("y_train.npy", npy("|u1", &[1], &[0])),
        ] {
            z.start_file(name, opts).unwrap();
            z.write_all(&bytes).unwrap();
        }
        z.finish().unwrap();
        let d = load_npz(&path, Split::Test, &Normalize::identity()).unwrap();
        assert_eq!(d.sample_shape, vec![3, 2, 2]);
        assert_eq!(d.labels, vec![7, 2]);
        // Image 1, channel 1 (10 + y), all four pixels.
        let plane: Vec<f32> = d.data[12 + 4..12 + 8]
            .iter()
            .map(|v| (v * 255.0).round())
            .collect();
        assert_eq!(plane, vec![10.0, 10.0, 11.0, 11.0]);
        let t = load_npz(&path, Split::Train, &Normalize::identity()).unwrap();
        assert_eq!((t.data.clone(), t.labels.clone()), (vec![1.5], vec![0]));
        // An archive without the expected arrays says what it has.
        let bad = dir.join("bad.npz");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&bad).unwrap());
        z.start_file("features.npy", opts).unwrap();
        z.write_all(&npy("<f4", &[1, 1], &f32s(&[1.0]))).unwrap();
        z.finish().unwrap();
        let e = load_npz(&bad, Split::Test, &Normalize::identity()).unwrap_err();
        assert!(e.to_string().contains("features"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
