//! [`Checkpoint`]: what a resumed search needs to continue where it stopped
//! (θ, its shards' Adam state, each replica's state), written by the
//! parameter store through `store::checkpoint`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ReplicaState;
use crate::controller::Adam;

/// One shard: a contiguous slice of θ and its Adam state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shard {
    pub start: usize,
    pub adam: Adam,
}

/// Everything a resumed run needs to continue the search where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version of this structure.
    pub format: u32,
    /// θ version: the number of updates applied.
    pub version: u64,
    pub weights: Vec<f32>,
    pub shards: Vec<Shard>,
    pub replicas: BTreeMap<usize, ReplicaState>,
    /// Architectures sampled so far (drives the CNN growth schedule).
    pub sampled: usize,
    /// Sum and maximum of the staleness of all updates.
    pub staleness_sum: u64,
    pub staleness_max: u64,
}

impl Checkpoint {
    pub const FORMAT: u32 = 1;

    /// A fresh checkpoint for θ split into `shards` shards.
    pub fn fresh(
        weights: Vec<f32>,
        shards: usize,
        make_adam: impl Fn(usize) -> Adam,
    ) -> Checkpoint {
        let n = weights.len();
        let s = shards.clamp(1, n.max(1));
        let shards = (0..s)
            .map(|i| {
                let start = i * n / s;
                let end = (i + 1) * n / s;
                Shard {
                    start,
                    adam: make_adam(end - start),
                }
            })
            .collect();
        Checkpoint {
            format: Checkpoint::FORMAT,
            version: 0,
            weights,
            shards,
            replicas: BTreeMap::new(),
            sampled: 0,
            staleness_sum: 0,
            staleness_max: 0,
        }
    }
}
