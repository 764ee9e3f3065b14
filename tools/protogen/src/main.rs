//! Regenerates the ONNX protobuf bindings: `cargo run --manifest-path tools/protogen/Cargo.toml`.
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let proto_dir = root.join("crates/coprune-onnx/proto");
    let out = root.join("crates/coprune-onnx/src/proto");
    std::fs::create_dir_all(&out).expect("create output dir");
    protobuf_codegen::Codegen::new()
        .pure()
        .include(&proto_dir)
        .input(proto_dir.join("onnx.proto"))
        .out_dir(&out)
        .run_from_script();
}
