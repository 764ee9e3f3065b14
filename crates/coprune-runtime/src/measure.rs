//! Measurements on the host: the rates of its profile (GEMM peak, memory bandwidth) and a
//! measured [`LatencyModel`] that times each node, alone, at the shapes asked for.

use crate::gemm::{matmul, MatRef};
use crate::Session;
use coprune_hw::{
    detect_host, HardwareProfile, LatencyModel, NodeShape, Recheck, Roofline, VIEW_OPS,
};
use coprune_ir::{DType, Dim, Graph, Model, OpsetImport, Tensor, ValueInfo};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Best rate of `f` (work units per second) over repeated runs for at least `budget`.
fn best_rate(budget: Duration, work: f64, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut best = 0f64;
    while start.elapsed() < budget {
        let t = Instant::now();
        f();
        best = best.max(work / t.elapsed().as_secs_f64().max(1e-9));
    }
    best
}

/// The host's profile with measured rates: f32 GEMM peak on all cores (512³ products with the
/// runtime's GEMM) and memory bandwidth (copying 64 MiB; read + write bytes).
pub fn measure_host() -> HardwareProfile {
    let mut p = detect_host();
    let n = 512;
    let a = vec![1.0f32; n * n];
    let b = vec![0.5f32; n * n];
    let mut c = vec![0f32; n * n];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(p.cores).build();
    let flops = 2.0 * (n * n * n) as f64;
    let mut gemm = || {
        best_rate(Duration::from_millis(300), flops, || {
            matmul(
                MatRef::new(&a, n, n),
                MatRef::new(&b, n, n),
                &mut c,
                false,
                p.cores,
            )
        })
    };
    let peak = match &pool {
        Ok(pool) => pool.install(&mut gemm),
        Err(_) => gemm(),
    };
    let len = 16 << 20;
    let src = vec![1.0f32; len];
    let mut dst = vec![0f32; len];
    let bw = best_rate(Duration::from_millis(200), (2 * 4 * len) as f64, || {
        dst.copy_from_slice(&src);
        std::hint::black_box(&mut dst);
    });
    let ratio = p.peak_gops_int8 / p.peak_gflops;
    p.peak_gflops = peak / 1e9;
    p.peak_gops_int8 = p.peak_gflops * ratio;
    p.bandwidth_gbs = bw / 1e9;
    p.source = "measured".into();
    p
}

/// Times each node alone with coprune's runtime (batch and shapes as asked, random weights of
/// the pruned shapes), median of several runs, memoised per distinct node and shape. Nodes the
/// runtime cannot build alone fall back to the roofline of the measured host.
/// Encodes a model as ONNX bytes (coprune-onnx lives above the runtime, so callers pass it in).
pub type Encoder = Box<dyn Fn(&Model) -> Option<Vec<u8>> + Send + Sync>;

/// What times the nodes.
pub enum Backend {
    /// coprune's own runtime.
    Coprune,
    /// The user's onnxruntime library (what they deploy with).
    Ort {
        lib: std::path::PathBuf,
        encode: Encoder,
    },
    /// An external command that runs a model file on the target and prints its latency (a
    /// board over ssh/adb, trtexec, …); `measure` writes the model, runs it and parses the
    /// milliseconds.
    Probe { command: String, measure: ProbeFn },
}

/// Runs a one-node model through a probe command and returns the latency it printed (ms).
pub type ProbeFn = Box<dyn Fn(&Model) -> Option<f64> + Send + Sync>;

pub struct Measured {
    pub threads: usize,
    backend: Backend,
    /// Timed runs per node (after two warm-up runs).
    pub runs: usize,
    fallback: Roofline,
    memo: Mutex<HashMap<String, f64>>,
    /// What running a one-node session costs beyond the node itself (measured on a 1-element
    /// Relu), subtracted from every measurement.
    baseline: Mutex<Option<f64>>,
    /// The on-disk table (see [`Measured::with_cache`]) and whether the memo has new entries.
    cache: Option<std::path::PathBuf>,
    dirty: Mutex<bool>,
    /// Keys whose figures were read from the table on disk and not timed in this run.
    stored: Mutex<std::collections::HashSet<String>>,
    /// Keys timed a second time by [`LatencyModel::recheck`], with what it found.
    rechecked: Mutex<HashMap<String, Recheck>>,
}

