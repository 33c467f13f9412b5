//! The REINFORCE baseline: an exponential moving average of previous rewards.

use serde::{Deserialize, Serialize};

pub use crate::config::BaselineInit;

/// `b ← decay · b + (1 − decay) · R` over the rewards seen so far.
///
/// It starts at 0 or, with [`BaselineInit::FirstBatch`], at the mean of the
/// first batch's rewards. A batch's advantages `R_k − b` all use the
/// baseline from *before* the batch; only then is `b` updated with the
/// batch's rewards, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    value: f64,
    decay: f64,
    /// Rewards folded in so far.
    seen: u64,
    /// Where it starts (checkpoints written before this key start at 0).
    #[serde(default)]
    init: BaselineInit,
}

impl Baseline {
    /// A baseline at 0 with the given decay (config `controller.baseline_decay`).
    pub fn new(decay: f64) -> Baseline {
        Baseline::starting(decay, BaselineInit::Zero)
    }

    /// A baseline with the given decay that starts as `init` says.
    pub fn starting(decay: f64, init: BaselineInit) -> Baseline {
        Baseline {
            value: 0.0,
            decay,
            seen: 0,
            init,
        }
    }

    /// The current baseline `b`.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Rewards folded in so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// `R_k − b` for each reward (with `b` before this batch; for the first
    /// batch under [`BaselineInit::FirstBatch`], the batch's mean), then fold
    /// the rewards into `b` in order.
    pub fn advantages(&mut self, rewards: &[f64]) -> Vec<f64> {
        if self.seen == 0 && self.init == BaselineInit::FirstBatch {
            let finite: Vec<f64> = rewards.iter().copied().filter(|r| r.is_finite()).collect();
            if !finite.is_empty() {
                self.value = finite.iter().sum::<f64>() / finite.len() as f64;
            }
        }
        let adv = rewards.iter().map(|r| r - self.value).collect();
        for r in rewards {
            self.value = self.decay * self.value + (1.0 - self.decay) * r;
            self.seen += 1;
        }
        adv
    }
}
