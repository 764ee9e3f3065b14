//! Data movement and shape computation.

pub mod cast;
pub mod concat;
pub mod constant;
pub mod constant_of_shape;
pub mod expand;
pub mod flatten;
pub mod gather;
pub mod identity;
pub mod pad;
pub mod range;
pub mod reshape;
pub mod resize;
pub mod shape_op;
pub mod size;
pub mod slice;
pub mod split;
pub mod squeeze;
pub mod tile;
pub mod transpose;
pub mod unsqueeze;
