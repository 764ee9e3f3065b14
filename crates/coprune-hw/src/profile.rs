//! Hardware profiles: plain serde data, built-in ones as TOML in `profiles/`.

use crate::{HwError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What kind of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Cpu,
    Mcu,
    Gpu,
    Accelerator,
}

/// Cache sizes in KiB (per core for L1/L2, shared L3), where known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caches {
    pub l1d: Option<u64>,
    pub l2: Option<u64>,
    pub l3: Option<u64>,
}

/// Memory limits of a small device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryBudget {
    /// Working memory for activations, KiB.
    pub ram_kb: u64,
    /// Storage for weights, KiB.
    pub flash_kb: u64,
}

/// A target device as the planner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareProfile {
    /// Built-in name, `host`, or the user's.
    pub name: String,
    pub kind: DeviceKind,
    /// Where the figures come from: `declared` (data-sheet class), `detected`, or `measured`.
    pub source: String,
    /// Cores (CPU), streaming multiprocessors (GPU), arrays (accelerator).
    pub cores: usize,
    /// Widest vector register in bits.
    pub simd_bits: usize,
    /// Instruction-set extensions that matter for kernels.
    pub isa: Vec<String>,
    #[serde(default)]
    pub cache_kb: Caches,
    /// Dense f32 multiply-add peak of the units convolutions and GEMMs run on (TF32 tensor cores
    /// for GPUs), whole device, GFLOP/s.
    pub peak_gflops: f64,
    /// Dense int8 peak, whole device, GOP/s.
    pub peak_gops_int8: f64,
    /// Main-memory bandwidth, GB/s.
    pub bandwidth_gbs: f64,
    /// Channel counts that map onto the hardware without padding (SIMD lanes, tensor-core tile,
    /// systolic width).
    pub channel_multiple: usize,
    /// Sparsity patterns the target's kernels turn into speed (`2:4`, `block:1x16`,
    /// `unstructured`).
    #[serde(default)]
    pub sparsity: Vec<String>,
    /// Fixed cost per node (kernel launch or dispatch), microseconds.
    pub overhead_us: f64,
    /// Memory limits (microcontrollers).
    #[serde(default)]
    pub memory: Option<MemoryBudget>,
}

/// The built-in profiles (name, TOML).
pub const BUILTIN: [(&str, &str); 7] = [
    ("x86-avx2", include_str!("../profiles/x86-avx2.toml")),
    ("x86-avx512", include_str!("../profiles/x86-avx512.toml")),
    (
        "arm-cortex-a76",
        include_str!("../profiles/arm-cortex-a76.toml"),
    ),
    (
        "arm-cortex-m7",
        include_str!("../profiles/arm-cortex-m7.toml"),
    ),
    (
        "nvidia-ampere",
        include_str!("../profiles/nvidia-ampere.toml"),
    ),
    (
        "nvidia-hopper",
        include_str!("../profiles/nvidia-hopper.toml"),
    ),
    ("tpu-like", include_str!("../profiles/tpu-like.toml")),
];

/// A built-in profile by name (not `host`, which is detected).
pub fn builtin(name: &str) -> Option<HardwareProfile> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, text)| toml::from_str(text).ok())
}

impl HardwareProfile {
    /// Parses a profile from TOML text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &str) -> Result<HardwareProfile> {
        let p: HardwareProfile = toml::from_str(text).map_err(|e| HwError::File {
            path: path.to_string(),
            msg: e.to_string(),
        })?;
        p.validate(path)?;
        Ok(p)
    }

    /// Checks the figures are usable (positive rates, a channel multiple of at least 1).
    pub fn validate(&self, path: &str) -> Result<()> {
        let bad = |msg: String| HwError::File {
            path: path.to_string(),
            msg,
        };
        if self.cores == 0 || self.channel_multiple == 0 {
            return Err(bad("cores and channel_multiple must be at least 1".into()));
        }
        for (v, what) in [
            (self.peak_gflops, "peak_gflops"),
            (self.bandwidth_gbs, "bandwidth_gbs"),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(format!("{what} must be a positive number, got {v}")));
            }
        }
        if !(self.overhead_us.is_finite() && self.overhead_us >= 0.0) {
            return Err(bad("overhead_us must be ≥ 0".into()));
        }
        Ok(())
    }

    /// A built-in profile by name, or a TOML file by path. (`host` is resolved by callers that
    /// can measure it: see [`crate::detect_host`].)
    pub fn resolve(name_or_file: &str) -> Result<HardwareProfile> {
        if let Some(p) = builtin(name_or_file) {
            return Ok(p);
        }
        let path = Path::new(name_or_file);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| HwError::File {
                path: name_or_file.to_string(),
                msg: e.to_string(),
            })?;
            return HardwareProfile::from_toml(&text, name_or_file);
        }
        let mut list: Vec<&str> = vec!["host"];
        list.extend(BUILTIN.iter().map(|(n, _)| *n));
        Err(HwError::Unknown {
            name: name_or_file.to_string(),
            list: list.join(", "),
        })
    }

    /// The profile as TOML (what a user edits to describe their own device).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_validate_and_round_trip() {
        for (name, text) in BUILTIN {
            let p = HardwareProfile::from_toml(text, name).unwrap();
            assert_eq!(p.name, name);
            let again = HardwareProfile::from_toml(&p.to_toml(), name).unwrap();
            assert_eq!(p, again);
        }
        assert_eq!(
            builtin("arm-cortex-m7").unwrap().memory.unwrap().ram_kb,
            1024
        );
        assert_eq!(builtin("tpu-like").unwrap().channel_multiple, 128);
        assert!(builtin("nvidia-ampere")
            .unwrap()
            .sparsity
            .contains(&"2:4".to_string()));
    }

    #[test]
    fn bad_profiles_are_refused() {
        let text = BUILTIN[0]
            .1
            .replace("bandwidth_gbs = 50.0", "bandwidth_gbs = -1.0");
        let e = HardwareProfile::from_toml(&text, "x.toml").unwrap_err();
        assert!(e.to_string().contains("bandwidth_gbs"), "{e}");
        let e = HardwareProfile::from_toml("name = 3", "y.toml").unwrap_err();
        assert!(e.to_string().starts_with("y.toml"), "{e}");
        let e = HardwareProfile::resolve("no-such-target").unwrap_err();
        assert!(
            e.to_string().contains("x86-avx512") && e.to_string().contains("host"),
            "{e}"
        );
    }
}
