//! Retraining jobs spread over the device slots: one thread per slot takes
//! the next job from one crossbeam queue (as the search's trainers do),
//! trains it and hands the result and the trained model back.

use std::time::{Duration, Instant};

use super::{Job, RetrainEvent};
use crate::actors::trainer::tch_device;
use crate::child::final_eval::TrainedModel;
use crate::child::{self, ChildOutcome, Progress};
use crate::config::{ChildModel, SpaceKind};
use crate::data::TaskData;
use crate::devices::{Slot, SlotDevice};
use crate::post::final_json::{finite, GridResult};

/// Batch events are sent at most this often per job.
const BATCH_EVERY: Duration = Duration::from_millis(200);

/// Forwards a job's progress as [`RetrainEvent::Batch`], throttled.
struct JobProgress<'a> {
    job: usize,
    events: &'a (dyn Fn(RetrainEvent) + Sync),
    last: Option<Instant>,
}

impl Progress for JobProgress<'_> {
    fn on_batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: f64) {
        if self.last.is_none_or(|t| t.elapsed() >= BATCH_EVERY) {
            self.last = Some(Instant::now());
            (self.events)(RetrainEvent::Batch {
                job: self.job,
                epoch,
                batch,
                batches,
                loss,
            });
        }
    }
}

/// The record of a finished job.
fn result_of(job: &Job, outcome: &ChildOutcome) -> GridResult {
    let (hash, description) = match job.config.child.model {
        ChildModel::Lstm => ("lstm".to_string(), job.config.child.lm.lstm_description()),
        ChildModel::Searched => (job.hash.clone(), job.arch.describe()),
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
    data: &TaskData,
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
    std::thread::scope(|scope| {
        for slot in slots {
            let (jobs, done) = (job_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                if slot.device == SlotDevice::Cpu {
                    tch::set_num_threads(slot.threads.max(1) as i32);
                }
                while let Ok(job) = jobs.recv() {
                    events(RetrainEvent::Started {
                        job: job.index,
                        slot: slot.label.clone(),
                        label: job.label(),
                    });
                    let mut progress = JobProgress {
                        job: job.index,
                        events,
                        last: None,
                    };
                    let (outcome, model) = child::train_keeping(
                        &job.arch,
                        &job.config,
                        data,
                        tch_device(&slot.device),
                        job.seed,
                        &mut progress,
                    );
                    let result = result_of(job, &outcome);
                    events(RetrainEvent::Finished {
                        job: job.index,
                        result: Box::new(result.clone()),
                    });
                    if done.send((job.index, result, model)).is_err() {
                        break;
                    }
                }
            });
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
                let outcome = ChildOutcome::failure(
                    child::ChildStatus::Failed,
                    job.config.reward.failure,
                    "no trainer thread took this job",
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
