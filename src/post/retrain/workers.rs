//! Retraining jobs spread over the device slots on the shared worker pool
//! ([`crate::runner::pool`], as the search's trainers are): each slot's
//! thread takes the next job, trains it and hands the result and the
//! trained model back.

use std::sync::Arc;

use crossbeam_channel::Sender;

use super::{Job, RetrainEvent};
use crate::child::final_eval::TrainedModel;
use crate::child::{self, ChildOutcome, EpochMetrics};
use crate::config::{ChildModel, Config, SpaceKind};
use crate::data::TaskData;
use crate::devices::Slot;
use crate::post::final_json::{finite, GridResult};
use crate::runner::pool::{self, Batch, Flow, SlotWorker, Throttled};
use crate::runner::TchRunner;

/// One slot's retraining: each job's progress becomes [`RetrainEvent`]s and
/// its result and model go to the collecting thread.
struct Retrainer<'a> {
    events: &'a (dyn Fn(RetrainEvent) + Sync),
    done: Sender<(usize, GridResult, Option<TrainedModel>)>,
}

impl<'a> SlotWorker<TchRunner, &'a Job> for Retrainer<'a> {
    fn job(&mut self, slot: &Slot, runner: &mut TchRunner, job: &'a Job) -> Flow {
        let events = self.events;
        events(RetrainEvent::Started {
            job: job.index,
            slot: slot.label.clone(),
            label: job.label(),
        });
        let mut sink = |b: Batch| {
            events(RetrainEvent::Batch {
                job: job.index,
                epoch: b.epoch,
                batch: b.batch,
                batches: b.batches,
                loss: b.loss,
            })
        };
        let epochs = job.grid.epochs;
        let mut epoch_sink = |m: &EpochMetrics| {
            events(RetrainEvent::Epoch {
                job: job.index,
                epochs,
                metrics: m.clone(),
            })
        };
        let mut progress = Throttled::new(&mut sink).with_epochs(&mut epoch_sink);
        let (outcome, model) = runner.run_keeping(&job.config, &job.spec, slot, &mut progress);
        let result = result_of(job, &outcome);
        events(RetrainEvent::Finished {
            job: job.index,
            result: Box::new(result.clone()),
        });
        match self.done.send((job.index, result, model)) {
            Ok(()) => Flow::Next,
            Err(_) => Flow::Stop,
        }
    }
}

/// The record of a finished job.
fn result_of(job: &Job, outcome: &ChildOutcome) -> GridResult {
    let (hash, description) = match job.config.child.model {
        ChildModel::Lstm => ("lstm".to_string(), job.config.child.lm.lstm_description()),
        ChildModel::Searched => (job.spec.hash.clone(), job.spec.arch.describe()),
    };
    GridResult {
        rank: job.rank,
        child_id: job.child_id,
        model: job.config.child.model,
        hash,
        description,
        grid_index: job.grid_index,
        grid: job.grid.clone(),
        status: outcome.status,
        seed: job.spec.seed,
        validation: outcome.metric.and_then(finite),
        validation_history: outcome
            .epochs
            .iter()
            .map(|e| finite(e.val_metric))
            .collect(),
        params: outcome.params,
        seconds: outcome.seconds,
        message: outcome.message.clone(),
    }
}

/// The best model of each kind so far: `[searched, lstm]`, each as
/// (job index, validation metric, model).
pub(super) type Best = [Option<(usize, f64, TrainedModel)>; 2];

/// Train every job on `slots`. Returns every result in job order and the
/// model with the best validation metric of each kind (the others are
/// dropped as soon as they are beaten, so at most two wait in memory).
pub(super) fn run_jobs(
    jobs: &[Job],
    slots: &[Slot],
    base: &Arc<Config>,
    data: &Arc<TaskData>,
    space: SpaceKind,
    events: &(dyn Fn(RetrainEvent) + Sync),
) -> (Vec<GridResult>, Best) {
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<&Job>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    for job in jobs {
        // The receiver lives until the end of this function: sending cannot fail.
        let _ = job_tx.send(job);
    }
    drop(job_tx);
    let mut results: Vec<Option<GridResult>> = vec![None; jobs.len()];
    let mut best: Best = [None, None];
    let mut unstarted = Vec::new();
    std::thread::scope(|scope| {
        for slot in slots {
            let runner = TchRunner::new(base.clone(), data.clone());
            let worker = Retrainer {
                events,
                done: done_tx.clone(),
            };
            let started =
                pool::spawn_scoped(scope, "retrain", slot, runner, job_rx.clone(), worker);
            if let Err(e) = started {
                unstarted.push(format!("{}: {e}", slot.label));
            }
        }
        drop(done_tx);
        for (index, result, model) in done_rx.iter() {
            let Some(job) = jobs.get(index) else { continue };
            if let (Some(v), Some(m)) = (result.validation, model) {
                let kind = usize::from(job.config.child.model == ChildModel::Lstm);
                if best[kind]
                    .as_ref()
                    .is_none_or(|(_, b, _)| better(space, v, *b))
                {
                    best[kind] = Some((index, v, m));
                }
            }
            results[index] = Some(result);
        }
    });
    let results = results
        .into_iter()
        .zip(jobs)
        .map(|(r, job)| {
            r.unwrap_or_else(|| {
                let mut message = "no trainer thread took this job".to_string();
                if !unstarted.is_empty() {
                    message += &format!(" (cannot start: {})", unstarted.join("; "));
                }
                let outcome = ChildOutcome::failure(
                    child::ChildStatus::Failed,
                    job.config.reward.failure,
                    message,
                );
                result_of(job, &outcome)
            })
        })
        .collect();
    (results, best)
}

/// Is validation metric `a` better than `b` in `space` (accuracy up, perplexity down)?
fn better(space: SpaceKind, a: f64, b: f64) -> bool {
    crate::task::Metric::of_space(space).better(a, b)
}
