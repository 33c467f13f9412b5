//! The worker pool of the search's trainers and of `nas-actor retrain`: one
//! plain thread per slot (never an actix arbiter thread, since training
//! blocks), every thread taking jobs from one shared crossbeam queue, so the
//! first free slot takes the next job. Each thread owns its slot's runner
//! (started once, on the thread: a CPU slot's torch threads) and hands each
//! job to a [`SlotWorker`], which says what a job means to its caller and
//! where the result goes. [`Throttled`] forwards a child's progress at most
//! every [`BATCH_EVERY`], turns a stop flag into cancellation, and hands each
//! epoch to a judge (the median stopping rule) that may stop the child.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{JoinHandle, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::ChildRunner;
use crate::child::{EpochMetrics, Placement, Progress};
use crate::devices::Slot;

/// Batch progress is forwarded at most this often per child.
pub const BATCH_EVERY: Duration = Duration::from_millis(200);

/// What a slot does after a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Take the next job.
    Next,
    /// Stop this slot's thread.
    Stop,
}

/// What one slot does with the jobs it takes, given its runner `R`.
pub trait SlotWorker<R, J> {
    /// Do `job` on `slot` with `runner`.
    fn job(&mut self, slot: &Slot, runner: &mut R, job: J) -> Flow;
    /// After the last job: the queue closed or [`SlotWorker::job`] said stop.
    fn finished(&mut self, _slot: &Slot) {}
}

/// One batch of a child's training, as [`Throttled`] forwards it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batch {
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub loss: f64,
}

/// Judges a child's finished epoch: true stops the child.
pub type Judge<'a> = &'a mut dyn FnMut(&EpochMetrics) -> bool;

/// A child's [`Progress`]: batches go to `sink` at most every
/// [`BATCH_EVERY`]; the child is cancelled once `stop` is set, or once the
/// judge (if any) has stopped it after an epoch; where its process runs goes
/// to `placed`.
pub struct Throttled<'a> {
    sink: &'a mut dyn FnMut(Batch),
    epochs: Option<&'a mut dyn FnMut(&EpochMetrics)>,
    stop: Option<&'a AtomicBool>,
    last: Option<Instant>,
    placed: Option<&'a mut dyn FnMut(&Placement)>,
    judge: Option<Judge<'a>>,
    judged_stop: bool,
}

impl<'a> Throttled<'a> {
    /// Progress to `sink`, from the first batch on.
    pub fn new(sink: &'a mut dyn FnMut(Batch)) -> Throttled<'a> {
        Throttled {
            sink,
            epochs: None,
            stop: None,
            last: None,
            placed: None,
            judge: None,
            judged_stop: false,
        }
    }

    /// Tell `placed` where the child's process runs (a Slurm step's node and GPUs).
    pub fn placed_to(mut self, placed: &'a mut dyn FnMut(&Placement)) -> Throttled<'a> {
        self.placed = Some(placed);
        self
    }

    /// After each epoch, ask `judge` whether the child should stop.
    pub fn judged_by(mut self, judge: Judge<'a>) -> Throttled<'a> {
        self.judge = Some(judge);
        self
    }

    /// Whether the judge stopped the child (as opposed to the stop flag).
    pub fn judged_stop(&self) -> bool {
        self.judged_stop
    }

    /// The first batch is forwarded only after [`BATCH_EVERY`].
    pub fn from_now(mut self) -> Throttled<'a> {
        self.last = Some(Instant::now());
        self
    }

    /// Every finished epoch goes to `sink` too.
    pub fn with_epochs(mut self, sink: &'a mut dyn FnMut(&EpochMetrics)) -> Throttled<'a> {
        self.epochs = Some(sink);
        self
    }

    /// Cancel the child once `stop` is set.
    pub fn stopping_on(mut self, stop: &'a AtomicBool) -> Throttled<'a> {
        self.stop = Some(stop);
        self
    }
}

impl Progress for Throttled<'_> {
    fn on_batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: f64) {
        if self.last.is_none_or(|t| t.elapsed() >= BATCH_EVERY) {
            self.last = Some(Instant::now());
            (self.sink)(Batch {
                epoch,
                batch,
                batches,
                loss,
            });
        }
    }

    fn on_epoch(&mut self, metrics: &EpochMetrics) {
        if let Some(sink) = &mut self.epochs {
            sink(metrics);
        }
        if let Some(judge) = self.judge.as_mut() {
            if !self.judged_stop && judge(metrics) {
                self.judged_stop = true;
            }
        }
    }

    fn on_placed(&mut self, placement: &Placement) {
        if let Some(p) = self.placed.as_mut() {
            p(placement);
        }
    }

    fn cancelled(&self) -> bool {
        self.judged_stop || self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }
}

/// The body of a slot's thread.
fn serve<R: ChildRunner, J, W: SlotWorker<R, J>>(
    slot: &Slot,
    mut runner: R,
    jobs: &Receiver<J>,
    worker: &mut W,
) {
    runner.start(slot);
    while let Ok(job) = jobs.recv() {
        if worker.job(slot, &mut runner, job) == Flow::Stop {
            break;
        }
    }
    worker.finished(slot);
}

/// Start the thread of `slot` (named `{name}-{label}`), serving `jobs`.
pub fn spawn<R, J, W>(
    name: &str,
    slot: Slot,
    runner: R,
    jobs: Receiver<J>,
    mut worker: W,
) -> std::io::Result<JoinHandle<()>>
where
    R: ChildRunner + 'static,
    J: Send + 'static,
    W: SlotWorker<R, J> + Send + 'static,
{
    std::thread::Builder::new()
        .name(format!("{name}-{}", slot.label))
        .spawn(move || serve(&slot, runner, &jobs, &mut worker))
}

/// [`spawn`] inside `scope`, for workers that borrow from their caller.
pub fn spawn_scoped<'scope, 'env, R, J, W>(
    scope: &'scope Scope<'scope, 'env>,
    name: &str,
    slot: &'scope Slot,
    runner: R,
    jobs: Receiver<J>,
    mut worker: W,
) -> std::io::Result<ScopedJoinHandle<'scope, ()>>
where
    R: ChildRunner + 'scope,
    J: Send + 'scope,
    W: SlotWorker<R, J> + Send + 'scope,
{
    std::thread::Builder::new()
        .name(format!("{name}-{}", slot.label))
        .spawn_scoped(scope, move || serve(slot, runner, &jobs, &mut worker))
}
