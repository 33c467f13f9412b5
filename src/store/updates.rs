//! [`UpdateRecord`]: one line of `updates.jsonl`, the log of controller updates.

use serde::{Deserialize, Serialize};

/// The run directory's log of controller updates.
pub const UPDATES_FILE: &str = "updates.jsonl";

/// One line of updates.jsonl.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateRecord {
    pub version: u64,
    pub replica: usize,
    /// The oldest θ version among the update's children.
    pub sampled_version: u64,
    /// Updates applied since the oldest child was sampled (`version − 1 − sampled_version`).
    pub staleness: u64,
    /// The θ version each child was sampled with (`children` order; empty in
    /// logs written before refill sampling, where all were `sampled_version`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sampled_versions: Vec<u64>,
    /// The staleness of the update's children, on average.
    #[serde(default)]
    pub staleness_mean: f64,
    pub children: Vec<u64>,
    pub rewards: Vec<f64>,
    pub baseline: f64,
    pub loss: f64,
    pub grad_norm: f64,
}
