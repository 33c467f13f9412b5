//! The messages between the actors of a search. They carry token sequences,
//! flat f32 weights and gradients and plain metrics — never tensors.

use std::sync::Arc;

use actix::prelude::*;

use super::checkpoint_writer::CheckpointWriteError;
use super::end::RunFailure;
use crate::child::{ChildSpec, ChildStatus};
use crate::store::ChildRecord;

/// Controller replica → ParamStore: the current θ, please.
#[derive(Message)]
#[rtype(result = "Params")]
pub struct PullParams;

/// ParamStore → Controller replica: θ at a version.
#[derive(Debug, Clone, MessageResponse)]
pub struct Params {
    pub version: u64,
    pub weights: Arc<Vec<f32>>,
}

pub use crate::search::ReplicaState;

/// Controller replica → ParamStore: a REINFORCE gradient computed against θ_version.
#[derive(Message)]
#[rtype(result = "Pushed")]
pub struct PushGradient {
    pub replica: usize,
    /// The oldest θ version among the update's children.
    pub sampled_version: u64,
    /// The θ version each child was sampled with (`children` order).
    pub sampled_versions: Vec<u64>,
    /// Flat gradient, same layout as θ.
    pub grad: Vec<f32>,
    /// Ids of the children whose rewards made this gradient (exactly m, or fewer at the budget's end).
    pub children: Vec<u64>,
    pub rewards: Vec<f64>,
    pub loss: f64,
    pub grad_norm: f64,
    /// The replica's state after the update (checkpointed).
    pub state: ReplicaState,
}

/// ParamStore → Controller replica: the gradient was applied; θ after it
/// (the replica samples its next batch with these, without another pull).
#[derive(Debug, Clone, MessageResponse)]
pub struct Pushed {
    pub params: Params,
    pub staleness: u64,
}

/// Recorder → ParamStore (at the end of the run): write the checkpoint now if anything changed, and answer once it is on disk.
#[derive(Message)]
#[rtype(result = "Result<(), CheckpointWriteError>")]
pub struct FlushCheckpoint;

/// Controller replica → Recorder: train this architecture (or reuse a cached reward).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct TrainChild {
    /// The child to train.
    pub spec: ChildSpec,
    /// Where the result goes once it is recorded.
    pub reply: Recipient<ChildResult>,
}

/// Trainer → Recorder: a finished child, to be recorded before its reward is used.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChildFinished {
    pub record: ChildRecord,
    pub reply: Recipient<ChildResult>,
}

/// Recorder → Controller replica: a recorded child's reward.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ChildResult {
    pub id: u64,
    pub reward: f64,
    pub status: ChildStatus,
    /// A repeat that spent no budget (`search.repeats = "free"`): the
    /// replica hands its child id's place in the budget back.
    pub free: bool,
}

/// Controller replica → Recorder: this replica has nothing left to do.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplicaDone {
    pub replica: usize,
}

/// Controller replica → Recorder (from its `stopped` hook): this replica
/// stopped without reporting `ReplicaDone` or `Fatal` — a bug; the run
/// counts it as done so that its end cannot be missed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplicaLost {
    pub replica: usize,
}

/// Anyone → Recorder: the run cannot go on (disk error, every slot retired, …).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Fatal(pub RunFailure);

/// Trainer → Reporter: where a slot is.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum SlotEvent {
    /// Started child `child`.
    Started { slot: usize, child: u64 },
    /// Child `child`'s process runs `at` (a Slurm step: node and GPUs).
    Placed { slot: usize, child: u64, at: String },
    /// Training progress.
    Batch {
        slot: usize,
        child: u64,
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    /// An epoch ended with this validation metric.
    Epoch {
        slot: usize,
        child: u64,
        epoch: usize,
        metric: f64,
    },
    /// Waiting for a job.
    Idle { slot: usize },
    /// Retired after too many failures in a row.
    Retired { slot: usize, reason: String },
}

/// Recorder → Reporter: a child was recorded.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ChildRecorded {
    pub id: u64,
    pub status: ChildStatus,
    pub reward: f64,
    pub metric: Option<f64>,
    /// The counts and best reward with this child counted.
    pub tally: Tally,
}

/// Where the recorded children stand, for the status line: counts by
/// status and the best reward (0 before the first ok child) and its metric.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub done: usize,
    pub failures: usize,
    pub diverged: usize,
    pub cached: usize,
    pub best_reward: f64,
    pub best_metric: Option<f64>,
}

/// ParamStore → Reporter: a controller update was applied.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct UpdateApplied {
    pub updates: u64,
    pub baseline: f64,
    pub staleness: u64,
}

/// Anyone → Reporter: a one-line notice for the user.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Notice(pub String);
