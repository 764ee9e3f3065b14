//! Invariant 5: malformed files are typed errors naming the file (and node/tensor), never panics.

use coprune_ir::{Node, Tensor, TensorData};
use coprune_onnx::{decode, encode, load, OnnxError};
use coprune_testutil::{fixtures_dir, small_cnn, temp_dir, Rng};
use std::path::Path;

fn decode_err(bytes: &[u8]) -> String {
    let e = decode(bytes, Path::new("bad.onnx"), None).expect_err("must fail");
    let msg = e.to_string();
    assert!(
        msg.starts_with("bad.onnx: "),
        "error does not name the file: {msg}"
    );
    msg
}

#[test]
fn truncated_files() {
    let bytes = encode(&small_cnn(0)).unwrap();
    for cut in [1, 2, 10, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        let msg = decode_err(&bytes[..cut]);
        assert!(
            msg.contains("truncated") || msg.contains("EOF") || msg.contains("not a valid"),
            "cut {cut}: {msg}"
        );
    }
}

#[test]
fn empty_and_random_bytes() {
    assert!(decode_err(&[]).contains("no graph"));
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let n = 1 + rng.below(4096) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
        let _ = decode(&bytes, Path::new("bad.onnx"), None); // must return, not panic
    }
}

#[test]
fn wrong_wire_types() {
    // Field 7 (graph) sent as a varint instead of a message.
    assert!(decode_err(&[0x38, 0x01]).contains("not a valid ONNX model"));
    // Field 1 (ir_version) with the reserved group wire type.
    assert!(decode_err(&[0x0b]).contains("wire type"));
}

#[test]
fn mutated_real_fixture_never_panics() {
    let original = std::fs::read(fixtures_dir().join("features.onnx")).unwrap();
    let mut rng = Rng::new(11);
    for _ in 0..3000 {
        let mut b = original.clone();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(b.len() as u64) as usize;
            b[i] = rng.next_u64() as u8;
        }
        let _ = decode(&b, Path::new("bad.onnx"), None);
    }
}

#[test]
fn initializer_size_mismatch_names_the_tensor() {
    let mut m = small_cnn(0);
    let t = &mut m.graph.initializers[0];
    let name = t.name.clone();
    t.data = TensorData::Bytes(vec![0; 5]);
    let msg = decode_err(&encode(&m).unwrap());
    assert!(msg.contains(&format!("tensor `{name}`")), "{msg}");
    assert!(msg.contains("5 bytes"), "{msg}");
}

#[test]
fn huge_dimension_is_rejected() {
    let mut m = small_cnn(0);
    m.graph.initializers[0] = Tensor {
        dims: vec![1 << 40],
        ..m.graph.initializers[0].clone()
    };
    let msg = decode_err(&encode(&m).unwrap());
    assert!(msg.contains("1099511627776"), "{msg}");

    let mut m = small_cnn(0);
    if let coprune_ir::ValueType::Tensor { shape: Some(s), .. } = &mut m.graph.inputs[0].ty {
        s[2].value = coprune_ir::DimValue::Value(1 << 40);
    }
    let msg = decode_err(&encode(&m).unwrap());
    assert!(
        msg.contains("1099511627776") && msg.contains("input"),
        "{msg}"
    );
}

#[test]
fn cycle_names_a_node() {
    let mut m = small_cnn(0);
    m.graph.nodes.push(Node::new(
        "loop_a",
        "Relu",
        &["loop_b_out"],
        &["loop_a_out"],
    ));
    m.graph.nodes.push(Node::new(
        "loop_b",
        "Relu",
        &["loop_a_out"],
        &["loop_b_out"],
    ));
    let msg = decode_err(&encode(&m).unwrap());
    assert!(msg.contains("cycle") && msg.contains("loop_"), "{msg}");
}

#[test]
fn dangling_input_names_node_and_value() {
    let mut m = small_cnn(0);
    m.graph
        .nodes
        .push(Node::new("reader", "Relu", &["nobody_makes_this"], &["r"]));
    let msg = decode_err(&encode(&m).unwrap());
    assert!(
        msg.contains("`reader`") && msg.contains("nobody_makes_this"),
        "{msg}"
    );
}

#[test]
fn duplicate_producer_is_rejected() {
    let mut m = small_cnn(0);
    let out = m.graph.nodes[0].outputs[0].clone();
    m.graph
        .nodes
        .push(Node::new("dup", "Relu", &["input"], &[&out]));
    let msg = decode_err(&encode(&m).unwrap());
    assert!(msg.contains("produced twice"), "{msg}");
}

/// Rewrites the external fixture so its tensors point at `location`.
fn with_location(dir: &Path, location: &str) -> std::path::PathBuf {
    let src = fixtures_dir().join("external/model.onnx");
    let bytes = std::fs::read(&src).unwrap();
    // The fixture names its data file "weights.bin"; same-length replacements keep the protobuf
    // framing valid.
    assert_eq!(location.len(), "weights.bin".len());
    let mut out = bytes.clone();
    let needle = b"weights.bin";
    let mut i = 0;
    while let Some(p) = out[i..].windows(needle.len()).position(|w| w == needle) {
        out[i + p..i + p + needle.len()].copy_from_slice(location.as_bytes());
        i += p + needle.len();
    }
    let path = dir.join("model.onnx");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn external_data_outside_the_model_directory_is_refused() {
    let dir = temp_dir("trav");
    let inner = dir.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::copy(
        fixtures_dir().join("external/weights.bin"),
        dir.join("secret.bin"),
    )
    .unwrap();
    for loc in ["../sec.bin.", "/etc/passwd"] {
        let loc = format!("{loc:.<11}");
        let path = with_location(&inner, &loc[..11]);
        match load(&path) {
            Err(OnnxError::ExternalData { msg, tensor, .. }) => {
                assert!(msg.contains("inside the model's directory"), "{msg}");
                assert!(!tensor.is_empty());
            }
            other => panic!("{loc}: expected an external-data error, got {other:?}"),
        }
    }
    // A symlink inside the directory that points outside it.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("secret.bin"), inner.join("linkout.bin")).unwrap();
        let path = with_location(&inner, "linkout.bin");
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("resolves outside"), "{err}");
    }
    // Missing file and short file.
    let path = with_location(&inner, "missing.bin");
    assert!(load(&path).unwrap_err().to_string().contains("missing.bin"));
    std::fs::write(inner.join("shortfile.b"), [0u8; 10]).unwrap();
    let path = with_location(&inner, "shortfile.b");
    let err = load(&path).unwrap_err().to_string();
    assert!(
        err.contains("exceeds the size") || err.contains("bytes"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
