//! Trainer: one plain thread per device slot (never an actix arbiter thread,
//! since training blocks). Every trainer takes jobs from the one shared
//! crossbeam queue, so the first free slot takes the next child; it trains
//! the child (tch or synthetic), reports progress to the Reporter and sends
//! the finished child to the Recorder. A child that fails is a recorded
//! failure; a slot that fails many times in a row retires with a warning.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix::Addr;
use crossbeam_channel::Receiver;

use super::messages::{ChildFinished, Fatal, Notice, SlotEvent};
use super::recorder::{unix_now, Job, Recorder};
use super::reporter::Reporter;
use crate::child::{self, ChildOutcome, ChildStatus, EpochMetrics, Progress};
use crate::config::{Backend, Config};
use crate::data::TaskData;
use crate::devices::{Slot, SlotDevice};
use crate::space::SearchSpace;
use crate::store::ChildRecord;

/// Failures in a row after which a slot retires.
pub const MAX_CONSECUTIVE_FAILURES: usize = 5;

/// What every trainer shares.
#[derive(Clone)]
pub struct TrainerShared {
    pub config: Arc<Config>,
    pub space: Arc<SearchSpace>,
    pub data: Option<Arc<TaskData>>,
    pub recorder: Addr<Recorder>,
    pub reporter: Addr<Reporter>,
    pub stop: Arc<AtomicBool>,
    /// Nanoseconds spent training, over all slots (utilisation).
    pub busy_ns: Arc<AtomicU64>,
    /// Slots still taking jobs.
    pub active: Arc<AtomicUsize>,
}

/// The tch device of a slot.
pub fn tch_device(device: &SlotDevice) -> tch::Device {
    match device {
        SlotDevice::Cpu => tch::Device::Cpu,
        SlotDevice::Cuda(i) => tch::Device::Cuda(*i),
    }
}

/// Progress of one child, forwarded (throttled) to the Reporter.
struct SlotProgress<'a> {
    slot: usize,
    child: u64,
    shared: &'a TrainerShared,
    last: Instant,
}

impl Progress for SlotProgress<'_> {
    fn on_batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: f64) {
        if self.last.elapsed() >= Duration::from_millis(200) {
            self.last = Instant::now();
            self.shared.reporter.do_send(SlotEvent::Batch {
                slot: self.slot,
                child: self.child,
                epoch,
                batch,
                batches,
                loss,
            });
        }
    }

    fn on_epoch(&mut self, _metrics: &EpochMetrics) {}

    fn cancelled(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }
}

/// Train one job on `slot`; never panics.
fn train_one(slot: &Slot, job: &Job, shared: &TrainerShared) -> ChildOutcome {
    let c = &job.child;
    let config = &shared.config;
    let seed = crate::seed::child(config.experiment.seed, c.id);
    let result = catch_unwind(AssertUnwindSafe(|| match config.child.backend {
        Backend::Synthetic => crate::synthetic::evaluate(&shared.space, &c.arch, config, c.id),
        Backend::Tch => match &shared.data {
            Some(data) => {
                let mut progress = SlotProgress {
                    slot: slot.id,
                    child: c.id,
                    shared,
                    last: Instant::now(),
                };
                child::train(
                    &c.arch,
                    config,
                    data,
                    tch_device(&slot.device),
                    seed,
                    &mut progress,
                )
            }
            None => ChildOutcome::failure(
                ChildStatus::Failed,
                config.reward.failure,
                "no data loaded for the tch backend",
            ),
        },
    }));
    result.unwrap_or_else(|panic| {
        ChildOutcome::failure(
            ChildStatus::Failed,
            config.reward.failure,
            format!(
                "panic in training: {}",
                crate::child::panic_message(&*panic)
            ),
        )
    })
}

/// Start the trainer thread of `slot`.
pub fn spawn(
    slot: Slot,
    jobs: Receiver<Job>,
    shared: TrainerShared,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("trainer-{}", slot.label))
        .spawn(move || run(slot, jobs, shared))
}

fn run(slot: Slot, jobs: Receiver<Job>, shared: TrainerShared) {
    if slot.device == SlotDevice::Cpu && shared.config.child.backend == Backend::Tch {
        tch::set_num_threads(slot.threads as i32);
    }
    let mut failures_in_a_row = 0;
    while let Ok(job) = jobs.recv() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let c = &job.child;
        shared.reporter.do_send(SlotEvent::Started {
            slot: slot.id,
            child: c.id,
        });
        let started = unix_now();
        let t0 = Instant::now();
        let outcome = train_one(&slot, &job, &shared);
        shared
            .busy_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if shared.stop.load(Ordering::SeqCst) && outcome.status == ChildStatus::Failed {
            break; // cancelled by Ctrl-C: not recorded, sampled anew on resume
        }
        failures_in_a_row = if outcome.status == ChildStatus::Failed {
            failures_in_a_row + 1
        } else {
            0
        };
        let record = ChildRecord {
            id: c.id,
            replica: c.replica,
            version: c.version,
            tokens: c.tokens.clone(),
            arch: c.arch.clone(),
            hash: c.hash.clone(),
            status: outcome.status,
            reward: outcome.reward,
            metric: outcome.metric,
            epochs: outcome.epochs,
            params: outcome.params,
            device: slot.label.clone(),
            started,
            seconds: outcome.seconds.max(t0.elapsed().as_secs_f64()),
            message: outcome.message,
        };
        shared.recorder.do_send(ChildFinished {
            record,
            reply: job.child.reply.clone(),
            slot: Some(slot.id),
        });
        shared.reporter.do_send(SlotEvent::Idle { slot: slot.id });
        if failures_in_a_row >= MAX_CONSECUTIVE_FAILURES {
            let reason = format!("{failures_in_a_row} failures in a row");
            shared.reporter.do_send(Notice(format!(
                "warning: slot {} retired after {reason}",
                slot.label
            )));
            shared.reporter.do_send(SlotEvent::Retired {
                slot: slot.id,
                reason,
            });
            if shared.active.fetch_sub(1, Ordering::SeqCst) == 1 {
                shared.recorder.do_send(Fatal(
                    "every trainer slot has retired after repeated failures".into(),
                ));
            }
            return;
        }
    }
    shared.active.fetch_sub(1, Ordering::SeqCst);
}
