//! The machine we run on: cores, SIMD extensions and caches detected from the CPU and sysfs.
//! Rates are first estimated from the features (two FMA pipes at 3 GHz) and replaced by
//! measurements where a runtime is available (`coprune_runtime::measure_host`).

use crate::{Caches, DeviceKind, HardwareProfile};

/// SIMD width in bits and the extensions that matter for kernels.
fn simd() -> (usize, Vec<String>) {
    #[allow(unused_mut)]
    let mut isa: Vec<String> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    let bits = {
        macro_rules! feat {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    isa.push($f.to_string());
                }
            )*};
        }
        feat!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "avx512f",
            "avx512bw",
            "avx512vnni",
            "avx512bf16"
        );
        if isa.iter().any(|f| f == "avx512f") {
            512
        } else if isa.iter().any(|f| f == "avx") {
            256
        } else {
            128
        }
    };
    #[cfg(target_arch = "aarch64")]
    let bits = {
        isa.push("neon".to_string());
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            isa.push("asimddp".to_string());
        }
        128
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let bits = 32;
    (bits.max(32), isa)
}

/// Reads `/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}`.
fn caches() -> Caches {
    let mut c = Caches::default();
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let Ok(dir) = std::fs::read_dir(base) else {
        return c;
    };
    for e in dir.flatten() {
        let read =
            |f: &str| std::fs::read_to_string(e.path().join(f)).map(|s| s.trim().to_string());
        let (Ok(level), Ok(ty), Ok(size)) = (read("level"), read("type"), read("size")) else {
            continue;
        };
        let kb = size
            .strip_suffix('K')
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| {
                size.strip_suffix('M')
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(|m| m * 1024)
            });
        match (level.as_str(), ty.as_str()) {
            ("1", "Data") => c.l1d = kb,
            ("2", _) if ty != "Instruction" => c.l2 = kb,
            ("3", _) if ty != "Instruction" => c.l3 = kb,
            _ => {}
        }
    }
    c
}

/// The host as detected, with rates estimated from its features (`source = "detected"`).
pub fn detect_host() -> HardwareProfile {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (bits, isa) = simd();
    let lanes = (bits / 32).max(1);
    // Two FMA pipes × lanes × 2 FLOP × 3 GHz per core: an estimate until measured.
    let per_core = 2.0 * lanes as f64 * 2.0 * 3.0;
    let int8 = if isa.iter().any(|f| f == "avx512vnni" || f == "asimddp") {
        4.0
    } else {
        2.0
    };
    HardwareProfile {
        name: "host".into(),
        kind: DeviceKind::Cpu,
        source: "detected".into(),
        cores,
        simd_bits: bits,
        isa,
        cache_kb: caches(),
        peak_gflops: per_core * cores as f64,
        peak_gops_int8: per_core * cores as f64 * int8,
        bandwidth_gbs: 20.0,
        // f32 lanes of one vector register: channel counts in multiples of it fill whole
        // registers (AVX-512 on Zen 4 executes as two 256-bit halves, hence AVX2 width there).
        channel_multiple: (bits.min(256) / 32).max(1),
        sparsity: vec!["unstructured".into()],
        overhead_us: 1.0,
        memory: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_detected_sensibly() {
        let h = detect_host();
        h.validate("host").unwrap();
        assert!(h.cores >= 1);
        assert!(h.simd_bits >= 32);
        assert!(h.channel_multiple >= 1);
        #[cfg(target_arch = "x86_64")]
        assert!(h.isa.iter().any(|f| f == "sse4.2"), "{:?}", h.isa);
    }
}
