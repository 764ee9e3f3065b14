//! `coprune bench`: latency of a model on this machine, with coprune's runtime or through an
//! external probe command (a board over ssh/adb, TensorRT's trtexec, …).

use crate::input_shape::InputShape;
use crate::{Error, Result};
use coprune_ir::{infer::declared_shape, Model};
use coprune_runtime::sparse::SparseMode;
use coprune_runtime::{Session, Value};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Batch size (replaces the symbolic batch dim of each input).
    pub batch: usize,
    /// Runtime threads.
    pub threads: usize,
    /// Untimed runs first.
    pub warmup: usize,
    /// At least this many timed runs…
    pub min_runs: usize,
    /// …and at least this much timed time (a stable median needs both).
    pub min_time: Duration,
    /// Concrete shapes for inputs (override `batch`).
    pub input_shapes: Vec<InputShape>,
    /// Sparse kernels in coprune's runtime (auto: timed per layer at load).
    pub sparse: SparseMode,
}

impl Default for BenchConfig {
    fn default() -> BenchConfig {
        BenchConfig {
            batch: 1,
            threads: 1,
            warmup: 10,
            min_runs: 30,
            min_time: Duration::from_secs(1),
            input_shapes: Vec::new(),
            sparse: SparseMode::Auto,
        }
    }
}

/// Latency statistics.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchReport {
    pub model: String,
    pub runtime: String,
    pub batch: usize,
    pub threads: usize,
    pub runs: usize,
    pub median_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
    pub mean_ms: f64,
    /// Samples per second at the median latency.
    pub throughput: f64,
    /// coprune's runtime: layers whose weights have zeros, and the kernel each runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sparse_layers: Vec<SparseLayer>,
    /// coprune's runtime, when sparse layers had won their races: the whole model timed at
    /// load all dense and with them (milliseconds); the faster runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_race_ms: Option<(f64, f64)>,
}

/// One layer with zeros in its constant weight, as the runtime settled it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SparseLayer {
    pub node: String,
    /// Fraction of weights that are non-zero.
    pub density: f64,
    /// The sparse format when the sparse kernel runs; `None`: the dense kernel runs.
    pub format: Option<String>,
    /// Dense and sparse milliseconds measured at load (auto mode).
    pub timed_ms: Option<(f64, f64)>,
}

/// The median of some timings (NaN for none).
pub(crate) fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    percentile(&ms, 0.5)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn report(
    model: &str,
    runtime: &str,
    batch: usize,
    threads: usize,
    mut ms: Vec<f64>,
) -> BenchReport {
    ms.sort_by(f64::total_cmp);
    let median = percentile(&ms, 0.5);
    BenchReport {
        model: model.to_string(),
        runtime: runtime.to_string(),
        batch,
        threads,
        runs: ms.len(),
        median_ms: median,
        p10_ms: percentile(&ms, 0.1),
        p90_ms: percentile(&ms, 0.9),
        mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        throughput: batch as f64 * 1000.0 / median,
        sparse_layers: Vec::new(),
        model_race_ms: None,
    }
}

/// Concrete shapes and seeded random data ([-1, 1)) for every graph input: the same every run.
pub(crate) fn bench_inputs(
    model: &Model,
    cfg: &BenchConfig,
) -> Result<Vec<coprune_runtime::onnxruntime::NamedInput>> {
    let consts = model.graph.constants();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::new();
    for v in model
        .graph
        .inputs
        .iter()
        .filter(|v| !consts.contains_key(&v.name))
    {
        let shape: Vec<usize> = match cfg.input_shapes.iter().find(|s| s.name == v.name) {
            Some(s) => s.dims.iter().map(|&d| d as usize).collect(),
            None => {
                let (_, decl) = declared_shape(&v.name, &v.ty).ok_or_else(|| {
                    Error::Usage(format!(
                        "input `{}` has no declared shape; give --input-shape",
                        v.name
                    ))
                })?;
                decl.iter()
                    .enumerate()
                    .map(|(i, d)| {
                        d.as_known().map(|x| x as usize).unwrap_or(if i == 0 {
                            cfg.batch
                        } else {
                            1
                        })
                    })
                    .collect()
            }
        };
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                // SplitMix64.
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        out.push((v.name.clone(), shape, data));
    }
    Ok(out)
}

