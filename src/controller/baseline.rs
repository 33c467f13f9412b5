//! The REINFORCE baseline: an exponential moving average of previous rewards.

use serde::{Deserialize, Serialize};

/// `b ← decay · b + (1 − decay) · R` over the rewards seen so far.
///
/// It starts at 0 (no reward seen yet, as in the paper's reference
/// implementations), so the first advantages equal the first rewards. A
/// batch's advantages `R_k − b` all use the baseline from *before* the batch;
/// only then is `b` updated with the batch's rewards, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    value: f64,
    decay: f64,
    /// Rewards folded in so far.
    seen: u64,
}

impl Baseline {
    /// A baseline at 0 with the given decay (config `controller.baseline_decay`).
    pub fn new(decay: f64) -> Baseline {
        Baseline {
            value: 0.0,
            decay,
            seen: 0,
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

    /// `R_k − b` for each reward (with `b` before this batch), then fold the
    /// rewards into `b` in order.
    pub fn advantages(&mut self, rewards: &[f64]) -> Vec<f64> {
        let adv = rewards.iter().map(|r| r - self.value).collect();
        for r in rewards {
            self.value = self.decay * self.value + (1.0 - self.decay) * r;
            self.seen += 1;
        }
        adv
    }
}
