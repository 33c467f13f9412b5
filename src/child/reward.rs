//! Validation metrics → the controller's reward (paper: accuracy³ over the
//! best of the last 5 epochs for CNNs; 80 / perplexity² for language models).

use super::EpochMetrics;
use crate::config::RewardConfig;

/// The best validation accuracy of the last `reward.accuracy_window` epochs
/// (all of them when fewer ran) and that accuracy raised to `reward.accuracy_exponent`.
/// `None` when no epoch ran.
pub fn accuracy_reward(epochs: &[EpochMetrics], reward: &RewardConfig) -> Option<(f64, f64)> {
    let window = reward.accuracy_window.max(1).min(epochs.len());
    let best = epochs[epochs.len() - window..]
        .iter()
        .map(|e| e.val_metric)
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        })?;
    Some((best, crate::task::Metric::accuracy().reward(best, reward)))
}

/// `reward.perplexity_c / perplexity^reward.perplexity_exponent`.
pub fn perplexity_reward(perplexity: f64, reward: &RewardConfig) -> f64 {
    crate::task::Metric::perplexity().reward(perplexity, reward)
}
