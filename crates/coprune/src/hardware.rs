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
}

/// A target device and how its latency is predicted (plain data; the CLI's `--target`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySpec {
    /// Target name or profile file.
    pub target: String,
    pub kind: LatencyKind,
    /// Threads the deployed model runs on.
    pub threads: usize,
}

/// Builds the latency model of `spec` and returns it with the resolved profile.
pub fn latency_model(spec: &LatencySpec) -> Result<(HardwareProfile, Box<dyn LatencyModel>)> {
    let profile = resolve_target(&spec.target)?;
    let lm: Box<dyn LatencyModel> = match spec.kind {
        LatencyKind::Roofline => Box::new(Roofline {
            profile: profile.clone(),
            threads: spec.threads.max(1),
        }),
        LatencyKind::Measured => {
            if spec.target != "host" {
                return Err(Error::Usage(format!(
                    "measured latency needs the device itself: target `{}` can use the roofline model (--latency-model roofline), or run coprune on it",
                    spec.target
                )));
            }
            Box::new(coprune_runtime::measure::Measured::new(
                profile.clone(),
                spec.threads,
                5,
            ))
        }
    };
    Ok((profile, lm))
}
