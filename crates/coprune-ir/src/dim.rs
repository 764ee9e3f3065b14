//! Dimensions that may be symbolic (`N`, `seq`, `2*N*seq`).
//!
//! A dimension is a monomial: an integer coefficient times a sorted product of named symbols. That
//! covers what classifier and transformer exports need (batch `N`, `N*seq` after a Reshape to
//! `[-1, 768]`, exact division back); a sum of different symbols becomes one opaque symbol named
//! after the expression, so results stay deterministic.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One dimension, or one element of a small integer tensor whose value is being tracked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dim {
    coeff: i64,
    syms: Vec<String>,
}

impl Dim {
    /// A known value.
    pub fn known(v: i64) -> Dim {
        Dim {
            coeff: v,
            syms: Vec::new(),
        }
    }

    /// A named symbol (`N`).
    pub fn sym(name: impl Into<String>) -> Dim {
        Dim {
            coeff: 1,
            syms: vec![name.into()],
        }
    }

    /// The value if it is known.
    pub fn as_known(&self) -> Option<i64> {
        self.syms.is_empty().then_some(self.coeff)
    }

    /// Whether the dimension contains a symbol.
    pub fn is_symbolic(&self) -> bool {
        !self.syms.is_empty()
    }

    /// Symbols this dimension is built from.
    pub fn symbols(&self) -> &[String] {
        &self.syms
    }

    /// Replaces every symbol by the value `f` gives it (or keeps it), returning the result.
    pub fn substitute(&self, f: &dyn Fn(&str) -> Option<i64>) -> Dim {
        let mut out = Dim::known(self.coeff);
        for s in &self.syms {
            out = out.mul(&match f(s) {
                Some(v) => Dim::known(v),
                None => Dim::sym(s.clone()),
            });
        }
        out
    }

    /// Product; `None` on overflow.
    pub fn checked_mul(&self, other: &Dim) -> Option<Dim> {
        let coeff = self.coeff.checked_mul(other.coeff)?;
        if coeff == 0 {
            return Some(Dim::known(0));
        }
        let mut syms = self.syms.clone();
        syms.extend(other.syms.iter().cloned());
        syms.sort();
        Some(Dim { coeff, syms })
    }

    /// Product, saturating to an opaque symbol on overflow.
    pub fn mul(&self, other: &Dim) -> Dim {
        self.checked_mul(other)
            .unwrap_or_else(|| Dim::sym(format!("({self})*({other})")))
    }

    /// Exact quotient, if `other` divides `self` (same symbols cancel, coefficient divides).
    pub fn div_exact(&self, other: &Dim) -> Option<Dim> {
        if other.coeff == 0 || self.coeff % other.coeff != 0 {
            return None;
        }
        let mut syms = self.syms.clone();
        for s in &other.syms {
            let pos = syms.iter().position(|x| x == s)?;
            syms.remove(pos);
        }
        Some(Dim {
            coeff: self.coeff / other.coeff,
            syms,
        })
    }

    /// Sum; different symbolic terms become one opaque symbol named after the expression.
    pub fn add(&self, other: &Dim) -> Dim {
        if self.syms == other.syms {
            if let Some(c) = self.coeff.checked_add(other.coeff) {
                return if c == 0 {
                    Dim::known(0)
                } else {
                    Dim {
                        coeff: c,
                        syms: self.syms.clone(),
                    }
                };
            }
        }
        if self.as_known() == Some(0) {
            return other.clone();
        }
        if other.as_known() == Some(0) {
            return self.clone();
        }
        Dim::sym(format!("({self}+{other})"))
    }

    /// Difference (see [`Dim::add`]).
    pub fn sub(&self, other: &Dim) -> Dim {
        self.add(&other.mul(&Dim::known(-1)))
    }
}

impl From<i64> for Dim {
    fn from(v: i64) -> Dim {
        Dim::known(v)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.syms.is_empty() {
            return write!(f, "{}", self.coeff);
        }
        if self.coeff != 1 {
            write!(f, "{}*", self.coeff)?;
        }
        f.write_str(&self.syms.join("*"))
    }
}

/// A shape: one [`Dim`] per axis.
pub type Shape = Vec<Dim>;

/// Formats a shape as `[N,3,224,224]`.
pub fn shape_to_string(shape: &[Dim]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// Product of all dims (1 for a scalar); `None` on overflow.
pub fn numel(shape: &[Dim]) -> Option<Dim> {
    shape
        .iter()
        .try_fold(Dim::known(1), |acc, d| acc.checked_mul(d))
}

/// Product of all dims when every one is known; `None` when symbolic, negative or overflowing.
pub fn known_numel(shape: &[Dim]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, d| {
        let v = u64::try_from(d.as_known()?).ok()?;
        acc.checked_mul(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monomial_arithmetic() {
        let n = Dim::sym("N");
        let seq = Dim::sym("seq");
        let ns768 = n.mul(&seq).mul(&Dim::known(768));
        assert_eq!(ns768.to_string(), "768*N*seq");
        assert_eq!(ns768.div_exact(&Dim::known(768)).unwrap(), n.mul(&seq));
        assert_eq!(ns768.div_exact(&seq).unwrap().to_string(), "768*N");
        assert!(ns768.div_exact(&Dim::known(7)).is_none());
        assert_eq!(n.add(&n).to_string(), "2*N");
        assert_eq!(n.add(&seq).to_string(), "(N+seq)");
        assert_eq!(n.sub(&n), Dim::known(0));
        let sub = ns768.substitute(&|s| (s == "N").then_some(2));
        assert_eq!(sub.to_string(), "1536*seq");
    }

    #[test]
    fn overflow_is_not_a_panic() {
        let big = Dim::known(i64::MAX);
        assert!(big.checked_mul(&Dim::known(2)).is_none());
        assert!(big.mul(&Dim::known(2)).is_symbolic());
        assert_eq!(
            known_numel(&[Dim::known(1 << 40), Dim::known(1 << 40)]),
            None
        );
    }
}
