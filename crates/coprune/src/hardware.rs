//! `coprune profile` and target resolution: a built-in profile, the measured host, or a user's
//! TOML file; and the latency model a plan is made against.

use crate::{Error, Result};
use coprune_hw::{HardwareProfile, LatencyModel, Roofline};
use serde::{Deserialize, Serialize};

/// Resolves a target: `host` is detected and measured (GEMM peak, bandwidth); anything else is a
/// built-in profile name or a TOML file.
pub fn resolve_target(name: &str) -> Result<HardwareProfile> {
    if name == "host" {
        return Ok(coprune_runtime::measure::measure_host());
    }
    HardwareProfile::resolve(name).map_err(|e| Error::Usage(e.to_string()))
}

/// Which latency model to plan against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyKind {
    /// Analytic roofline with channel padding, for any profile.
    Roofline,
    /// Each layer timed alone with coprune's runtime (host only).
    Measured,
    /// Each layer timed alone with the user's onnxruntime library (host only).
    MeasuredOrt,
    /// Each layer timed alone by an external probe command (`LatencySpec::probe`), on whatever
    /// device it reaches.
    Probe,
}

/// A target device and how its latency is predicted (plain data; the CLI's `--target`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySpec {
    /// Target name or profile file.
    pub target: String,
    pub kind: LatencyKind,
    /// Threads the deployed model runs on.
    pub threads: usize,
    /// Where measured per-layer tables are kept between runs (`None`: measure afresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// For [`LatencyKind::Probe`]: the command, with `{model}` where the model path goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

/// The default folder for measured latency tables: `$COPRUNE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/coprune`, else `~/.cache/coprune`.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    env("COPRUNE_CACHE_DIR")
        .map(Into::into)
        .or_else(|| env("XDG_CACHE_HOME").map(|d| std::path::PathBuf::from(d).join("coprune")))
        .or_else(|| env("HOME").map(|d| std::path::PathBuf::from(d).join(".cache/coprune")))
}

/// Builds the latency model of `spec` and returns it with the resolved profile.
pub fn latency_model(spec: &LatencySpec) -> Result<(HardwareProfile, Box<dyn LatencyModel>)> {
    let profile = resolve_target(&spec.target)?;
    let lm: Box<dyn LatencyModel> = match spec.kind {
        LatencyKind::Roofline => Box::new(Roofline {
            profile: profile.clone(),
            // A device runs at most one thread per core (an MCU: one).
            threads: spec.threads.clamp(1, profile.cores.max(1)),
        }),
        LatencyKind::Probe => {
            let command = probe_command(spec)?.to_string();
            let cmd = command.clone();
            let backend = coprune_runtime::measure::Backend::Probe {
                command: command.clone(),
                measure: Box::new(move |m| {
                    let bytes = coprune_onnx::encode(m).ok()?;
                    probe_bytes(&bytes, &cmd).ok()
                }),
            };
            Box::new(measured(&profile, spec, 1, backend))
        }
        LatencyKind::Measured | LatencyKind::MeasuredOrt => {
            if spec.target != "host" {
                return Err(Error::Usage(format!(
                    "measured latency needs the device itself: target `{}` can use the roofline model (--latency-model roofline), or run coprune on it",
                    spec.target
                )));
            }
            let backend = if spec.kind == LatencyKind::MeasuredOrt {
                let lib = coprune_runtime::onnxruntime::find_library().map_err(|source| {
                    Error::Runtime {
                        path: "onnxruntime".into(),
                        source,
                    }
                })?;
                coprune_runtime::measure::Backend::Ort {
                    lib,
                    encode: Box::new(|m| coprune_onnx::encode(m).ok()),
                }
            } else {
                coprune_runtime::measure::Backend::Coprune
            };
            Box::new(measured(&profile, spec, 5, backend))
        }
    };
    Ok((profile, lm))
}

/// The dense model's end-to-end latency (median ms) with the backend of `spec`, for calibrating a
/// measured per-layer table.
pub fn whole_model_ms(
    model: &coprune_ir::Model,
    label: &str,
    spec: &LatencySpec,
    input_shapes: Vec<crate::input_shape::InputShape>,
) -> Result<f64> {
    let cfg = crate::bench::BenchConfig {
        threads: spec.threads,
        warmup: 3,
        min_runs: 10,
        min_time: std::time::Duration::from_millis(300),
        input_shapes,
        ..Default::default()
    };
    if spec.kind == LatencyKind::Probe {
        let bytes = coprune_onnx::encode(model)?;
        let ms = (0..3)
            .map(|_| probe_bytes(&bytes, probe_command(spec)?))
            .collect::<Result<Vec<f64>>>()?;
        return Ok(crate::bench::median(ms));
    }
    if spec.kind != LatencyKind::MeasuredOrt {
        return Ok(crate::bench::bench_coprune(model, label, &cfg)?.median_ms);
    }
    let rt = |source| Error::Runtime {
        path: label.to_string(),
        source,
    };
    let lib = coprune_runtime::onnxruntime::find_library().map_err(rt)?;
    let bytes = coprune_onnx::encode(model)?;
    let inputs = crate::bench::bench_inputs(model, &cfg)?;
    let ms = coprune_runtime::onnxruntime::measure_model(
        &lib,
        coprune_runtime::onnxruntime::Source::Bytes(&bytes),
        &inputs,
        cfg.threads,
        cfg.warmup,
        cfg.min_runs,
        cfg.min_time,
    )
    .map_err(rt)?;
    Ok(crate::bench::median(ms))
}

/// Two models measured end to end in alternation, `rounds` times each, so that both figures see
/// the same moments of a machine whose speed drifts over seconds: the medians of `a` and `b`.
pub fn alternating_ms(
    a: (&coprune_ir::Model, &str),
    b: (&coprune_ir::Model, &str),
    spec: &LatencySpec,
    input_shapes: &[crate::input_shape::InputShape],
    rounds: usize,
) -> Result<(f64, f64)> {
    let (mut ma, mut mb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ma.push(whole_model_ms(a.0, a.1, spec, input_shapes.to_vec())?);
        mb.push(whole_model_ms(b.0, b.1, spec, input_shapes.to_vec())?);
    }
    Ok((crate::bench::median(ma), crate::bench::median(mb)))
}

/// A measured per-layer table timed by `backend` (`runs` timed runs per node), kept in the
/// spec's cache folder when it has one.
fn measured(
    profile: &HardwareProfile,
    spec: &LatencySpec,
    runs: usize,
    backend: coprune_runtime::measure::Backend,
) -> coprune_runtime::measure::Measured {
    let m = coprune_runtime::measure::Measured::with_backend(
        profile.clone(),
        spec.threads,
        runs,
        backend,
    );
    match &spec.cache_dir {
        Some(dir) => m.with_cache(dir),
        None => m,
    }
}

fn probe_command(spec: &LatencySpec) -> Result<&str> {
    spec.probe.as_deref().ok_or_else(|| {
        Error::Usage("the probe latency model needs --probe 'COMMAND {model}'".into())
    })
}

/// Writes `bytes` to a fresh temporary model file, runs the probe on it once and returns the
/// milliseconds it printed.
fn probe_bytes(bytes: &[u8], command: &str) -> Result<f64> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("coprune-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Usage(format!("probe: cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("m{k}.onnx"));
    coprune_onnx::write_atomic(&path, bytes)?;
    let r = crate::bench::bench_probe(&path, command, 1, 1).map(|r| r.median_ms);
    std::fs::remove_file(&path).ok();
    std::fs::remove_dir(&dir).ok(); // only when no other probe is writing there
    r
}
