//! Learning-rate schedules over the steps of a run.

use serde::Serialize;

/// How the learning rate moves from its base value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Half a cosine from the base rate down to 0 over all steps.
    Cosine,
    /// Multiplied by `gamma` every `every` epochs.
    Step { every: usize, gamma: f32 },
}

impl LrSchedule {
    /// The rate at `step` (0-based) of `total` steps with `per_epoch` steps per epoch.
    pub fn lr(&self, base: f32, step: usize, total: usize, per_epoch: usize) -> f32 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Cosine => {
                let t = step as f32 / total.max(1) as f32;
                base * 0.5 * (1.0 + (std::f32::consts::PI * t).cos())
            }
            LrSchedule::Step { every, gamma } => {
                let epoch = step / per_epoch.max(1);
                base * gamma.powi((epoch / every.max(1)) as i32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves() {
        assert_eq!(LrSchedule::Constant.lr(0.1, 50, 100, 10), 0.1);
        assert!((LrSchedule::Cosine.lr(0.1, 0, 100, 10) - 0.1).abs() < 1e-7);
        assert!((LrSchedule::Cosine.lr(0.1, 50, 100, 10) - 0.05).abs() < 1e-6);
        assert!(LrSchedule::Cosine.lr(0.1, 100, 100, 10).abs() < 1e-6);
        let s = LrSchedule::Step {
            every: 2,
            gamma: 0.5,
        };
        assert_eq!(s.lr(0.1, 19, 100, 10), 0.1);
        assert_eq!(s.lr(0.1, 20, 100, 10), 0.05);
        assert_eq!(s.lr(0.1, 45, 100, 10), 0.025);
    }
}
