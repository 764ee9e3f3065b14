//! Shape inference and cost analysis on built graphs.

use coprune_ir::analysis::analyze;
use coprune_ir::{infer, shape_to_string, AttrValue, DType, Dim, Model, Node, Tensor};
use coprune_testutil::{small_cnn, GraphBuilder};
use std::collections::HashMap;

fn shapes(m: &Model, given: &[(&str, Vec<Dim>)]) -> HashMap<String, String> {
    let given: HashMap<String, Vec<Dim>> = given
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let inf = infer(m, &given).unwrap_or_else(|e| panic!("{e}"));
    inf.facts
        .iter()
        .map(|(k, f)| (k.clone(), shape_to_string(&f.shape)))
        .collect()
}

fn last_output(m: &Model) -> String {
    m.graph.nodes.last().unwrap().outputs[0].clone()
}

#[test]
fn cnn_shapes_stay_symbolic_in_batch() {
    let m = small_cnn(0);
    let s = shapes(&m, &[]);
    assert_eq!(s[&last_output(&m)], "[N,10]");
    let s = shapes(
        &m,
        &[("input", vec![4.into(), 3.into(), 16.into(), 16.into()])],
    );
    assert_eq!(s[&last_output(&m)], "[4,10]");
}

#[test]
fn cnn_costs_by_hand() {
    let m = small_cnn(0);
    let inf = infer(
        &m,
        &HashMap::from([(
            "input".to_string(),
            vec![Dim::known(1), 3.into(), 16.into(), 16.into()],
        )]),
    )
    .unwrap();
    let a = analyze(&m, &inf).unwrap();
    // conv1 3→8 3×3 on 16×16: 8·16·16·27; conv2 8→8: 8·16·16·72; depthwise stride 2: 8·8·8·9;
    // gemm 8→10: 80.
    let expected = 8 * 256 * 27 + 8 * 256 * 72 + 8 * 64 * 9 + 80;
    assert_eq!(a.totals.macs, expected);
    let params = (8 * 27 + 8) + (8 * 72 + 8) + (8 * 9 + 8) + (80 + 10);
    assert_eq!(a.totals.params, params);
    let conv1 = &a.nodes[0];
    assert_eq!(conv1.output_shapes, vec!["[1,8,16,16]".to_string()]);
    assert_eq!(conv1.activation_bytes, 8 * 256 * 4);
}

#[test]
fn transformer_shape_chain_with_symbolic_dims() {
    let mut b = GraphBuilder::new(0);
    let x = b.input("x", DType::F32, &["N", "seq", "768"]);
    let shape = b.op("Shape", &[&x], vec![]);
    let i0 = b.ints("i0", &[0]);
    let i1 = b.ints("i1", &[1]);
    let n = b.op("Gather", &[&shape, &i0], vec![]);
    let s = b.op("Gather", &[&shape, &i1], vec![]);
    let heads = b.ints("heads", &[12, 64]);
    let target = b.op(
        "Concat",
        &[&n, &s, &heads],
        vec![("axis", AttrValue::Int(0))],
    );
    let r = b.op("Reshape", &[&x, &target], vec![]);
    let t = b.op(
        "Transpose",
        &[&r],
        vec![("perm", AttrValue::Ints(vec![0, 2, 1, 3]))],
    );
    let kt = b.op(
        "Transpose",
        &[&r],
        vec![("perm", AttrValue::Ints(vec![0, 2, 3, 1]))],
    );
    let scores = b.op("MatMul", &[&t, &kt], vec![]);
    let sm = b.op("Softmax", &[&scores], vec![("axis", AttrValue::Int(-1))]);
    let ctx = b.op("MatMul", &[&sm, &t], vec![]);
    let flat_spec = b.ints("flat", &[-1, 768]);
    let flat = b.op("Reshape", &[&x, &flat_spec], vec![]);
    let scale = b.weight("ln_s", &[768]);
    let bias = b.weight("ln_b", &[768]);
    let ln = b.op(
        "LayerNormalization",
        &[&x, &scale, &bias],
        vec![("axis", AttrValue::Int(-1))],
    );
    let axes = b.ints("axes", &[-1]);
    let mean = b.op("ReduceMean", &[&ln, &axes], vec![]);
    let w = b.weight("ff", &[768, 3072]);
    let ff = b.op("MatMul", &[&ln, &w], vec![]);
    let gelu_in = b.op("Erf", &[&ff], vec![]);
    let sq = b.op("Unsqueeze", &[&n, &i0], vec![]);
    let cos = b.op("ConstantOfShape", &[&shape], vec![]);
    let e = b.op("Expand", &[&scale, &shape], vec![]);
    let m = b.into_model();
    let s = shapes(&m, &[]);
    assert_eq!(s[&r], "[N,seq,12,64]");
    assert_eq!(s[&scores], "[N,12,seq,seq]");
    assert_eq!(s[&sm], "[N,12,seq,seq]");
    assert_eq!(s[&ctx], "[N,12,seq,64]");
    assert_eq!(s[&flat], "[N*seq,768]");
    assert_eq!(s[&mean], "[N,seq,1]");
    assert_eq!(s[&ff], "[N,seq,3072]");
    assert_eq!(s[&gelu_in], "[N,seq,3072]");
    assert_eq!(s[&sq], "[1,1]");
    assert_eq!(s[&cos], "[N,seq,768]");
    assert_eq!(s[&e], "[N,seq,768]");
    let inf = infer(&m, &HashMap::new()).unwrap();
    let a = analyze(&m, &inf).unwrap();
    let mm = a
        .nodes
        .iter()
        .find(|n| n.output_shapes[0] == "[N,seq,3072]")
        .unwrap();
    assert_eq!(mm.macs, 768 * 3072);
}