impl Measured {
    /// A measured model on `threads` threads; `host` is the measured host profile.
    pub fn new(host: HardwareProfile, threads: usize, runs: usize) -> Measured {
        Measured::with_backend(host, threads, runs, Backend::Coprune)
    }

    /// A measured model timed by `backend`.
    pub fn with_backend(
        host: HardwareProfile,
        threads: usize,
        runs: usize,
        backend: Backend,
    ) -> Measured {
        Measured {
            backend,
            threads: threads.max(1),
            runs: runs.max(1),
            fallback: Roofline {
                profile: host,
                threads: threads.max(1),
            },
            memo: Mutex::new(HashMap::new()),
            baseline: Mutex::new(None),
            cache: None,
            dirty: Mutex::new(false),
            stored: Mutex::new(Default::default()),
            rechecked: Mutex::new(Default::default()),
        }
    }

    /// Keeps the measured table in a file under `dir`, one per host, backend, thread count and
    /// build of the measuring program (so timings from older kernels are not reused): entries
    /// found there are not measured again, and [`LatencyModel::persist`] writes new ones.
    pub fn with_cache(mut self, dir: &std::path::Path) -> Measured {
        let file = dir.join(format!("latency-{:016x}.tsv", self.cache_id()));
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut memo = self.memo.lock().expect("fresh mutex");
            let mut stored = self.stored.lock().expect("fresh mutex");
            for line in text.lines() {
                if let Some((ms, key)) = line.split_once('\t') {
                    if let Ok(v) = ms.parse::<f64>() {
                        memo.insert(key.to_string(), v);
                        stored.insert(key.to_string());
                    }
                }
            }
        }
        self.cache = Some(file);
        self
    }

    /// Identifies what the timings depend on: CPU, threads, backend, and this executable.
    fn cache_id(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        cpu.hash(&mut h);
        std::thread::available_parallelism()
            .map_or(0, |n| n.get())
            .hash(&mut h);
        self.threads.hash(&mut h);
        match &self.backend {
            Backend::Coprune => "coprune".hash(&mut h),
            Backend::Ort { lib, .. } => {
                lib.hash(&mut h);
                std::fs::metadata(lib).map(|m| m.len()).ok().hash(&mut h);
            }
            Backend::Probe { command, .. } => command.hash(&mut h),
        }
        if let Ok(exe) = std::env::current_exe().and_then(std::fs::metadata) {
            exe.len().hash(&mut h);
            exe.modified().ok().hash(&mut h);
        }
        h.finish()
    }

    fn baseline(&self) -> f64 {
        if let Some(b) = self.baseline.lock().ok().and_then(|b| *b) {
            return b;
        }
        let node = coprune_ir::Node::new("r", "Relu", &["x"], &["y"]);
        let x = coprune_ir::Fact::new(DType::F32, vec![Dim::known(1)]);
        let y = [x.clone()];
        let shape = NodeShape {
            node: &node,
            inputs: vec![Some(&x)],
            outputs: &y,
            macs: 0,
            weights: vec![false],
            consts: vec![None],
        };
        let b = self.time_raw(&shape).unwrap_or(0.0);
        if let Ok(mut slot) = self.baseline.lock() {
            *slot = Some(b);
        }
        b
    }

    /// The memo differs from the table on disk.
    fn mark_dirty(&self) {
        if let Ok(mut d) = self.dirty.lock() {
            *d = true;
        }
    }

    /// Distinct node shapes measured so far.
    pub fn measured(&self) -> usize {
        self.memo.lock().map_or(0, |m| m.len())
    }

    fn key(n: &NodeShape) -> String {
        let shapes: Vec<String> = n
            .inputs
            .iter()
            .map(|f| f.map_or("-".into(), |f| coprune_ir::shape_to_string(&f.shape)))
            .collect();
        format!(
            "{}|{:?}|{}|{:?}",
            n.node.op_type,
            n.node.attrs,
            shapes.join(";"),
            n.weights
        )
    }

    /// A model holding just this node.
    fn one_node(n: &NodeShape) -> Option<(Model, HashMap<String, Vec<usize>>)> {
        let mut g = Graph::default();
        let mut node = n.node.clone();
        let mut shapes = HashMap::new();
        for (k, f) in n.inputs.iter().enumerate() {
            let Some(f) = f else { continue };
            let name = format!("in{k}");
            node.inputs[k] = name.clone();
            let dims: Vec<usize> = f
                .shape
                .iter()
                .map(|d| d.as_known().map(|v| v.max(0) as usize))
                .collect::<Option<_>>()?;
            if n.weights.get(k).copied().unwrap_or(false) {
                let count: usize = dims.iter().product();
                let vals: Vec<f32> = (0..count).map(|i| ((i % 7) as f32 - 3.0) * 0.01).collect();
                let t = Tensor::from_f32(&name, dims.iter().map(|&d| d as u64).collect(), &vals)
                    .ok()?;
                g.initializers.push(t);
            } else if let Some(t) = n.consts.get(k).copied().flatten() {
                let mut t = t.clone();
                t.name = name.clone();
                t.storage = coprune_ir::Storage::Raw;
                g.initializers.push(t);
            } else {
                if f.dtype != DType::F32 {
                    return None;
                }
                let sym: Vec<Dim> = dims.iter().map(|&d| Dim::known(d as i64)).collect();
                g.inputs.push(ValueInfo::tensor(&name, f.dtype, &sym));
                shapes.insert(name, dims);
            }
        }
        for (j, o) in node.outputs.iter_mut().enumerate() {
            if !o.is_empty() {
                *o = format!("out{j}");
                let (dtype, shape) = n
                    .outputs
                    .get(j)
                    .map_or((DType::F32, Vec::new()), |f| (f.dtype, f.shape.clone()));
                g.outputs.push(ValueInfo::tensor(o.clone(), dtype, &shape));
            }
        }
        if node.op_type == "Conv" {
            // The group count follows pruned channels: depthwise stays depthwise.
            if let (Some(Some(x)), Some(Some(w))) = (n.inputs.first(), n.inputs.get(1)) {
                if let (Some(c), Some(cg)) = (
                    x.shape.get(1).and_then(Dim::as_known),
                    w.shape.get(1).and_then(Dim::as_known),
                ) {
                    if cg > 0 && c % cg == 0 {
                        node.set_attr("group", coprune_ir::AttrValue::Int(c / cg));
                    }
                }
            }
        }
        g.nodes.push(node);
        let m = Model {
            ir_version: 8,
            opsets: vec![OpsetImport {
                domain: String::new(),
                version: 17,
                extra: Default::default(),
            }],
            graph: g,
            ..Model::default()
        };
        Some((m, shapes))
    }

    fn time(&self, n: &NodeShape) -> Option<f64> {
        // The session's own overhead is subtracted only from a node that took longer than it:
        // on a busy machine the overhead's figure can exceed a real node's, and a node with work
        // is never free.
        let base = self.baseline();
        self.time_raw(n)
            .map(|t| if t > base { t - base } else { t })
    }

    fn time_raw(&self, n: &NodeShape) -> Option<f64> {
        let (model, shapes) = Self::one_node(n)?;
        if let Backend::Probe { measure, .. } = &self.backend {
            return measure(&model);
        }
        if let Backend::Ort { lib, encode } = &self.backend {
            let bytes = encode(&model)?;
            let inputs: Vec<crate::onnxruntime::NamedInput> = model
                .graph
                .inputs
                .iter()
                .filter_map(|v| {
                    let sh = shapes.get(&v.name)?.clone();
                    let count = sh.iter().product();
                    Some((
                        v.name.clone(),
                        sh,
                        (0..count).map(|i| ((i % 13) as f32) * 0.1).collect(),
                    ))
                })
                .collect();
            let ms = crate::onnxruntime::measure_model(
                lib,
                crate::onnxruntime::Source::Bytes(&bytes),
                &inputs,
                self.threads,
                2,
                self.runs,
                Duration::from_millis(2),
            )
            .ok()?;
            return ms.into_iter().reduce(f64::min);
        }
        let s = Session::new(&model, &shapes, self.threads).ok()?;
        let inputs: Vec<crate::Value> = s
            .input_shapes()
            .into_iter()
            .map(|(_, sh)| {
                let count = sh.iter().product();
                crate::Value::f32(sh, (0..count).map(|i| ((i % 13) as f32) * 0.1).collect())
            })
            .collect();
        for _ in 0..2 {
            s.recycle(s.run(inputs.clone()).ok()?);
        }
        // At least `runs` runs and 2 ms of timed work; the minimum is the least disturbed
        // figure for sub-millisecond nodes.
        let mut best = f64::INFINITY;
        let (mut n, mut total) = (0usize, 0f64);
        while n < self.runs || (total < 2.0 && n < 2000) {
            // The copy of the inputs is not part of the node's time.
            let x = inputs.clone();
            let t = Instant::now();
            let out = s.run(x);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if let Ok(out) = out {
                s.recycle(out);
            }
            best = best.min(ms);
            total += ms;
            n += 1;
        }
        Some(best)
    }
}

