// @generated

pub mod onnx;
