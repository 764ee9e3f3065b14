//! Invariant 1: import → export → import gives the same graph with bit-identical tensors, and
//! what the IR does not understand survives.

use coprune_ir::{AttrValue, Model, Opaque, Storage};
use coprune_onnx::{decode, encode, load, save, ExportOptions};
use coprune_testutil::{fixtures_dir, random_cnn, small_cnn, temp_dir};
use std::path::Path;

/// Value types live in the carried remainder of imported models (so they round-trip untouched);
/// a model built in memory has none until its first export. Compare without them.
fn without_value_extras(m: &Model) -> Model {
    let mut m = m.clone();
    let g = &mut m.graph;
    for v in g
        .inputs
        .iter_mut()
        .chain(&mut g.outputs)
        .chain(&mut g.value_info)
    {
        v.extra = Opaque::default();
    }
    m
}

/// import(export(m)) keeps everything of `m`; a second trip changes nothing, bytes included.
fn round_trip(m: &Model) -> Model {
    let bytes = encode(m).expect("encode");
    let back = decode(&bytes, Path::new("<rt>"), None).expect("decode");
    assert_eq!(
        without_value_extras(&back),
        without_value_extras(m),
        "import(export(m)) != m"
    );
    let again = encode(&back).expect("encode again");
    let back2 = decode(&again, Path::new("<rt>"), None).expect("decode again");
    assert_eq!(back2, back, "import(export(import(x))) != import(x)");
    assert_eq!(encode(&back2).unwrap(), again, "export is not idempotent");
    let _ = bytes;
    back
}

#[test]
fn built_models_round_trip() {
    round_trip(&small_cnn(1));
}

#[test]
fn random_graphs_round_trip() {
    for seed in 0..300 {
        let m = random_cnn(seed);
        m.graph
            .check_consistency()
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        round_trip(&m);
    }
}

#[test]
fn reference_fixture_round_trips_completely() {
    // Written by the reference `onnx` package: custom domains, unknown ops, every attribute kind,
    // If subgraphs, local functions, sparse initializers, metadata, doc strings, typed tensors.
    let path = fixtures_dir().join("features.onnx");
    let original = std::fs::read(&path).unwrap();
    let m = load(&path).unwrap();
    round_trip(&m);
    // rust-protobuf writes fields in declaration order, the reference in field-number order, so
    // the bytes are a permutation of fields: same length means nothing was dropped or added
    // (CI also checks protobuf equality with the reference package: scripts/proto_equal.py).
    assert_eq!(encode(&m).unwrap().len(), original.len());

    let custom = m.graph.nodes.iter().find(|n| n.op_type == "Fancy").unwrap();
    assert_eq!(custom.domain, "com.example");
    assert_eq!(custom.attr("i"), Some(&AttrValue::Int(3)));
    assert_eq!(
        custom.attr("floats"),
        Some(&AttrValue::Floats(vec![1.0, 2.5]))
    );
    let iff = m.graph.nodes.iter().find(|n| n.op_type == "If").unwrap();
    assert!(matches!(iff.attr("then_branch"), Some(AttrValue::Graph(g)) if !g.is_empty()));
    assert!(!m.extra.is_empty(), "metadata is carried");
    assert!(
        !m.extra.is_empty(),
        "functions/doc/model_version are carried"
    );
    assert!(!m.graph.extra.is_empty(), "graph doc is carried");
    // The sparse initializer is read as a dense tensor (and written back as it was).
    let sp = m.graph.initializer("sp_values").unwrap();
    assert!(matches!(sp.storage, Storage::Sparse { .. }));
    assert_eq!(
        sp.to_f32_vec().unwrap(),
        vec![1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0]
    );
    let typed = m.graph.initializer("w_typed").unwrap();
    assert_eq!(typed.storage, Storage::Typed);
    assert_eq!(typed.to_f32_vec().unwrap(), vec![0.5, -1.0, 2.0, 3.25]);
    let half = m.graph.initializer("half").unwrap();
    assert_eq!(half.to_f32_vec().unwrap(), vec![1.5, -2.0]);
}