impl LatencyModel for Measured {
    fn describe(&self) -> String {
        if let Backend::Probe { command, .. } = &self.backend {
            return format!("measured by the probe `{command}`");
        }
        format!(
            "measured with {} on the host ({} thread{})",
            match self.backend {
                Backend::Coprune => "coprune's runtime",
                _ => "onnxruntime",
            },
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }

    fn node_ms(&self, n: &NodeShape) -> f64 {
        if VIEW_OPS.contains(&n.node.op_type.as_str()) {
            return 0.0;
        }
        let key = Self::key(n);
        if let Some(&v) = self
            .memo
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .as_ref()
        {
            return v;
        }
        let v = self.time(n).unwrap_or_else(|| self.fallback.node_ms(n));
        if let Ok(mut m) = self.memo.lock() {
            m.insert(key, v);
        }
        self.mark_dirty();
        v
    }

    fn recheck(&self, n: &NodeShape) -> Option<Recheck> {
        if VIEW_OPS.contains(&n.node.op_type.as_str()) {
            return None;
        }
        let key = Self::key(n);
        if let Some(r) = self.rechecked.lock().ok()?.get(&key) {
            return Some(*r);
        }
        let before = *self.memo.lock().ok()?.get(&key)?;
        let now = self.time(n)?;
        let stored = self.stored.lock().ok()?.remove(&key);
        self.memo.lock().ok()?.insert(key.clone(), before.min(now));
        self.mark_dirty();
        let r = Recheck {
            before,
            now,
            stored,
        };
        self.rechecked.lock().ok()?.insert(key, r);
        Some(r)
    }

    fn forget_stored(&self) {
        let (Ok(mut stored), Ok(mut memo)) = (self.stored.lock(), self.memo.lock()) else {
            return;
        };
        for k in stored.drain() {
            memo.remove(&k);
        }
        if let Ok(mut r) = self.rechecked.lock() {
            r.clear();
        }
        self.mark_dirty();
    }

    fn persist(&self) -> Result<(), String> {
        let Some(file) = &self.cache else {
            return Ok(());
        };
        if !self.dirty.lock().map(|d| *d).unwrap_or(false) {
            return Ok(());
        }
        let memo = self.memo.lock().map_err(|e| e.to_string())?;
        let mut keys: Vec<&String> = memo.keys().collect();
        keys.sort();
        let mut text = String::new();
        for k in keys {
            text.push_str(&format!("{}\t{k}\n", memo[k]));
        }
        let err = |e: std::io::Error| format!("{}: {e}", file.display());
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        // Temp + rename: concurrent runs never see half a table.
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, file).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coprune_ir::{Fact, Node};

    #[test]
    fn measured_tables_are_kept_on_disk() {
        let dir = std::env::temp_dir().join(format!("coprune-latcache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let host = coprune_hw::HardwareProfile::resolve("x86-avx2").unwrap();
        let node = Node::new("r", "Sigmoid", &["x"], &["y"]);
        let x = Fact::new(DType::F32, vec![Dim::known(4096)]);
        let y = [x.clone()];
        let shape = NodeShape {
            node: &node,
            inputs: vec![Some(&x)],
            outputs: &y,
            macs: 0,
            weights: vec![false],
            consts: vec![None],
        };
        let first = Measured::new(host.clone(), 1, 2).with_cache(&dir);
        assert_eq!(first.measured(), 0);
        let ms = first.node_ms(&shape);
        first.persist().unwrap();
        // A second model (a later run) starts from the table: nothing to measure.
        let second = Measured::new(host.clone(), 1, 2).with_cache(&dir);
        assert_eq!(second.measured(), 1);
        assert_eq!(second.node_ms(&shape), ms);
        // Another thread count is another table.
        let other = Measured::new(host, 2, 2).with_cache(&dir);
        assert_eq!(other.measured(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
