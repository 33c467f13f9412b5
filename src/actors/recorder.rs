//! Recorder: owns the run directory's child log. Every finished child is
//! appended and flushed to disk *before* its reward goes back to the replica
//! that asked for it; the children that finish together are written with one
//! fsync (group commit). It answers repeated architectures from the cache
//! of its [`super::ledger::Ledger`] (status `cached`; the ledger also keeps
//! the counts, the top list and the compute, free of I/O), feeds new ones
//! to the trainers' shared job queue, keeps best.json current, and drives
//! the end of the run ([`super::end`], also free of I/O): when
//! every replica is done, on a fatal error, on Ctrl-C, or — the safety net —
//! when the budget is recorded and idle but a replica never reported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use crossbeam_channel::Sender;
use serde::Serialize;

pub use super::end::RunEnd;
use super::end::{EndOfRun, RunFailure, Step};
use super::ledger::Ledger;
use super::messages::{
    ChildFinished, ChildRecorded, ChildResult, Fatal, FlushCheckpoint, Notice, ReplicaDone,
    ReplicaLost, TrainChild,
};
use super::param_store::{GetStats, ParamStore, StoreStats};
use super::reporter::Reporter;

use crate::search::Compute;
use crate::store::{ChildRecord, RunDir, StoreError};

/// Why the Recorder could not keep the run directory current.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Finished children could not be appended to the child log.
    #[error("{0}")]
    Children(#[source] StoreError),
    /// best.json could not be written.
    #[error("{0}")]
    Best(#[source] StoreError),
    /// A thread panicked while holding the run directory.
    #[error("the run directory handle is poisoned")]
    Poisoned,
}

/// A job on the trainers' shared queue.
pub struct Job {
    pub child: TrainChild,
}

/// How long a recorded, idle budget waits for replicas that never report
/// before the run is ended anyway (the safety net; a bug when it acts).
pub const END_GRACE: Duration = Duration::from_secs(10);
/// How long the final checkpoint may take before the run stops without it.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);
/// Architectures best.json lists.
const BEST_TOP: usize = 10;
/// How often the Recorder checks the safety net.
const TICK: Duration = Duration::from_millis(500);

/// The run summary (also written to summary.json).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub children: usize,
    /// Children that failed (an error, a panic, a timeout).
    pub failures: usize,
    /// Children whose loss became NaN or infinite (not counted in `failures`).
    pub diverged: usize,
    pub cached: usize,
    pub best: Option<ChildRecord>,
    pub wall_seconds: f64,
    pub slot_utilisation: f64,
    pub updates: u64,
    pub staleness_mean: f64,
    pub staleness_max: u64,
    pub interrupted: bool,
    /// Set when the end of the run had to be forced (a bug report, not a normal end).
    pub forced_end: Option<String>,
    /// Child launches that failed for the launcher's reasons (a Slurm step
    /// that could not start, a failed node) and were launched again.
    pub launch_retries: usize,
    /// Child-epochs run against what they would have cost without early stopping.
    pub compute: Compute,
}

/// Shared counters the run set-up reads at the end.
#[derive(Default)]
pub struct Outcome {
    pub end: Option<RunEnd>,
    pub stats: Option<StoreStats>,
    pub done: usize,
    pub failures: usize,
    pub diverged: usize,
    pub cached: usize,
    pub best: Option<ChildRecord>,
    /// Why the end had to be forced, if it had to.
    pub forced_end: Option<String>,
    pub compute: Compute,
}

/// The Recorder's peers.
pub struct RecorderPeers {
    /// The trainers' shared job queue.
    pub jobs: Sender<Job>,
    pub reporter: Addr<Reporter>,
    pub store: Addr<ParamStore>,
}