#[test]
fn unknown_fields_survive() {
    let path = fixtures_dir().join("features.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    // Field 1000, varint 42: a field from a future schema at the top level.
    let unknown = [0xc0, 0x3e, 42];
    bytes.extend_from_slice(&unknown);
    let m = decode(&bytes, &path, None).unwrap();
    let out = encode(&m).unwrap();
    assert!(
        out.windows(3).any(|w| w == unknown),
        "top-level unknown field dropped"
    );
    assert_eq!(out.len(), bytes.len());
    assert_eq!(decode(&out, &path, None).unwrap(), m);

    // And inside a node: field 99 (string "x") in the node's carried remainder.
    let mut m = small_cnn(2);
    m.graph.nodes[0].extra = Opaque(vec![0x9a, 0x06, 1, b'x']);
    let back = round_trip(&m);
    assert_eq!(back.graph.nodes[0].extra.0, vec![0x9a, 0x06, 1, b'x']);
}

#[test]
fn external_data_is_read_and_written() {
    let m = load(&fixtures_dir().join("external/model.onnx")).unwrap();
    let w1 = m.graph.initializer("w1").unwrap();
    assert!(matches!(&w1.storage, Storage::External { location } if location == "weights.bin"));
    assert_eq!(w1.bytes().len(), 16 * 8 * 4);

    let dir = temp_dir("ext");
    // Kept external: written to out.onnx.data.
    let out = dir.join("out.onnx");
    let s = save(&m, &out, &ExportOptions::default()).unwrap();
    assert_eq!(s.external_tensors, 2);
    assert!(dir.join("out.onnx.data").is_file());
    let back = load(&out).unwrap();
    for (a, b) in m.graph.initializers.iter().zip(&back.graph.initializers) {
        assert_eq!(a.bytes(), b.bytes());
    }

    // Threshold: only tensors of ≥ 100 bytes go out (w1 is 512 bytes, b1 64).
    let out2 = dir.join("out2.onnx");
    let s = save(
        &m,
        &out2,
        &ExportOptions {
            external_data_threshold: Some(100),
        },
    )
    .unwrap();
    assert_eq!(s.external_tensors, 1);
    let back = load(&out2).unwrap();
    assert_eq!(back.graph.initializer("b1").unwrap().storage, Storage::Raw);
    assert_eq!(back.graph.initializer("w1").unwrap().bytes(), w1.bytes());

    // Inline everything again: equal tensors, no data file needed.
    let inline = decode(&encode(&back).unwrap(), Path::new("<mem>"), None).unwrap();
    assert_eq!(inline.graph.initializer("w1").unwrap().bytes(), w1.bytes());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn save_replaces_atomically_and_leaves_no_temp_files() {
    let dir = temp_dir("atomic");
    let out = dir.join("m.onnx");
    save(&small_cnn(3), &out, &ExportOptions::default()).unwrap();
    save(&small_cnn(4), &out, &ExportOptions::default()).unwrap();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["m.onnx".to_string()]);
    assert_eq!(
        without_value_extras(&load(&out).unwrap()),
        without_value_extras(&small_cnn(4))
    );
    // Writing into a missing directory fails cleanly.
    let err = save(
        &small_cnn(3),
        &dir.join("missing/m.onnx"),
        &ExportOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fuzzer_findings_round_trip() {
    // Inputs the fuzzer once broke the invariant with (tests/fixtures/fuzz/): each must either be
    // refused with an error or round-trip exactly.
    let dir = fixtures_dir().join("fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(m) = decode(&bytes, &path, None) {
            let back = decode(&encode(&m).unwrap(), &path, None).unwrap();
            assert!(
                back == m,
                "{}: round trip changed the model",
                path.display()
            );
        }
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn sparse_initializers_round_trip() {
    let mut m = small_cnn(4);
    for t in m.graph.initializers.iter_mut().filter(|t| t.dims.len() > 1) {
        let v: Vec<f32> = t
            .to_f32_vec()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, &x)| if i % 5 == 0 { x } else { 0.0 })
            .collect();
        *t = coprune_ir::Tensor::from_f32(t.name.clone(), t.dims.clone(), &v).unwrap();
        t.storage = Storage::Sparse {
            source: Opaque::default(),
        };
    }
    // Made sparse in memory (no source message yet): the first export encodes it, and from then
    // on it round-trips unchanged.
    let first = decode(&encode(&m).unwrap(), Path::new("<rt>"), None).unwrap();
    let back = round_trip(&first);
    for (a, b) in back.graph.initializers.iter().zip(&m.graph.initializers) {
        assert_eq!((&a.name, &a.dims, &a.data), (&b.name, &b.dims, &b.data));
    }
    assert!(back
        .graph
        .initializers
        .iter()
        .any(|t| matches!(t.storage, Storage::Sparse { .. })));
    // Smaller than the dense encoding.
    let mut dense = m.clone();
    dense
        .graph
        .initializers
        .iter_mut()
        .for_each(|t| t.storage = Storage::Raw);
    assert!(encode(&m).unwrap().len() < encode(&dense).unwrap().len());
}
