//! ParamStore: owns the controller parameters θ, split into S shards, each
//! with its own slice of the Adam state. Answers pulls with (version,
//! weights); applies pushed gradients in arrival order, shard by shard, and
//! bumps the version; records the staleness of every update; writes the
//! checkpoint (θ, Adam, versions, replica baselines and RNGs, counters)
//! atomically after updates, coalescing bursts into one write, on a writer
//! thread of its own so that a write never delays a pull or a push.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use serde::Serialize;

use super::checkpoint_writer::{CheckpointWriteError, CheckpointWriter};
use super::end::RunFailure;
use super::messages::{
    Fatal, FlushCheckpoint, Params, PullParams, PushGradient, Pushed, UpdateApplied,
};
use super::reporter::Reporter;
use crate::search::Checkpoint;
use crate::store::{JsonlAppender, StoreError, UpdateRecord};

/// Why the parameter store cannot go on (the run ends with it).
#[derive(Debug, thiserror::Error)]
pub enum ParamStoreError {
    /// A replica pushed a gradient that does not have θ's layout (a bug).
    #[error("replica {replica} pushed a gradient of {got} values for {expected} parameters")]
    GradientSize {
        replica: usize,
        got: usize,
        expected: usize,
    },
    /// An applied update could not be appended to the update log.
    #[error("{0}")]
    UpdateLog(#[source] StoreError),
}

/// The parameter-store actor.
pub struct ParamStore {
    state: Checkpoint,
    snapshot: Arc<Vec<f32>>,
    writer: CheckpointWriter,
    /// Where a failure goes (the Recorder ends the run).
    fatal: Recipient<Fatal>,
    reporter: Addr<Reporter>,
    /// Architectures sampled so far, shared with the replicas.
    sampled: Arc<AtomicUsize>,
    dirty: bool,
    flush_scheduled: bool,
    updates_log: JsonlAppender,
}

impl ParamStore {
    /// A store over `state` whose checkpoints go to `checkpoint_path`.
    pub fn new(
        state: Checkpoint,
        checkpoint_path: std::path::PathBuf,
        reporter: Addr<Reporter>,
        updates_log: JsonlAppender,
        sampled: Arc<AtomicUsize>,
        fatal: Recipient<Fatal>,
    ) -> std::io::Result<ParamStore> {
        let writer = CheckpointWriter::start(checkpoint_path, fatal.clone())?;
        Ok(ParamStore {
            snapshot: Arc::new(state.weights.clone()),
            state,
            writer,
            fatal,
            reporter,
            sampled,
            dirty: false,
            flush_scheduled: false,
            updates_log,
        })
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        self.dirty = true;
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            // Queued behind the messages already waiting, so a burst of updates is written once.
            ctx.notify(WriteCheckpoint);
        }
    }

    fn fail(&self, error: ParamStoreError) {
        self.fatal.do_send(Fatal(RunFailure::ParamStore(error)));
    }
}

impl Actor for ParamStore {
    type Context = Context<Self>;
}

impl ParamStore {
    /// Current θ and its version (shared, copied only when it changes).
    fn params(&self) -> Params {
        Params {
            version: self.state.version,
            weights: self.snapshot.clone(),
        }
    }
}

impl Handler<PullParams> for ParamStore {
    type Result = Params;
    /// Answer with θ and its version (shared, not copied).
    fn handle(&mut self, _: PullParams, _: &mut Context<Self>) -> Params {
        self.params()
    }
}

impl Handler<PushGradient> for ParamStore {
    type Result = Pushed;
    /// Apply a gradient shard by shard with Adam, bump the version, log the update.
    fn handle(&mut self, msg: PushGradient, ctx: &mut Context<Self>) -> Pushed {
        let n = self.state.weights.len();
        if msg.grad.len() != n {
            self.fail(ParamStoreError::GradientSize {
                replica: msg.replica,
                got: msg.grad.len(),
                expected: n,
            });
            return Pushed {
                params: self.params(),
                staleness: 0,
            };
        }
        let starts: Vec<usize> = self.state.shards.iter().map(|s| s.start).collect();
        for (i, shard) in self.state.shards.iter_mut().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(n);
            shard.adam.step(
                &mut self.state.weights[shard.start..end],
                &msg.grad[shard.start..end],
            );
        }
        let staleness = self.state.version.saturating_sub(msg.sampled_version);
        let staleness_mean = if msg.sampled_versions.is_empty() {
            staleness as f64
        } else {
            msg.sampled_versions
                .iter()
                .map(|v| self.state.version.saturating_sub(*v) as f64)
                .sum::<f64>()
                / msg.sampled_versions.len() as f64
        };
        self.state.version += 1;
        self.state.staleness_sum += staleness;
        self.state.staleness_max = self.state.staleness_max.max(staleness);
        let baseline = msg.state.baseline.value();
        self.state.replicas.insert(msg.replica, msg.state);
        self.snapshot = Arc::new(self.state.weights.clone());
        let record = UpdateRecord {
            version: self.state.version,
            replica: msg.replica,
            sampled_version: msg.sampled_version,
            staleness,
            sampled_versions: msg.sampled_versions,
            staleness_mean,
            children: msg.children,
            rewards: msg.rewards,
            baseline,
            loss: msg.loss,
            grad_norm: msg.grad_norm,
        };
        if let Err(e) = self.updates_log.append(&record) {
            self.fail(ParamStoreError::UpdateLog(e));
        }
        self.reporter.do_send(UpdateApplied {
            updates: self.state.version,
            baseline,
            staleness,
        });
        self.schedule_flush(ctx);
        Pushed {
            params: self.params(),
            staleness,
        }
    }
}

/// ParamStore → itself: hand the checkpoint to the writer if anything changed.
#[derive(Message)]
#[rtype(result = "()")]
struct WriteCheckpoint;

impl ParamStore {
    fn submit_checkpoint(&mut self) {
        self.flush_scheduled = false;
        if self.dirty {
            self.dirty = false;
            self.state.sampled = self.sampled.load(Ordering::SeqCst);
            self.writer.submit(self.state.clone());
        }
    }
}

impl Handler<WriteCheckpoint> for ParamStore {
    type Result = ();
    /// Hand the checkpoint to the writer thread if anything changed since the last one.
    fn handle(&mut self, _: WriteCheckpoint, _: &mut Context<Self>) {
        self.submit_checkpoint();
    }
}

impl Handler<FlushCheckpoint> for ParamStore {
    type Result = Result<(), CheckpointWriteError>;
    /// Write the checkpoint if anything changed, and wait until it is on disk.
    fn handle(
        &mut self,
        _: FlushCheckpoint,
        _: &mut Context<Self>,
    ) -> Result<(), CheckpointWriteError> {
        self.submit_checkpoint();
        self.writer.flush()
    }
}

/// Statistics for the run summary.
#[derive(Message)]
#[rtype(result = "StoreStats")]
pub struct GetStats;

/// Updates applied and their staleness.
#[derive(Debug, Clone, MessageResponse, Serialize)]
pub struct StoreStats {
    pub updates: u64,
    pub staleness_mean: f64,
    pub staleness_max: u64,
}

impl Handler<GetStats> for ParamStore {
    type Result = StoreStats;
    /// The update count and staleness, for the run summary.
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> StoreStats {
        let u = self.state.version;
        StoreStats {
            updates: u,
            staleness_mean: if u == 0 {
                0.0
            } else {
                self.state.staleness_sum as f64 / u as f64
            },
            staleness_max: self.state.staleness_max,
        }
    }
}