#[test]
fn split_slice_concat_pad_resize() {
    let mut b = GraphBuilder::new(0);
    let x = b.input("x", DType::F32, &["1", "10", "8", "8"]);
    let sp = b.ints("sp", &[3, 7]);
    b.graph.nodes.push(
        Node::new("split", "Split", &[&x, &sp], &["a", "b"]).with_attr("axis", AttrValue::Int(1)),
    );
    let starts = b.ints("st", &[1]);
    let ends = b.ints("en", &[-1]);
    let axes = b.ints("ax", &[1]);
    let sl = b.op("Slice", &["b", &starts, &ends, &axes], vec![]);
    let cat = b.op("Concat", &["a", &sl], vec![("axis", AttrValue::Int(1))]);
    let pads = b.ints("pads", &[0, 0, 1, 2, 0, 0, 1, 2]);
    let pad = b.op("Pad", &[&cat, &pads], vec![]);
    let scales = b.weight("sc", &[4]);
    b.graph.initializers.retain(|t| t.name != scales);
    b.graph
        .initializers
        .push(Tensor::from_f32(&scales, vec![4], &[1.0, 1.0, 2.0, 2.0]).unwrap());
    let rs = b.op("Resize", &[&pad, "", &scales], vec![]);
    let mp = b.op(
        "MaxPool",
        &[&rs],
        vec![
            ("kernel_shape", AttrValue::Ints(vec![3, 3])),
            ("strides", AttrValue::Ints(vec![2, 2])),
            ("ceil_mode", AttrValue::Int(1)),
        ],
    );
    let m = b.into_model();
    let s = shapes(&m, &[]);
    assert_eq!(s["a"], "[1,3,8,8]");
    assert_eq!(s["b"], "[1,7,8,8]");
    assert_eq!(s[&sl], "[1,5,8,8]");
    assert_eq!(s[&cat], "[1,8,8,8]");
    assert_eq!(s[&pad], "[1,8,10,12]");
    assert_eq!(s[&rs], "[1,8,20,24]");
    assert_eq!(s[&mp], "[1,8,10,12]");
}

#[test]
fn recurrent_layers() {
    let mut b = GraphBuilder::new(0);
    let x = b.input("x", DType::F32, &["seq", "N", "16"]);
    let w = b.weight("w", &[2, 4 * 32, 16]);
    let r = b.weight("r", &[2, 4 * 32, 32]);
    b.graph.nodes.push(
        Node::new("lstm", "LSTM", &[&x, &w, &r], &["y", "yh", "yc"])
            .with_attr("hidden_size", AttrValue::Int(32))
            .with_attr("direction", AttrValue::String(b"bidirectional".to_vec())),
    );
    let gw = b.weight("gw", &[1, 3 * 8, 16]);
    let gr = b.weight("gr", &[1, 3 * 8, 8]);
    b.graph.nodes.push(
        Node::new("gru", "GRU", &[&x, &gw, &gr], &["gy", "gyh"])
            .with_attr("hidden_size", AttrValue::Int(8)),
    );
    let m = b.into_model();
    let s = shapes(&m, &[]);
    assert_eq!(s["y"], "[seq,2,N,32]");
    assert_eq!(s["yc"], "[2,N,32]");
    assert_eq!(s["gy"], "[seq,1,N,8]");
    let inf = infer(
        &m,
        &HashMap::from([("x".to_string(), vec![Dim::known(5), 1.into(), 16.into()])]),
    )
    .unwrap();
    let a = analyze(&m, &inf).unwrap();
    assert_eq!(a.nodes[0].macs, 5 * 2 * 4 * 32 * (16 + 32));
    assert_eq!(a.nodes[1].macs, 5 * 3 * 8 * (16 + 8));
}

#[test]
fn unsupported_and_invalid_ops_are_named() {
    let mut b = GraphBuilder::new(0);
    let x = b.input("x", DType::F32, &["1", "4"]);
    let y = b.op("FancyNewOp", &[&x], vec![]);
    let m = b.into_model();
    let e = infer(&m, &HashMap::new()).unwrap_err().to_string();
    assert!(
        e.contains("FancyNewOp") && e.contains("no shape inference"),
        "{e}"
    );

    let mut b = GraphBuilder::new(0);
    let x = b.input("x", DType::F32, &["1", "4"]);
    let w = b.weight("w", &[5, 3]);
    b.op("Gemm", &[&x, &w], vec![]);
    let e = infer(&b.into_model(), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("Gemm") && e.contains("inner dimensions"), "{e}");
    let _ = y;
}

#[test]
fn input_shape_override_is_checked() {
    let m = small_cnn(0);
    let bad = HashMap::from([(
        "input".to_string(),
        vec![Dim::known(1), 4.into(), 16.into(), 16.into()],
    )]);
    let e = infer(&m, &bad).unwrap_err().to_string();
    assert!(e.contains("fixed at 3"), "{e}");
    let wrong = HashMap::from([("nope".to_string(), vec![Dim::known(1)])]);
    assert!(infer(&m, &wrong).unwrap_err().to_string().contains("nope"));
}
