//! [`ChildSpec`]: one child to train, as a plain serialisable job. It travels
//! from the controller to whatever trains the child (a trainer thread today;
//! a process or a cluster job step later), and it opens the child's line in
//! `children.jsonl` ([`crate::store::ChildRecord`] flattens it).

use serde::{Deserialize, Serialize};

use crate::space::Architecture;

/// One child to train: which it is, where it came from, what to build and
/// the seed to train it with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildSpec {
    /// Run-wide child number, from 0, in the order children were sampled.
    pub id: u64,
    /// The controller replica that sampled it.
    pub replica: usize,
    /// The parameter-store version (θ) the replica sampled it from.
    pub version: u64,
    /// The controller's token sequence.
    pub tokens: Vec<usize>,
    /// The decoded architecture.
    pub arch: Architecture,
    /// [`Architecture::hash`] of `arch`.
    pub hash: String,
    /// The seed the child trains with ([`crate::seed::child`] of the
    /// experiment seed and `id`); 0 in logs written before it was recorded.
    #[serde(default)]
    pub seed: u64,
}

impl ChildSpec {
    /// The spec of child `id` of a run with `experiment_seed`; its training
    /// seed is derived here, the one place the search does so.
    pub fn new(
        experiment_seed: u64,
        id: u64,
        replica: usize,
        version: u64,
        tokens: Vec<usize>,
        arch: Architecture,
        hash: String,
    ) -> ChildSpec {
        ChildSpec {
            id,
            replica,
            version,
            tokens,
            arch,
            hash,
            seed: crate::seed::child(experiment_seed, id),
        }
    }
}