/// The recorder actor.
pub struct Recorder {
    run: Arc<Mutex<RunDir>>,
    jobs: Option<Sender<Job>>,
    reporter: Addr<Reporter>,
    store: Addr<ParamStore>,
    /// The cache, counts, top list and compute of the recorded children.
    ledger: Ledger,
    stop: Arc<AtomicBool>,
    outcome: Arc<Mutex<Outcome>>,
    /// Where the run stands on its way to its end.
    end: EndOfRun,
    /// An error met while ending (it turns the end into a failure).
    end_error: Option<RecordError>,
    /// Stop (as if interrupted) after this many children recorded by this process.
    stop_after: Option<usize>,
    recorded_here: usize,
    /// Records waiting for the next group commit, and the replica to answer for each.
    pending: Vec<ChildRecord>,
    pending_replies: Vec<Recipient<ChildResult>>,
    flush_scheduled: bool,
}

impl Recorder {
    /// A recorder over `run` for a search of `replicas` replicas and
    /// `budget` children, with the records of a resumed run already in
    /// `previous`; children train `epochs_per_child` epochs when not stopped
    /// (None: they report no epochs).
    pub fn new(
        run: Arc<Mutex<RunDir>>,
        previous: &[ChildRecord],
        peers: RecorderPeers,
        (replicas, budget, epochs_per_child, free_repeats): (usize, usize, Option<usize>, usize),
        stop: Arc<AtomicBool>,
        outcome: Arc<Mutex<Outcome>>,
    ) -> Recorder {
        let mut r = Recorder {
            run,
            jobs: Some(peers.jobs),
            reporter: peers.reporter,
            store: peers.store,
            ledger: Ledger::new(BEST_TOP, epochs_per_child).with_free_repeats(free_repeats),
            stop,
            outcome,
            end: EndOfRun::new(replicas, budget, previous.len(), END_GRACE, FLUSH_TIMEOUT),
            end_error: None,
            stop_after: None,
            recorded_here: 0,
            pending: Vec::new(),
            pending_replies: Vec::new(),
            flush_scheduled: false,
        };
        for rec in previous {
            r.ledger.count(rec);
        }
        r.end.free(r.ledger.free());
        r
    }

