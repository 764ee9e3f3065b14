//! Image folders as torchvision's `ImageFolder` reads them: one sub-folder per class (sorted
//! names give the class indices), PNG or JPEG files inside (decoded with the `image` crate, in
//! parallel). `DIR/train` and `DIR/test` (or `DIR/val`) give the splits when present; otherwise
//! `DIR` serves every split. Options resize (exactly, or the shorter side keeping the aspect
//! ratio, bilinear), centre-crop, convert to one channel, and normalise per channel.

use crate::{DataError, Dataset, Normalize, Result, Split};
use image::imageops::FilterType;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// How images are resized before cropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Kept as they are (every image must then have the same size).
    None,
    /// To exactly height × width.
    Exact(u32, u32),
    /// The shorter side to this length, keeping the aspect ratio (torchvision's `Resize(N)`).
    Shorter(u32),
}

/// Options of `folder:DIR,…`.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderOptions {
    pub resize: Resize,
    /// Centre crop to N × N after resizing.
    pub crop: Option<u32>,
    /// One grey channel instead of RGB.
    pub gray: bool,
    /// Per-channel normalisation (ImageNet's unless given).
    pub normalize: Normalize,
}

impl Default for FolderOptions {
    fn default() -> FolderOptions {
        FolderOptions {
            resize: Resize::None,
            crop: None,
            gray: false,
            normalize: Normalize::imagenet(),
        }
    }
}

fn number<T: std::str::FromStr>(key: &str, v: &str) -> Result<T> {
    v.parse()
        .map_err(|_| DataError::Spec(format!("folder option {key}=`{v}` is not a number")))
}

impl FolderOptions {
    /// Parses `size=HxW`, `resize=N`, `crop=N`, `gray`, `mean=A/B/C`, `std=A/B/C`.
    pub fn parse<'a>(parts: impl Iterator<Item = &'a str>) -> Result<FolderOptions> {
        let mut o = FolderOptions::default();
        let mut norm_given = (false, false);
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match (k, v) {
                ("gray", "") => o.gray = true,
                ("size", v) => {
                    let (h, w) = v.split_once('x').ok_or_else(|| {
                        DataError::Spec(format!("folder option size=`{v}` must look like 224x224"))
                    })?;
                    o.resize = Resize::Exact(number(k, h)?, number(k, w)?);
                }
                ("resize", v) => o.resize = Resize::Shorter(number(k, v)?),
                ("crop", v) => o.crop = Some(number(k, v)?),
                ("mean" | "std", v) => {
                    let vals = v.split('/').map(|x| number::<f32>(k, x)).collect::<Result<Vec<_>>>()?;
                    if k == "mean" {
                        o.normalize.mean = vals;
                        norm_given.0 = true;
                    } else {
                        o.normalize.std = vals;
                        norm_given.1 = true;
                    }
                }
                _ => {
                    return Err(DataError::Spec(format!(
                        "unknown folder option `{p}`; options: size=HxW, resize=N, crop=N, gray, mean=A/B/C, std=A/B/C"
                    )))
                }
            }
        }
        if matches!(
            o.resize,
            Resize::Exact(0, _) | Resize::Exact(_, 0) | Resize::Shorter(0)
        ) || o.crop == Some(0)
        {
            return Err(DataError::Spec("folder sizes must be positive".into()));
        }
        if o.gray && !norm_given.0 && !norm_given.1 {
            o.normalize = Normalize::uniform(0.5, 0.5);
        }
        let channels = if o.gray { 1 } else { 3 };
        o.normalize.check(channels)?;
        Ok(o)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Sorted sub-folders of `dir`.
fn class_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let p = e.map_err(io(dir))?.path();
        if p.is_dir() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Image files under `dir`, recursively, in sorted order.