/// Measures latency with coprune's runtime on seeded random inputs.
pub fn bench_coprune(model: &Model, label: &str, cfg: &BenchConfig) -> Result<BenchReport> {
    let given = bench_inputs(model, cfg)?;
    let shapes: HashMap<String, Vec<usize>> = given
        .iter()
        .map(|(n, s, _)| (n.clone(), s.clone()))
        .collect();
    let rt = |source| Error::Runtime {
        path: label.to_string(),
        source,
    };
    let session = Session::with_sparse(model, &shapes, cfg.threads, cfg.sparse).map_err(rt)?;
    let order = session.input_shapes();
    let inputs: Vec<Value> = order
        .iter()
        .map(|(name, shape)| {
            let data = given
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|x| x.2.clone())
                .unwrap_or_default();
            Value::f32(shape.clone(), data)
        })
        .collect();
    let batch = order
        .first()
        .and_then(|(_, s)| s.first().copied())
        .unwrap_or(1);
    for _ in 0..cfg.warmup {
        let out = session.run(inputs.clone()).map_err(rt)?;
        session.recycle(out);
    }
    let mut ms = Vec::new();
    let start = Instant::now();
    while ms.len() < cfg.min_runs || start.elapsed() < cfg.min_time {
        let x = inputs.clone();
        let t = Instant::now();
        let out = session.run(x).map_err(rt)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        session.recycle(out);
        if ms.len() >= 100_000 {
            break;
        }
    }
    let mut r = report(label, "coprune", batch, cfg.threads, ms);
    r.sparse_layers = session
        .sparse_layers()
        .into_iter()
        .map(|(node, c)| SparseLayer {
            node: node.to_string(),
            density: c.density,
            format: c.format.map(str::to_string),
            timed_ms: c.timed_ms,
        })
        .collect();
    r.model_race_ms = session.model_race_ms();
    Ok(r)
}

/// Measures latency with the user's onnxruntime library (ORT_DYLIB_PATH, or Python's
/// onnxruntime package), loaded at run time, on the same inputs as [`bench_coprune`].
pub fn bench_ort(model: &Model, path: &Path, cfg: &BenchConfig) -> Result<BenchReport> {
    let label = path.display().to_string();
    let rt = |source| Error::Runtime {
        path: label.clone(),
        source,
    };
    let lib = coprune_runtime::onnxruntime::find_library().map_err(rt)?;
    let inputs = bench_inputs(model, cfg)?;
    let batch = inputs
        .first()
        .and_then(|(_, s, _)| s.first().copied())
        .unwrap_or(1);
    let ms = coprune_runtime::onnxruntime::measure(
        &lib,
        path,
        &inputs,
        cfg.threads,
        cfg.warmup,
        cfg.min_runs,
        cfg.min_time,
    )
    .map_err(rt)?;
    Ok(report(
        &label,
        &format!("onnxruntime ({})", lib.display()),
        batch,
        cfg.threads,
        ms,
    ))
}

/// The latency a probe printed: `median_ms` from a JSON object, else the last number followed
/// by `ms`, else the last number followed by `s` or `us` (converted).
pub fn parse_probe_latency(text: &str) -> Option<f64> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim()) {
        if let Some(m) = v.get("median_ms").and_then(|x| x.as_f64()) {
            return Some(m);
        }
    }
    for line in text.lines().rev() {
        let line = line.trim();
        if line.starts_with('{') {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                if let Some(m) = v.get("median_ms").and_then(|x| x.as_f64()) {
                    return Some(m);
                }
            }
        }
    }
    let mut found = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let num: Option<f64> = text[start..i].parse().ok();
            let rest = text[i..].trim_start();
            let unit = if rest.starts_with("ms") {
                Some(1.0)
            } else if rest.starts_with("us") || rest.starts_with("µs") {
                Some(1e-3)
            } else if rest.starts_with("s") && !rest.starts_with("samples") {
                Some(1e3)
            } else {
                None
            };
            if let (Some(n), Some(u)) = (num, unit) {
                found = Some(n * u);
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Measures latency by running `command` (with `{model}` replaced by the model path) `runs`
/// times and parsing the latency it prints.
pub fn bench_probe(
    model_path: &Path,
    command: &str,
    runs: usize,
    batch: usize,
) -> Result<BenchReport> {
    if !command.contains("{model}") {
        return Err(Error::Usage(format!(
            "--probe `{command}` must contain {{model}} where the model path goes"
        )));
    }
    let path = model_path.display().to_string();
    let quoted = format!("'{}'", path.replace('\'', r"'\''"));
    let cmd = command.replace("{model}", &quoted);
    let mut ms = Vec::new();
    for _ in 0..runs.max(1) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .map_err(|e| Error::Usage(format!("probe `{cmd}`: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(Error::Usage(format!(
                "probe `{cmd}` exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let v = parse_probe_latency(&text).ok_or_else(|| {
            Error::Usage(format!(
                "probe `{cmd}` printed no latency (expected a JSON line with median_ms, or a number followed by ms): {}",
                text.trim()
            ))
        })?;
        ms.push(v);
    }
    Ok(report(&path, &format!("probe: {command}"), batch, 0, ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_parsing() {
        assert_eq!(parse_probe_latency("latency: 12.5 ms\n"), Some(12.5));
        assert_eq!(
            parse_probe_latency("{\"median_ms\": 3.25, \"p10\": 1}"),
            Some(3.25)
        );
        assert_eq!(parse_probe_latency("mean 0.5 s"), Some(500.0));
        assert_eq!(
            parse_probe_latency("GPU Compute Time: min = 1.2 ms, median = 1.5 ms"),
            Some(1.5)
        );
        assert_eq!(parse_probe_latency("nothing here"), None);
        // A pretty-printed document (coprune bench --json) counts too.
        assert_eq!(
            parse_probe_latency("{\n  \"p10_ms\": 1.0,\n  \"median_ms\": 2.5\n}\n"),
            Some(2.5)
        );
    }
}
