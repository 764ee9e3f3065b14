//! `--input-shape NAME=1x3x224x224` values and how they resolve against a model's inputs.

use crate::{Error, Result};
use coprune_ir::{infer::declared_shape, Dim, Model};
use std::collections::HashMap;
use std::str::FromStr;

/// A concrete shape for one named graph input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape {
    pub name: String,
    pub dims: Vec<i64>,
}

impl FromStr for InputShape {
    type Err = Error;

    fn from_str(s: &str) -> Result<InputShape> {
        let bad = || Error::Usage(format!("input shape `{s}` must look like NAME=1x3x224x224"));
        let (name, dims) = s.rsplit_once('=').ok_or_else(bad)?;
        if name.is_empty() || dims.is_empty() {
            return Err(bad());
        }
        let dims = dims
            .split(['x', 'X', ','])
            .map(|d| match d.trim().parse::<i64>() {
                Ok(v) if (0..=coprune_ir::MAX_DIM as i64).contains(&v) => Ok(v),
                _ => Err(Error::Usage(format!(
                    "input shape `{s}`: `{d}` is not a dimension (0..={})",
                    coprune_ir::MAX_DIM
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InputShape {
            name: name.to_string(),
            dims,
        })
    }
}

/// Concrete input shapes and the notes explaining defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResolvedShapes {
    /// Shape per graph input name.
    pub shapes: HashMap<String, Vec<Dim>>,
    /// One note per input whose symbolic dims were defaulted.
    pub notes: Vec<String>,
}

/// Concrete shapes for every graph input: the given ones, and declared shapes with symbolic dims
/// set to 1 (with a note each).
pub fn resolve_input_shapes(model: &Model, given: &[InputShape]) -> Result<ResolvedShapes> {
    let mut shapes = HashMap::new();
    let mut notes = Vec::new();
    for g in given {
        if !model.graph.inputs.iter().any(|v| v.name == g.name) {
            let names: Vec<&str> = model.graph.inputs.iter().map(|v| v.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "--input-shape names `{}`, but the model's inputs are: {}",
                g.name,
                names.join(", ")
            )));
        }
        shapes.insert(
            g.name.clone(),
            g.dims.iter().map(|&d| Dim::known(d)).collect(),
        );
    }
    let initializers: std::collections::HashSet<&str> = model
        .graph
        .initializers
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    for v in &model.graph.inputs {
        if shapes.contains_key(&v.name) || initializers.contains(v.name.as_str()) {
            continue;
        }
        let Some((_, decl)) = declared_shape(&v.name, &v.ty) else {
            continue; // inference reports the missing shape
        };
        let syms: Vec<String> = decl
            .iter()
            .flat_map(|d| d.symbols().iter().cloned())
            .collect();
        if syms.is_empty() {
            continue;
        }
        let concrete: Vec<Dim> = decl.iter().map(|d| d.substitute(&|_| Some(1))).collect();
        notes.push(format!(
            "input `{}`: symbolic dims {} set to 1 (shape {}); give --input-shape {}=… to choose",
            v.name,
            syms.join(", "),
            coprune_ir::shape_to_string(&concrete),
            v.name
        ));
        shapes.insert(v.name.clone(), concrete);
    }
    Ok(ResolvedShapes { shapes, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let s: InputShape = "input=1x3x224x224".parse().unwrap();
        assert_eq!(s.name, "input");
        assert_eq!(s.dims, vec![1, 3, 224, 224]);
        let s: InputShape = "a=b=2,3".parse().unwrap();
        assert_eq!((s.name.as_str(), s.dims), ("a=b", vec![2, 3]));
        assert!("input".parse::<InputShape>().is_err());
        assert!("input=1xfoo".parse::<InputShape>().is_err());
        assert!("input=1x1099511627776".parse::<InputShape>().is_err());
    }
}