    /// Queue a record; the queue is written with one fsync once the mailbox
    /// has no more messages waiting (group commit), and only then are the
    /// replicas answered.
    fn record(&mut self, rec: ChildRecord, reply: Recipient<ChildResult>, ctx: &mut Context<Self>) {
        if self.end.ending() {
            return;
        }
        self.pending.push(rec);
        self.pending_replies.push(reply);
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            // Runs after every message already in the mailbox.
            ctx.notify(FlushRecords);
        }
    }

    /// Append the queued records to disk (one write, one fsync), then count
    /// them, update best.json and answer the replicas. A write error ends the run.
    fn flush_records(&mut self, ctx: &mut Context<Self>) {
        self.flush_scheduled = false;
        if self.end.ending() {
            return;
        }
        if let Err(e) = self.write_pending(ctx) {
            let step = self.end.fatal(e.into());
            self.apply(step, ctx);
        }
    }

    /// Write the records waiting for the group commit, count them and
    /// answer their replicas (also while the run is ending).
    fn write_pending(&mut self, ctx: &mut Context<Self>) -> Result<(), RecordError> {
        let mut records = std::mem::take(&mut self.pending);
        let mut replies = std::mem::take(&mut self.pending_replies);
        if records.is_empty() {
            return Ok(());
        }
        let mut dropped = 0;
        if let Some(n) = self.stop_after {
            // Children beyond the stop are in flight at the stop: sampled anew on resume.
            let keep = n.saturating_sub(self.recorded_here);
            dropped = records.len().saturating_sub(keep);
            records.truncate(keep);
            replies.truncate(keep);
        }
        match self.run.lock() {
            Ok(mut run) => run
                .append_children(&records)
                .map_err(RecordError::Children)?,
            Err(_) => return Err(RecordError::Poisoned),
        }
        self.recorded_here += records.len();
        let mut top_changed = false;
        let mut free = Vec::with_capacity(records.len());
        for rec in &records {
            let before = self.ledger.free();
            top_changed |= self.ledger.count(rec);
            free.push(self.ledger.free() > before);
        }
        self.end.free(free.iter().filter(|f| **f).count());
        self.end.recorded(records.len(), dropped, Instant::now());
        if top_changed {
            self.write_best()?;
        }
        let tally = self.ledger.tally();
        for ((rec, reply), free) in records.iter().zip(replies).zip(free) {
            reply.do_send(ChildResult {
                id: rec.spec.id,
                reward: rec.reward,
                status: rec.status,
                free,
            });
            self.reporter.do_send(ChildRecorded {
                id: rec.spec.id,
                status: rec.status,
                reward: rec.reward,
                metric: rec.metric,
                tally,
            });
        }
        if self.stop_after.is_some_and(|n| self.recorded_here >= n) {
            let step = self.end.interrupt();
            self.apply(step, ctx);
        }
        Ok(())
    }

    /// Carry out what the end-of-run state machine asks for.
    fn apply(&mut self, step: Option<Step>, ctx: &mut Context<Self>) {
        match step {
            None => {}
            Some(Step::Begin { end, forced }) => self.begin_end(end, forced, ctx),
            Some(Step::Stop { end, forced }) => self.stop_run(end, forced),
        }
    }

    /// Stop dispatching, write what is recorded, then flush the final checkpoint.
    fn begin_end(&mut self, end: RunEnd, forced: Option<String>, ctx: &mut Context<Self>) {
        if let Some(f) = &forced {
            self.reporter.do_send(Notice(format!("warning: {f}")));
            self.forced(f.clone());
        }
        if !matches!(end, RunEnd::Failed(_)) {
            // Children already finished and waiting for the group commit are kept.
            if let Err(e) = self.write_pending(ctx) {
                self.end_error = Some(e);
            }
        }
        self.stop.store(true, Ordering::SeqCst);
        self.jobs = None; // trainers see a closed queue once it drains
        if let RunEnd::Failed(f) = &end {
            self.reporter.do_send(Notice(format!("error: {f}")));
        }
        if let Err(e) = self.write_best() {
            self.end_error.get_or_insert(e);
        }
        if let Ok(mut o) = self.outcome.lock() {
            o.done = self.ledger.done();
            o.failures = self.ledger.failures();
            o.diverged = self.ledger.diverged();
            o.cached = self.ledger.cached();
            o.best = self.ledger.best().cloned();
            o.compute = self.ledger.compute().clone();
        }
        let store = self.store.clone();
        ctx.spawn(
            async move {
                let flushed = match store.send(FlushCheckpoint).await {
                    Ok(r) => r.map_err(RunFailure::Checkpoint),
                    Err(e) => Err(RunFailure::StoreUnreachable(e)),
                };
                let stats = store.send(GetStats).await.ok();
                (flushed, stats)
            }
            .into_actor(self)
            .map(|(flushed, stats), act, ctx| {
                if let Ok(mut o) = act.outcome.lock() {
                    o.stats = stats;
                }
                let flushed = match act.end_error.take() {
                    Some(e) => Err(e.into()),
                    None => flushed,
                };
                let step = act.end.flushed(flushed);
                act.apply(step, ctx);
            }),
        );
    }

    /// The run is over: hand its end to the set-up and stop the actor system (once).
    fn stop_run(&mut self, end: RunEnd, forced: Option<String>) {
        if let Some(f) = forced {
            self.reporter.do_send(Notice(format!("warning: {f}")));
            self.forced(f);
        }
        if let Ok(mut o) = self.outcome.lock() {
            o.end = Some(end);
        }
        System::current().stop();
    }

    fn forced(&self, message: String) {
        if let Ok(mut o) = self.outcome.lock() {
            o.forced_end.get_or_insert(message);
        }
    }

    fn write_best(&self) -> Result<(), RecordError> {
        match self.run.lock() {
            Ok(run) => run
                .write_best(self.ledger.top(), self.ledger.top_len())
                .map_err(RecordError::Best),
            Err(_) => Err(RecordError::Poisoned),
        }
    }

    /// Stop as if interrupted after `n` children recorded by this process (tests, `--stop-after`).
    pub fn with_stop_after(mut self, n: Option<usize>) -> Recorder {
        self.stop_after = n;
        self
    }
}

