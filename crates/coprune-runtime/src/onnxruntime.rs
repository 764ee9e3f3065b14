//! Latency through the user's own onnxruntime, loaded at run time (never downloaded): the
//! library comes from `ORT_DYLIB_PATH` or from a Python installation's `onnxruntime` package.

use crate::{Result, RuntimeError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One input: name, shape, f32 data.
pub type NamedInput = (String, Vec<usize>, Vec<f32>);

fn err(msg: String) -> RuntimeError {
    RuntimeError::External(msg)
}

/// Finds libonnxruntime: `ORT_DYLIB_PATH`, else `python3`'s onnxruntime package (capi/).
pub fn find_library() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(err(format!("ORT_DYLIB_PATH={} is not a file", p.display())))
        };
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .output();
    let hint = "onnxruntime library not found: set ORT_DYLIB_PATH to libonnxruntime.so, or `pip install onnxruntime`";
    let dir = match out {
        Ok(o) if o.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("capi")
        }
        _ => return Err(err(hint.into())),
    };
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|_| err(hint.into()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("libonnxruntime.so")
                    || n == "libonnxruntime.dylib"
                    || n == "onnxruntime.dll"
            })
        })
        .collect();
    libs.sort();
    libs.pop().ok_or_else(|| err(hint.into()))
}

/// The process's onnxruntime environment (onnxruntime allows one per process): loaded from
/// `lib` on first use.
fn environment(lib: &Path) -> Result<ort::environment::Environment> {
    static ENV: std::sync::Mutex<Option<ort::environment::Environment>> =
        std::sync::Mutex::new(None);
    let mut slot = ENV
        .lock()
        .map_err(|_| err("onnxruntime environment lock poisoned".into()))?;
    if let Some(e) = slot.as_ref() {
        return Ok(e.clone());
    }
    let env = ort::init_from(lib)
        .map_err(|x| err(format!("cannot load {}: {x}", lib.display())))?
        .build()
        .map_err(|x| err(x.to_string()))?;
    *slot = Some(env.clone());
    Ok(env)
}

/// Median-ready latencies (ms) of `model` in onnxruntime with f32 inputs of the given shapes,
/// after `warmup` runs, for at least `min_runs` runs and `min_time`.
pub fn measure(
    lib: &Path,
    model: &Path,
    inputs: &[NamedInput],
    threads: usize,
    warmup: usize,
    min_runs: usize,
    min_time: Duration,
) -> Result<Vec<f64>> {
    measure_model(
        lib,
        Source::File(model),
        inputs,
        threads,
        warmup,
        min_runs,
        min_time,
    )
}

/// Where onnxruntime reads the model from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    /// Serialized ONNX bytes.
    Bytes(&'a [u8]),
}

/// [`measure`] for a model in a file or in memory.
pub fn measure_model(
    lib: &Path,
    model: Source,
    inputs: &[NamedInput],
    threads: usize,
    warmup: usize,
    min_runs: usize,
    min_time: Duration,
) -> Result<Vec<f64>> {
    let e = |x: ort::Error| err(x.to_string());
    let env = environment(lib)?;
    let mut builder = ort::session::Session::builder(&env)
        .map_err(e)?
        .with_intra_threads(threads.max(1))
        .map_err(|x| err(x.to_string()))?;
    let mut session = match model {
        Source::File(p) => builder.commit_from_file(p),
        Source::Bytes(b) => builder.commit_from_memory(b),
    }
    .map_err(e)?;
    let make = || -> Result<Vec<(String, ort::value::DynValue)>> {
        inputs
            .iter()
            .map(|(name, shape, data)| {
                let t = ort::value::Tensor::from_array((
                    shape.clone(),
                    data.clone().into_boxed_slice(),
                ))
                .map_err(e)?;
                Ok((name.clone(), t.into_dyn()))
            })
            .collect()
    };
    for _ in 0..warmup {
        session.run(make()?).map_err(e)?;
    }
    let mut ms = Vec::new();
    let start = Instant::now();
    while ms.len() < min_runs || start.elapsed() < min_time {
        let x = make()?;
        let t = Instant::now();
        session.run(x).map_err(e)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if ms.len() >= 100_000 {
            break;
        }
    }
    Ok(ms)
}
