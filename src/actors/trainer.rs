//! Trainer: the search's slot worker on the shared pool
//! ([`crate::runner::pool`]): one plain thread per device slot takes the
//! next child from the queue the Recorder fills, trains it with the slot's
//! runner ([`crate::runner`]), reports progress to the Reporter and sends the
//! finished child to the Recorder. A child that fails is a recorded failure;
//! a slot that fails many times in a row retires with a warning.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use actix::Addr;
use crossbeam_channel::Receiver;

use super::messages::{ChildFinished, Fatal, Notice, SlotEvent};
use super::recorder::{unix_now, Job, Recorder};
use super::reporter::Reporter;
use crate::child::{ChildStatus, Placement};
use crate::devices::Slot;
use crate::runner::pool::{self, Flow, SlotWorker, Throttled};
use crate::runner::{ChildRunner, Launcher, Runners};
use crate::store::ChildRecord;

/// Failures in a row after which a slot retires.
pub const MAX_CONSECUTIVE_FAILURES: usize = 5;

/// What every trainer shares.
#[derive(Clone)]
pub struct TrainerShared {
    /// The runner of each slot comes from here.
    pub runners: Runners,
    /// Where the slots' workers run.
    pub launcher: Arc<Launcher>,
    pub recorder: Addr<Recorder>,
    pub reporter: Addr<Reporter>,
    pub stop: Arc<AtomicBool>,
    /// Nanoseconds spent training, over all slots (utilisation).
    pub busy_ns: Arc<AtomicU64>,
    /// Slots still taking jobs.
    pub active: Arc<AtomicUsize>,
}

/// One slot's trainer: what a search does with a child.
struct Trainer {
    shared: TrainerShared,
    failures_in_a_row: usize,
    retired: bool,
}

impl<R: ChildRunner> SlotWorker<R, Job> for Trainer {
    fn job(&mut self, slot: &Slot, runner: &mut R, job: Job) -> Flow {
        let shared = &self.shared;
        if shared.stop.load(Ordering::SeqCst) {
            return Flow::Stop;
        }
        let spec = &job.child.spec;
        shared.reporter.do_send(SlotEvent::Started {
            slot: slot.id,
            child: spec.id,
        });
        let started = unix_now();
        let t0 = Instant::now();
        let mut sink = |b: pool::Batch| {
            shared.reporter.do_send(SlotEvent::Batch {
                slot: slot.id,
                child: spec.id,
                epoch: b.epoch,
                batch: b.batch,
                batches: b.batches,
                loss: b.loss,
            })
        };
        let mut epochs = |m: &crate::child::EpochMetrics| {
            shared.reporter.do_send(SlotEvent::Epoch {
                slot: slot.id,
                child: spec.id,
                epoch: m.epoch,
                metric: m.val_metric,
            })
        };
        let mut placement = None;
        let mut placed = |p: &Placement| {
            placement = Some(p.clone());
            shared.reporter.do_send(SlotEvent::Placed {
                slot: slot.id,
                child: spec.id,
                at: p.to_string(),
            });
        };
        let mut progress = Throttled::new(&mut sink)
            .from_now()
            .with_epochs(&mut epochs)
            .stopping_on(&shared.stop)
            .placed_to(&mut placed);
        let outcome = runner.run(spec, slot, &mut progress);
        shared
            .busy_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if shared.stop.load(Ordering::SeqCst) && outcome.status == ChildStatus::Failed {
            return Flow::Stop; // cancelled by Ctrl-C: not recorded, sampled anew on resume
        }
        self.failures_in_a_row = if outcome.status == ChildStatus::Failed {
            self.failures_in_a_row + 1
        } else {
            0
        };
        let seconds = outcome.seconds.max(t0.elapsed().as_secs_f64());
        let record = ChildRecord::new(spec.clone(), outcome, slot.label.clone(), started, seconds)
            .placed(placement);
        shared.recorder.do_send(ChildFinished {
            record,
            reply: job.child.reply,
        });
        shared.reporter.do_send(SlotEvent::Idle { slot: slot.id });
        if self.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES {
            self.retire(slot);
            return Flow::Stop;
        }
        Flow::Next
    }

    fn finished(&mut self, _slot: &Slot) {
        if !self.retired {
            self.shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Trainer {
    /// Retire the slot; the last slot to retire ends the run.
    fn retire(&mut self, slot: &Slot) {
        let shared = &self.shared;
        let reason = format!("{} failures in a row", self.failures_in_a_row);
        shared.reporter.do_send(Notice(format!(
            "warning: slot {} retired after {reason}",
            slot.label
        )));
        shared.reporter.do_send(SlotEvent::Retired {
            slot: slot.id,
            reason,
        });
        self.retired = true;
        if shared.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            shared.recorder.do_send(Fatal(
                "every trainer slot has retired after repeated failures".into(),
            ));
        }
    }
}

/// Start the trainer thread of `slot`.
pub fn spawn(
    slot: Slot,
    jobs: Receiver<Job>,
    shared: TrainerShared,
) -> std::io::Result<JoinHandle<()>> {
    let runner = shared.launcher.runner(&shared.runners);
    let trainer = Trainer {
        shared,
        failures_in_a_row: 0,
        retired: false,
    };
    let launcher = trainer.shared.launcher.clone();
    launcher.start("trainer", slot, runner, jobs, trainer)
}