fn images_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()).map_err(io(dir)))
        .collect::<Result<_>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            images_under(&p, out)?;
        } else if is_image(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// The folder holding the classes of `split`.
fn split_dir(dir: &Path, split: Split) -> Result<PathBuf> {
    let (train, test, val) = (dir.join("train"), dir.join("test"), dir.join("val"));
    if !train.is_dir() && !test.is_dir() && !val.is_dir() {
        return Ok(dir.to_path_buf());
    }
    let pick = match split {
        Split::Train => Some(train).filter(|p| p.is_dir()),
        Split::Test => [test, val].into_iter().find(|p| p.is_dir()),
    };
    pick.ok_or_else(|| {
        DataError::Spec(format!(
            "{}: has train/test folders but none for the {} split",
            dir.display(),
            match split {
                Split::Train => "train",
                Split::Test => "test (or val)",
            }
        ))
    })
}

/// Decodes, resizes and crops one image; returns its (height, width) and CHW bytes.
fn decode(path: &Path, o: &FolderOptions) -> Result<((u32, u32), Vec<u8>)> {
    let img = image::open(path).map_err(|e| DataError::Format {
        path: path.to_path_buf(),
        msg: format!("cannot decode the image: {e}"),
    })?;
    let img = match o.resize {
        Resize::None => img,
        Resize::Exact(h, w) => img.resize_exact(w, h, FilterType::Triangle),
        Resize::Shorter(n) => {
            let (w, h) = (img.width().max(1), img.height().max(1));
            let (nw, nh) = if w <= h {
                (n, ((h as u64 * n as u64) / w as u64).max(1) as u32)
            } else {
                (((w as u64 * n as u64) / h as u64).max(1) as u32, n)
            };
            img.resize_exact(nw, nh, FilterType::Triangle)
        }
    };
    let img = match o.crop {
        Some(c) if c <= img.width() && c <= img.height() => {
            img.crop_imm((img.width() - c) / 2, (img.height() - c) / 2, c, c)
        }
        Some(c) => {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                msg: format!(
                    "{}×{} after resizing is smaller than the {c}×{c} crop",
                    img.width(),
                    img.height()
                ),
            })
        }
        None => img,
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = w * h;
    let bytes = if o.gray {
        img.to_luma8().into_raw()
    } else {
        let rgb = img.to_rgb8().into_raw();
        let mut chw = vec![0u8; rgb.len()];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                chw[c * plane + i] = px[c];
            }
        }
        chw
    };
    Ok(((h as u32, w as u32), bytes))
}

