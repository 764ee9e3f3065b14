//! Fuzzes the ONNX importer: any bytes must give Ok or a typed error, never a panic; whatever
//! imports must round-trip (export → import gives the same model) and survive shape inference
//! without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = coprune_onnx::decode(data, Path::new("fuzz.onnx"), None) else {
        return;
    };
    let bytes = coprune_onnx::encode(&model).expect("an imported model encodes");
    let back = coprune_onnx::decode(&bytes, Path::new("fuzz.onnx"), None).expect("re-import");
    assert!(back == model, "round trip changed the model");
    let _ = coprune_ir::infer(&model, &Default::default());
});
