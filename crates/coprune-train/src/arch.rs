//! Built-in architectures to train from scratch: the seeds' MLP 784-128-10 and LeNet-5 (conv 20
//! → conv 50 → fc 500 → fc 10), with the same structure, names and I/O (`input`, `logits`, batch
//! dim `N`) as the reference models in `../shared/models`. Weights are initialised as PyTorch
//! does for Linear/Conv (uniform ±1/√fan_in), from a seed.

use crate::Result;
use coprune_ir::{AttrValue, DType, Dim, Graph, Model, Node, OpsetImport, Tensor, ValueInfo};

/// A built-in architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Dense 784-128-10 with ReLU; input [N, 784].
    Mlp,
    /// LeNet-5 as in Caffe/PyTorch examples; input [N, 1, 28, 28].
    Lenet5,
}

impl std::str::FromStr for Arch {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Arch, String> {
        match s {
            "mlp" => Ok(Arch::Mlp),
            "lenet5" => Ok(Arch::Lenet5),
            other => Err(format!(
                "unknown architecture `{other}`; valid: mlp, lenet5"
            )),
        }
    }
}

struct Builder {
    g: Graph,
    state: u64,
}

impl Builder {
    fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                let u = (z >> 40) as f32 / (1u64 << 24) as f32;
                (2.0 * u - 1.0) * bound
            })
            .collect()
    }

    /// Weight and bias initialisers of a layer with `fan_in` inputs.
    fn layer(&mut self, name: &str, wdims: &[u64], fan_in: usize) -> Result<(String, String)> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let n: u64 = wdims.iter().product();
        let w = self.uniform(n as usize, bound);
        let b = self.uniform(wdims[0] as usize, bound);
        let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
        self.g
            .initializers
            .push(Tensor::from_f32(wn.clone(), wdims.to_vec(), &w)?);
        self.g
            .initializers
            .push(Tensor::from_f32(bn.clone(), vec![wdims[0]], &b)?);
        Ok((wn, bn))
    }

    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<(&str, AttrValue)>,
    ) -> String {
        let out = format!("{name}_out");
        let mut n = Node::new(name, op, inputs, &[&out]);
        for (k, v) in attrs {
            n.set_attr(k, v);
        }
        self.g.nodes.push(n);
        out
    }

    fn gemm(&mut self, name: &str, x: &str, out: usize, inp: usize) -> Result<String> {
        let (w, b) = self.layer(name, &[out as u64, inp as u64], inp)?;
        Ok(self.node(
            "Gemm",
            name,
            &[x, &w, &b],
            vec![("transB", AttrValue::Int(1))],
        ))
    }

    fn conv(&mut self, name: &str, x: &str, out: usize, inp: usize, k: usize) -> Result<String> {
        let (w, b) = self.layer(
            name,
            &[out as u64, inp as u64, k as u64, k as u64],
            inp * k * k,
        )?;
        Ok(self.node(
            "Conv",
            name,
            &[x, &w, &b],
            vec![("kernel_shape", AttrValue::Ints(vec![k as i64, k as i64]))],
        ))
    }

    fn relu(&mut self, name: &str, x: &str) -> String {
        self.node("Relu", name, &[x], vec![])
    }

    fn pool(&mut self, name: &str, x: &str) -> String {
        self.node(
            "MaxPool",
            name,
            &[x],
            vec![
                ("kernel_shape", AttrValue::Ints(vec![2, 2])),
                ("strides", AttrValue::Ints(vec![2, 2])),
            ],
        )
    }
}

/// Builds `arch` with weights drawn from `seed`.
pub fn build(arch: Arch, seed: u64) -> Result<Model> {
    let mut b = Builder {
        g: Graph {
            name: format!("{arch:?}").to_lowercase(),
            ..Graph::default()
        },
        state: seed,
    };
    let n = Dim::sym("N");
    let (input_shape, logits) = match arch {
        Arch::Mlp => {
            let h = b.gemm("fc1", "input", 128, 784)?;
            let r = b.relu("relu1", &h);
            (
                vec![n.clone(), Dim::known(784)],
                b.gemm("fc2", &r, 10, 128)?,
            )
        }
        Arch::Lenet5 => {
            let c1 = b.conv("conv1", "input", 20, 1, 5)?;
            let r1 = b.relu("relu1", &c1);
            let p1 = b.pool("pool1", &r1);
            let c2 = b.conv("conv2", &p1, 50, 20, 5)?;
            let r2 = b.relu("relu2", &c2);
            let p2 = b.pool("pool2", &r2);
            let f = b.node(
                "Flatten",
                "flatten",
                &[&p2],
                vec![("axis", AttrValue::Int(1))],
            );
            let h = b.gemm("fc1", &f, 500, 800)?;
            let r3 = b.relu("relu3", &h);
            (
                vec![n.clone(), Dim::known(1), Dim::known(28), Dim::known(28)],
                b.gemm("fc2", &r3, 10, 500)?,
            )
        }
    };
    // The last node writes `logits`.
    if let Some(last) = b.g.nodes.last_mut() {
        last.outputs[0] = "logits".into();
    }
    let _ = logits;
    b.g.inputs
        .push(ValueInfo::tensor("input", DType::F32, &input_shape));
    b.g.outputs.push(ValueInfo::tensor(
        "logits",
        DType::F32,
        &[n, Dim::known(10)],
    ));
    Ok(Model {
        ir_version: 8,
        opsets: vec![OpsetImport {
            domain: String::new(),
            version: 17,
            extra: Default::default(),
        }],
        producer_name: "coprune".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: b.g,
        ..Model::default()
    })
}