impl Actor for Recorder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The safety net: see `EndOfRun::tick`.
        ctx.run_interval(TICK, |act, ctx| {
            let step = act.end.tick(Instant::now());
            act.apply(step, ctx);
        });
    }
}

pub use crate::store::unix_now;

impl Handler<TrainChild> for Recorder {
    type Result = ();
    /// A replica asks for a child: answer from the cache or queue it for a trainer.
    fn handle(&mut self, msg: TrainChild, ctx: &mut Context<Self>) {
        if self.end.ending() {
            return;
        }
        self.end.dispatched(Instant::now());
        if let Some(outcome) = self.ledger.cached_outcome(&msg.spec.hash) {
            let rec = ChildRecord::new(msg.spec, outcome, "cache".into(), unix_now(), 0.0);
            return self.record(rec, msg.reply, ctx);
        }
        let sent = self
            .jobs
            .as_ref()
            .map(|j| j.send(Job { child: msg }).is_ok());
        if sent == Some(false) {
            let step = self.end.fatal(RunFailure::SlotsStopped);
            self.apply(step, ctx);
        }
    }
}

impl Handler<ChildFinished> for Recorder {
    type Result = ();
    /// A trainer finished a child: record it, then pass the reward on.
    fn handle(&mut self, msg: ChildFinished, ctx: &mut Context<Self>) {
        self.record(msg.record, msg.reply, ctx);
    }
}

/// Recorder → itself: write the queued records (group commit).
#[derive(Message)]
#[rtype(result = "()")]
struct FlushRecords;

impl Handler<FlushRecords> for Recorder {
    type Result = ();
    /// Write the records queued since the last group commit.
    fn handle(&mut self, _: FlushRecords, ctx: &mut Context<Self>) {
        self.flush_records(ctx);
    }
}

impl Handler<ReplicaDone> for Recorder {
    type Result = ();
    /// When every replica is done, the run ends.
    fn handle(&mut self, msg: ReplicaDone, ctx: &mut Context<Self>) {
        let step = self.end.replica_done(msg.replica, false);
        self.apply(step, ctx);
    }
}

impl Handler<ReplicaLost> for Recorder {
    type Result = ();
    /// A replica stopped without reporting: counted as done, and said (a bug).
    fn handle(&mut self, msg: ReplicaLost, ctx: &mut Context<Self>) {
        if self.end.ending() {
            return;
        }
        self.reporter.do_send(Notice(format!(
            "warning: replica {} stopped before its batch was done (this is a bug, please report it)",
            msg.replica
        )));
        let step = self.end.replica_done(msg.replica, true);
        self.apply(step, ctx);
    }
}

impl Handler<Fatal> for Recorder {
    type Result = ();
    /// The run cannot go on: end it as failed.
    fn handle(&mut self, msg: Fatal, ctx: &mut Context<Self>) {
        let step = self.end.fatal(msg.0);
        self.apply(step, ctx);
    }
}

/// Ctrl-C → Recorder: stop dispatching, checkpoint, exit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Interrupt;

impl Handler<Interrupt> for Recorder {
    type Result = ();
    /// Ctrl-C (through the `Interrupter`): end the run as interrupted.
    fn handle(&mut self, _: Interrupt, ctx: &mut Context<Self>) {
        let step = self.end.interrupt();
        self.apply(step, ctx);
    }
}