/// Loads one split of an image folder.
pub fn load_folder(
    dir: &Path,
    split: Split,
    o: &FolderOptions,
    norm: &Normalize,
) -> Result<Dataset> {
    let root = split_dir(dir, split)?;
    let classes = class_dirs(&root)?;
    if classes.is_empty() {
        return Err(DataError::Format {
            path: root,
            msg: "no class folders (expected one sub-folder of images per class)".into(),
        });
    }
    // Every split must list the same classes, or indices would disagree.
    let other = split_dir(
        dir,
        match split {
            Split::Train => Split::Test,
            Split::Test => Split::Train,
        },
    );
    if let Some(other) = other.ok().filter(|p| p != &root) {
        let names = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect()
        };
        let theirs = class_dirs(&other)?;
        if names(&classes) != names(&theirs) {
            return Err(DataError::Format {
                path: other,
                msg: format!("class folders differ from {}'s", root.display()),
            });
        }
    }
    let mut files: Vec<(PathBuf, u32)> = Vec::new();
    for (k, c) in classes.iter().enumerate() {
        let mut imgs = Vec::new();
        images_under(c, &mut imgs)?;
        files.extend(imgs.into_iter().map(|p| (p, k as u32)));
    }
    if files.is_empty() {
        return Err(DataError::Format {
            path: root,
            msg: "no PNG or JPEG images in the class folders".into(),
        });
    }
    let channels = if o.gray { 1 } else { 3 };
    norm.check(channels)?;
    let decoded: Vec<((u32, u32), Vec<u8>)> = files
        .par_iter()
        .map(|(p, _)| decode(p, o))
        .collect::<Result<_>>()?;
    let size = decoded[0].0;
    let mut pixels = Vec::with_capacity(decoded.len() * decoded[0].1.len());
    for ((s, bytes), (p, _)) in decoded.into_iter().zip(&files) {
        if s != size {
            return Err(DataError::Format {
                path: p.clone(),
                msg: format!(
                    "{}×{} where the first image is {}×{}; give size=HxW or resize=N,crop=N",
                    s.0, s.1, size.0, size.1
                ),
            });
        }
        pixels.extend(bytes);
    }
    let (h, w) = (size.0 as usize, size.1 as usize);
    Ok(Dataset {
        sample_shape: vec![channels, h, w],
        data: norm.bytes(&pixels, channels, h * w),
        labels: files.iter().map(|(_, l)| *l).collect(),
        classes: classes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        img.save(path).unwrap();
    }

    #[test]
    fn classes_splits_resize_crop_and_normalise() {
        let dir = coprune_testutil::temp_dir("folder");
        png(&dir.join("train/cat/a.png"), 4, 4, |_, _| [255, 0, 0]);
        png(&dir.join("train/dog/b.png"), 4, 4, |_, _| [0, 255, 0]);
        png(&dir.join("test/cat/c.png"), 6, 6, |x, _| {
            [x as u8 * 40, 0, 0]
        });
        png(&dir.join("test/dog/d.jpg"), 8, 6, |_, _| [0, 0, 200]);
        png(&dir.join("test/dog/sub/e.png"), 6, 6, |_, _| [0, 0, 255]);
        let opts: FolderOptions =
            FolderOptions::parse("resize=4,crop=4,mean=0/0/0,std=1/1/1".split(',')).unwrap();
        let d = load_folder(&dir, Split::Train, &opts, &opts.normalize).unwrap();
        assert_eq!(
            (d.sample_shape.clone(), d.labels.clone(), d.classes),
            (vec![3, 4, 4], vec![0, 1], 2)
        );
        assert_eq!(d.data[0], 1.0); // cat: red plane
        assert_eq!(d.data[48 + 16], 1.0); // dog: green plane
        let t = load_folder(&dir, Split::Test, &opts, &opts.normalize).unwrap();
        assert_eq!(t.labels, vec![0, 1, 1]);
        // The JPEG (8×6 → 5×4 → crop 4×4) is blue, within JPEG's error.
        let blue = t.data[48 + 32];
        assert!((blue - 200.0 / 255.0).abs() < 0.05, "{blue}");
        // Without resizing, sizes differ: the error names the file and the fix.
        let plain = FolderOptions::parse(std::iter::empty()).unwrap();
        let e = load_folder(&dir, Split::Test, &plain, &plain.normalize)
            .unwrap_err()
            .to_string();
        assert!(e.contains("d.jpg") && e.contains("resize=N"), "{e}");
        // Grey images: one channel.
        let g = FolderOptions::parse("size=2x2,gray".split(',')).unwrap();
        let d = load_folder(&dir, Split::Train, &g, &g.normalize).unwrap();
        assert_eq!(d.sample_shape, vec![1, 2, 2]);
        // A test split whose classes differ from train's is refused.
        png(&dir.join("test/emu/f.png"), 6, 6, |_, _| [1, 2, 3]);
        let e = load_folder(&dir, Split::Test, &opts, &opts.normalize)
            .unwrap_err()
            .to_string();
        assert!(e.contains("class folders differ"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn options_are_checked() {
        for bad in [
            "size=224",
            "resize=x",
            "crop=0",
            "mean=1/2",
            "flip",
            "std=0/1/1",
        ] {
            assert!(FolderOptions::parse(bad.split(',')).is_err(), "{bad}");
        }
        let o = FolderOptions::parse("size=32x48,mean=0.5,std=0.25".split(',')).unwrap();
        assert_eq!(o.resize, Resize::Exact(32, 48));
        assert_eq!(o.normalize, Normalize::uniform(0.5, 0.25));
    }
}
