//! Test helpers for coprune: a small graph builder and seeded random graph generators used by the
//! round-trip property tests. Nothing here is used by the shipped binary.

use coprune_ir::{AttrValue, DType, Dim, Graph, Model, Node, OpsetImport, Tensor, ValueInfo};

/// SplitMix64: a tiny seeded generator so generated graphs are the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform f32 in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Geometry of a square convolution for [`GraphBuilder::conv`].
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    pub cin: u64,
    pub cout: u64,
    pub k: u64,
    pub stride: i64,
    pub pad: i64,
    pub group: u64,
}

impl ConvSpec {
    /// A dense conv `cin → cout` with kernel `k`, stride 1 and "same" padding.
    pub fn same(cin: u64, cout: u64, k: u64) -> ConvSpec {
        ConvSpec {
            cin,
            cout,
            k,
            stride: 1,
            pad: (k / 2) as i64,
            group: 1,
        }
    }

    /// The same conv with another stride.
    pub fn stride(self, stride: i64) -> ConvSpec {
        ConvSpec { stride, ..self }
    }

    /// The same conv with `group` groups.
    pub fn groups(self, group: u64) -> ConvSpec {
        ConvSpec { group, ..self }
    }

    /// The same conv with another padding.
    pub fn pad(self, pad: i64) -> ConvSpec {
        ConvSpec { pad, ..self }
    }
}

/// Builds graphs node by node with automatic value names.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    pub graph: Graph,
    counter: usize,
    rng: Option<Rng>,
}

