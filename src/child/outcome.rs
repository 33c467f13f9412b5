//! What training one child produced: status, per-epoch metrics and reward.

use serde::{Deserialize, Serialize};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildStatus {
    /// Trained to the end; the reward comes from its validation metric.
    Ok,
    /// The loss became NaN or infinite; stopped at once, failure reward.
    Diverged,
    /// An error, a panic, out of memory or a timeout; failure reward.
    Failed,
    /// The same architecture (canonical hash) was trained before in this run; its reward is reused.
    Cached,
    /// Stopped early by the median stopping rule (`[search.early_stop]`): the
    /// epochs it ran are kept, and its reward comes from its best validation
    /// metric so far under the task's reward rule.
    Stopped,
}

/// The message of a child that a runner ended because
/// [`Progress::cancelled`] asked it to (status failed, with the epochs it
/// completed). Every runner uses it: the trainer tells an early stop from a
/// failure by it.
pub const CANCELLED: &str = "cancelled";

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss (cross-entropy) over the epoch's batches; None
    /// when a trial command did not report one.
    pub train_loss: Option<f64>,
    /// Mean validation loss; None when a trial command did not report one.
    pub val_loss: Option<f64>,
    /// Validation accuracy in [0, 1] (CNN) or validation perplexity (language model).
    pub val_metric: f64,
    /// Wall time of the epoch, training and validation, in seconds.
    pub seconds: f64,
}

/// The result of training one child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildOutcome {
    pub status: ChildStatus,
    /// The controller's reward (the failure reward unless `status` is ok or cached).
    pub reward: f64,
    /// The metric the reward was computed from: the best validation accuracy
    /// of the reward window (CNN) or the final validation perplexity (LM).
    pub metric: Option<f64>,
    pub epochs: Vec<EpochMetrics>,
    /// Trainable parameters of the child.
    pub params: usize,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Why it diverged or failed.
    pub message: Option<String>,
}

impl ChildOutcome {
    /// A failed or diverged child with the failure reward.
    pub fn failure(status: ChildStatus, reward: f64, message: impl Into<String>) -> ChildOutcome {
        ChildOutcome {
            status,
            reward,
            metric: None,
            epochs: Vec::new(),
            params: 0,
            seconds: 0.0,
            message: Some(message.into()),
        }
    }
}

/// Where a child's process ran: the node, and the GPUs it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The host (`SLURMD_NODENAME` in a Slurm step).
    pub node: String,
    /// `CUDA_VISIBLE_DEVICES` of the process, as Slurm set it; empty for none.
    pub gpus: String,
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.gpus.is_empty() {
            write!(f, "{}", self.node)
        } else {
            write!(f, "{} gpu {}", self.node, self.gpus)
        }
    }
}

/// Progress callbacks of a child's training; every method has a no-op default.
pub trait Progress {
    /// After each training batch.
    fn on_batch(&mut self, _epoch: usize, _batch: usize, _batches: usize, _loss: f64) {}
    /// After each epoch's validation.
    fn on_epoch(&mut self, _metrics: &EpochMetrics) {}
    /// Once the child's process says where it runs (a Slurm step: node and GPUs).
    fn on_placed(&mut self, _placement: &Placement) {}
    /// Polled between batches (or epochs); true stops the child: the runner
    /// returns status failed, message [`CANCELLED`], and the epochs it completed.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// What a caught panic says, for a failure message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into())
}
