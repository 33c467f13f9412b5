//! Trainer: the search's slot worker on the shared pool
//! ([`crate::runner::pool`]): one plain thread per device slot takes the
//! next child from the queue the Recorder fills, trains it with the slot's
//! runner ([`crate::runner`]), reports progress to the Reporter and sends the
//! finished child to the Recorder. A child that fails is a recorded failure;
//! a slot that fails many times in a row retires with a warning.
//!
//! Early stopping lives here, around whatever runner trains the child: each
//! epoch the runner reports goes to the shared median rule
//! ([`crate::search::MedianRule`]); when the rule says stop, the child's
//! [`crate::child::Progress::cancelled`] turns true, the runner returns a
//! failed outcome with message [`crate::child::CANCELLED`] and the epochs it
//! completed, and the trainer records it as `stopped`, its reward from its
//! best metric so far. A child cancelled by Ctrl-C is not recorded at all.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use actix::{Addr, Recipient};
use crossbeam_channel::Receiver;

use super::end::RunFailure;
use super::messages::{ChildFinished, Fatal, Notice, SlotEvent};
use super::recorder::{unix_now, Job, Recorder};
use super::reporter::Reporter;
use crate::child::{ChildOutcome, ChildStatus, EpochMetrics, Placement};
use crate::config::RewardConfig;
use crate::devices::Slot;
use crate::runner::pool::{self, Flow, SlotWorker, Throttled};
use crate::runner::{ChildRunner, Launcher, Runners};
use crate::search::MedianRule;
use crate::store::ChildRecord;
use crate::task::Metric;

/// Failures in a row after which a slot retires.
pub const MAX_CONSECUTIVE_FAILURES: usize = 5;

/// What every trainer shares.
#[derive(Clone)]
pub struct TrainerShared {
    /// The runner of each slot comes from here.
    pub runners: Runners,
    /// Where the slots' workers run.
    pub launcher: Arc<Launcher>,
    /// Where finished children and progress go.
    pub peers: TrainerPeers,
    pub stop: Arc<AtomicBool>,
    /// Nanoseconds spent training, over all slots (utilisation).
    pub busy_ns: Arc<AtomicU64>,
    /// Slots still taking jobs.
    pub active: Arc<AtomicUsize>,
    /// The median stopping rule, when `search.early_stop.enabled`.
    pub early_stop: Option<EarlyStop>,
}

/// Where a trainer sends what it does: the Recorder's and the Reporter's
/// mailboxes in a run, anything that takes the messages in a test.
#[derive(Clone)]
pub struct TrainerPeers {
    /// Finished children, to be recorded.
    pub finished: Recipient<ChildFinished>,
    /// The run cannot go on (every slot has retired).
    pub fatal: Recipient<Fatal>,
    /// Where each slot is.
    pub events: Recipient<SlotEvent>,
    /// Warnings for the user.
    pub notices: Recipient<Notice>,
}

impl TrainerPeers {
    /// A run's peers: the Recorder and the Reporter.
    pub fn of(recorder: &Addr<Recorder>, reporter: &Addr<Reporter>) -> TrainerPeers {
        TrainerPeers {
            finished: recorder.clone().recipient(),
            fatal: recorder.clone().recipient(),
            events: reporter.clone().recipient(),
            notices: reporter.clone().recipient(),
        }
    }
}

/// The early-stopping rule the trainers share, and how a stopped child's reward is made.
#[derive(Clone)]
pub struct EarlyStop {
    pub rule: Arc<Mutex<MedianRule>>,
    pub metric: Metric,
    pub reward: RewardConfig,
}

impl EarlyStop {
    /// Whether child `id`, at the end of the epoch `m`, should stop.
    fn judge(&self, id: u64, m: &EpochMetrics) -> bool {
        match self.rule.lock() {
            Ok(mut rule) => rule.report(id, m.epoch, m.val_metric),
            Err(_) => false,
        }
    }

    /// A runner's cancelled outcome as a stopped child: its epochs kept, its
    /// reward from its best validation metric so far. Any other outcome
    /// (finished anyway, failed for another reason) is kept as it is.
    pub fn stopped(&self, outcome: ChildOutcome) -> ChildOutcome {
        let cancelled = outcome.status == ChildStatus::Failed
            && outcome.message.as_deref() == Some(crate::child::CANCELLED);
        let best = outcome
            .epochs
            .iter()
            .map(|e| e.val_metric)
            .filter(|v| v.is_finite())
            .reduce(|a, b| if self.metric.better(b, a) { b } else { a });
        let (true, Some(best)) = (cancelled, best) else {
            return outcome;
        };
        let last = outcome.epochs.last().map_or(0, |e| e.epoch);
        ChildOutcome {
            status: ChildStatus::Stopped,
            reward: self.metric.reward(best, &self.reward),
            metric: Some(best),
            message: Some(format!(
                "stopped after epoch {last} by the median rule (search.early_stop)"
            )),
            ..outcome
        }
    }
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
        shared.peers.events.do_send(SlotEvent::Started {
            slot: slot.id,
            child: spec.id,
        });
        let started = unix_now();
        let t0 = Instant::now();
        let mut sink = |b: pool::Batch| {
            shared.peers.events.do_send(SlotEvent::Batch {
                slot: slot.id,
                child: spec.id,
                epoch: b.epoch,
                batch: b.batch,
                batches: b.batches,
                loss: b.loss,
            })
        };
        let mut epochs = |m: &EpochMetrics| {
            shared.peers.events.do_send(SlotEvent::Epoch {
                slot: slot.id,
                child: spec.id,
                epoch: m.epoch,
                metric: m.val_metric,
            })
        };
        let mut placement = None;
        let mut placed = |p: &Placement| {
            placement = Some(p.clone());
            shared.peers.events.do_send(SlotEvent::Placed {
                slot: slot.id,
                child: spec.id,
                at: p.to_string(),
            });
        };
        let early_stop = shared.early_stop.clone();
        let mut judge = |m: &EpochMetrics| early_stop.as_ref().is_some_and(|e| e.judge(spec.id, m));
        let mut progress = Throttled::new(&mut sink)
            .from_now()
            .with_epochs(&mut epochs)
            .stopping_on(&shared.stop)
            .placed_to(&mut placed)
            .judged_by(&mut judge);
        let outcome = runner.run(spec, slot, &mut progress);
        let judged_stop = progress.judged_stop();
        shared
            .busy_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if shared.stop.load(Ordering::SeqCst) && outcome.status == ChildStatus::Failed {
            return Flow::Stop; // cancelled by Ctrl-C: not recorded, sampled anew on resume
        }
        let outcome = match (&shared.early_stop, judged_stop) {
            (Some(e), true) => e.stopped(outcome),
            _ => outcome,
        };
        self.failures_in_a_row = if outcome.status == ChildStatus::Failed {
            self.failures_in_a_row + 1
        } else {
            0
        };
        let seconds = outcome.seconds.max(t0.elapsed().as_secs_f64());
        let record = ChildRecord::new(spec.clone(), outcome, slot.label.clone(), started, seconds)
            .placed(placement);
        shared.peers.finished.do_send(ChildFinished {
            record,
            reply: job.child.reply,
        });
        shared
            .peers
            .events
            .do_send(SlotEvent::Idle { slot: slot.id });
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
        shared.peers.notices.do_send(Notice(format!(
            "warning: slot {} retired after {reason}",
            slot.label
        )));
        shared.peers.events.do_send(SlotEvent::Retired {
            slot: slot.id,
            reason,
        });
        self.retired = true;
        if shared.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            shared.peers.fatal.do_send(Fatal(RunFailure::SlotsRetired));
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