impl GraphBuilder {
    /// An empty graph; weights are filled from `seed`.
    pub fn new(seed: u64) -> GraphBuilder {
        GraphBuilder {
            graph: Graph {
                name: "test".into(),
                ..Graph::default()
            },
            counter: 0,
            rng: Some(Rng::new(seed)),
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// Declares a graph input (symbolic dims by name, e.g. `&["N", "3", "8", "8"]`).
    pub fn input(&mut self, name: &str, dtype: DType, dims: &[&str]) -> String {
        let shape: Vec<Dim> = dims
            .iter()
            .map(|d| match d.parse::<i64>() {
                Ok(v) => Dim::known(v),
                Err(_) => Dim::sym(*d),
            })
            .collect();
        self.graph
            .inputs
            .push(ValueInfo::tensor(name, dtype, &shape));
        name.to_string()
    }

    /// Adds a random f32 initializer and returns its name.
    pub fn weight(&mut self, prefix: &str, dims: &[u64]) -> String {
        let name = self.fresh(prefix);
        let n: u64 = dims.iter().product();
        let rng = self.rng.get_or_insert_with(|| Rng::new(0));
        let vals: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        self.graph
            .initializers
            .push(Tensor::from_f32(&name, dims.to_vec(), &vals).expect("sizes match"));
        name
    }

    /// Adds an i64 initializer (shape vectors, axes).
    pub fn ints(&mut self, prefix: &str, vals: &[i64]) -> String {
        let name = self.fresh(prefix);
        self.graph
            .initializers
            .push(Tensor::from_i64(&name, vec![vals.len() as u64], vals).expect("sizes match"));
        name
    }

    /// Adds a node with one output and returns the output name.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attrs: Vec<(&str, AttrValue)>) -> String {
        let out = self.fresh(&op_type.to_lowercase());
        let name = format!("{op_type}_{}", self.counter);
        let mut node = Node::new(name, op_type, inputs, &[&out]);
        for (k, v) in attrs {
            node.set_attr(k, v);
        }
        self.graph.nodes.push(node);
        out
    }

    /// Conv with a random weight [cout, cin/group, k, k] and bias; `pad` on every side.
    pub fn conv(&mut self, x: &str, c: ConvSpec) -> String {
        let w = self.weight("w", &[c.cout, c.cin / c.group, c.k, c.k]);
        let b = self.weight("b", &[c.cout]);
        self.op(
            "Conv",
            &[x, &w, &b],
            vec![
                (
                    "kernel_shape",
                    AttrValue::Ints(vec![c.k as i64, c.k as i64]),
                ),
                ("strides", AttrValue::Ints(vec![c.stride, c.stride])),
                ("pads", AttrValue::Ints(vec![c.pad; 4])),
                ("group", AttrValue::Int(c.group as i64)),
            ],
        )
    }

    /// Declares a graph output (f32, shape left undeclared).
    pub fn output(&mut self, name: &str) {
        self.graph.outputs.push(ValueInfo {
            name: name.to_string(),
            ty: coprune_ir::ValueType::Tensor {
                dtype: Some(DType::F32),
                shape: None,
            },
            extra: Default::default(),
        });
    }

    /// Wraps the graph into an opset-17 model; graph outputs get their inferred types (symbolic
    /// dims as names) so the files pass the ONNX checker.
    pub fn into_model(self) -> Model {
        let mut m = self.into_model_untyped();
        if let Ok(inf) = coprune_ir::infer(&m, &Default::default()) {
            for o in &mut m.graph.outputs {
                if let Some(f) = inf.facts.get(&o.name) {
                    *o = ValueInfo::tensor(o.name.clone(), f.dtype, &f.shape);
                }
            }
        }
        m
    }

    /// Wraps the graph into an opset-17 model as built.
    pub fn into_model_untyped(self) -> Model {
        Model {
            ir_version: 8,
            opsets: vec![OpsetImport {
                domain: String::new(),
                version: 17,
                extra: Default::default(),
            }],
            producer_name: "coprune-testutil".into(),
            graph: self.graph,
            ..Model::default()
        }
    }
}

/// A small CNN: conv → relu → residual add → depthwise conv → pool → flatten → gemm.
pub fn small_cnn(seed: u64) -> Model {
    let mut b = GraphBuilder::new(seed);
    let x = b.input("input", DType::F32, &["N", "3", "16", "16"]);
    let c1 = b.conv(&x, ConvSpec::same(3, 8, 3));
    let r1 = b.op("Relu", &[&c1], vec![]);
    let c2 = b.conv(&r1, ConvSpec::same(8, 8, 3));
    let a = b.op("Add", &[&r1, &c2], vec![]);
    let dw = b.conv(&a, ConvSpec::same(8, 8, 3).stride(2).groups(8));
    let p = b.op("GlobalAveragePool", &[&dw], vec![]);
    let f = b.op("Flatten", &[&p], vec![("axis", AttrValue::Int(1))]);
    let w = b.weight("fc_w", &[10, 8]);
    let bias = b.weight("fc_b", &[10]);
    let y = b.op(
        "Gemm",
        &[&f, &w, &bias],
        vec![("transB", AttrValue::Int(1))],
    );
    b.output(&y);
    b.into_model()
}

/// A random graph of convs, activations, residual adds, concats and splits over a
/// `[N, C, H, W]` input, for property tests. Always valid and topologically ordered.
pub fn random_cnn(seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let mut b = GraphBuilder::new(seed);
    let x = b.input("input", DType::F32, &["N", "4", "8", "8"]);
    // (value, channels)
    let mut live: Vec<(String, u64)> = vec![(x, 4)];
    let steps = 2 + rng.below(8);
    for _ in 0..steps {
        let (v, c) = live[rng.below(live.len() as u64) as usize].clone();
        let next = match rng.below(6) {
            0 => {
                let cout = 2 + rng.below(6);
                (
                    b.conv(&v, ConvSpec::same(c, cout, 1 + 2 * rng.below(2))),
                    cout,
                )
            }
            1 => (b.conv(&v, ConvSpec::same(c, c, 3).groups(c)), c),
            2 => {
                let act = ["Relu", "Sigmoid", "Tanh", "HardSwish"][rng.below(4) as usize];
                (b.op(act, &[&v], vec![]), c)
            }
            3 => {
                let same: Vec<(String, u64)> =
                    live.iter().filter(|(_, k)| *k == c).cloned().collect();
                let (o, _) = &same[rng.below(same.len() as u64) as usize];
                (b.op("Add", &[&v, o], vec![]), c)
            }
            4 => {
                let (o, k) = live[rng.below(live.len() as u64) as usize].clone();
                (
                    b.op("Concat", &[&v, &o], vec![("axis", AttrValue::Int(1))]),
                    c + k,
                )
            }
            _ => {
                let c1 = 1 + rng.below(c.max(2) - 1).min(c - 1);
                if c < 2 {
                    (b.op("Relu", &[&v], vec![]), c)
                } else {
                    let split = b.ints("split", &[c1 as i64, (c - c1) as i64]);
                    let o1 = format!("{v}_s0_{}", rng.below(1 << 30));
                    let o2 = format!("{v}_s1_{}", rng.below(1 << 30));
                    let node =
                        Node::new(format!("Split_{o2}"), "Split", &[&v, &split], &[&o1, &o2])
                            .with_attr("axis", AttrValue::Int(1));
                    b.graph.nodes.push(node);
                    live.push((o1, c1));
                    (o2, c - c1)
                }
            }
        };
        live.push(next);
    }
    let (last, _) = live.last().cloned().expect("at least the input");
    b.output(&last);
    b.into_model()
}

/// The repository's `tests/fixtures` folder.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The bundled assets folder.
pub fn assets_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets")
}

/// `../shared/models` (or `$COPRUNE_SHARED/models`) when present. Absent, tests that need it skip
/// — unless `COPRUNE_REQUIRE_SHARED` is set (CI), where absence is a failure.
pub fn shared_models_dir() -> Option<std::path::PathBuf> {
    let root = match std::env::var_os("COPRUNE_SHARED") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let models = root.join("models");
    if models.join("resnet18.onnx").is_file() {
        return Some(models);
    }
    if std::env::var_os("COPRUNE_REQUIRE_SHARED").is_some() {
        panic!(
            "COPRUNE_REQUIRE_SHARED is set but {} has no models",
            models.display()
        );
    }
    eprintln!("skipping: {} not present", models.display());
    None
}

/// A fresh, empty temporary directory for one test.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "coprune-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}
