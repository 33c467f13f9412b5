//! The end of a run as a state machine of its own, free of actors and I/O,
//! so that every order of its events can be tested.
//!
//! A run is `Running` until one of these begins its end: every replica has
//! reported (done, or lost), Ctrl-C, a fatal error, `stop_after`, or — as a
//! safety net — the whole budget recorded with no child in flight for longer
//! than a grace period while some replica never reported. Then it is
//! `Flushing`: nothing more is dispatched and the final checkpoint is being
//! written. When the flush answers (or does not within its timeout) the run
//! is `Stopped`, exactly once, with the reason it ended. Events that arrive
//! after the end has begun change nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::MailboxError;

use super::checkpoint_writer::CheckpointWriteError;
use super::param_store::ParamStoreError;
use super::proposer::ProposeError;
use super::recorder::RecordError;

/// Why a run could not go on. Each message reads as the run's last error
/// line; the cause it came from is its source.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// The child log or best.json could not be written.
    #[error("{0}")]
    Record(#[from] RecordError),
    /// The controller's checkpoint could not be written.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointWriteError),
    /// The parameter store could not apply or log an update.
    #[error("{0}")]
    ParamStore(#[from] ParamStoreError),
    /// A replica's proposer could not go on.
    #[error("replica {replica}: {source}")]
    Replica {
        replica: usize,
        #[source]
        source: ProposeError,
    },
    /// The trainers' job queue is closed: no slot takes children any more.
    #[error("every trainer slot has stopped")]
    SlotsStopped,
    /// The last slot retired after repeated child failures.
    #[error("every trainer slot has retired after repeated failures")]
    SlotsRetired,
    /// The parameter store did not answer the final flush.
    #[error("the parameter store did not answer: {0}")]
    StoreUnreachable(#[source] MailboxError),
    /// The final checkpoint was not written within the flush timeout.
    #[error("the final checkpoint was not written within {:.0} s", .0.as_secs_f64())]
    FlushTimedOut(Duration),
}

/// How the run ended.
#[derive(Debug, Clone)]
pub enum RunEnd {
    /// Every replica finished: the budget is spent.
    Finished,
    /// Stopped by Ctrl-C (or `stop_after`); resume with `--resume`.
    Interrupted,
    /// A fatal error (disk, every slot retired, …); shared, as errors
    /// cannot be cloned.
    Failed(Arc<RunFailure>),
}

impl RunEnd {
    /// A failed end.
    pub fn failed(failure: RunFailure) -> RunEnd {
        RunEnd::Failed(Arc::new(failure))
    }
}

/// Two ends are equal when they are of the same kind and, if failed, say
/// the same (errors have no equality of their own).
impl PartialEq for RunEnd {
    fn eq(&self, other: &RunEnd) -> bool {
        match (self, other) {
            (RunEnd::Finished, RunEnd::Finished) | (RunEnd::Interrupted, RunEnd::Interrupted) => {
                true
            }
            (RunEnd::Failed(a), RunEnd::Failed(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

/// What the owner of the machine must do after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Begin the end: stop dispatching, write what is recorded, flush the
    /// checkpoint, and report the flush's result with [`EndOfRun::flushed`].
    /// `forced` is a message for the user when the safety net had to act (a bug).
    Begin { end: RunEnd, forced: Option<String> },
    /// Stop the run now with this end (happens exactly once).
    Stop { end: RunEnd, forced: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Running,
    Flushing { end: RunEnd, since: Instant },
    Stopped,
}

/// The end-of-run state of one run.
#[derive(Debug)]
pub struct EndOfRun {
    replicas: usize,
    reported: BTreeSet<usize>,
    budget: usize,
    recorded: usize,
    in_flight: usize,
    /// Since when the budget is recorded and nothing is in flight.
    idle_since: Option<Instant>,
    grace: Duration,
    flush_timeout: Duration,
    interrupted: bool,
    phase: Phase,
}

impl EndOfRun {
    /// A run of `replicas` replicas with `budget` children, `recorded` of them
    /// recorded already (a resumed run). `grace`: how long a spent, idle
    /// budget may wait for replicas that never report; `flush_timeout`: how
    /// long the final checkpoint may take.
    pub fn new(
        replicas: usize,
        budget: usize,
        recorded: usize,
        grace: Duration,
        flush_timeout: Duration,
    ) -> EndOfRun {
        EndOfRun {
            replicas,
            reported: BTreeSet::new(),
            budget,
            recorded,
            in_flight: 0,
            idle_since: None,
            grace,
            flush_timeout,
            interrupted: false,
            phase: Phase::Running,
        }
    }

    /// True once the end has begun (nothing more is dispatched or recorded).
    pub fn ending(&self) -> bool {
        self.phase != Phase::Running
    }

    /// True once the run has stopped.
    pub fn stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// A child was dispatched (to a trainer or answered from the cache).
    pub fn dispatched(&mut self, now: Instant) {
        self.in_flight += 1;
        self.update_idle(now);
    }

    /// `n` recorded repeats spent no budget (`search.repeats = "free"`):
    /// the run records `n` more children before its budget is spent.
    pub fn free(&mut self, n: usize) {
        self.budget += n;
    }

    /// `n` dispatched children were recorded; `dropped` more will never be
    /// (left out by `stop_after`).
    pub fn recorded(&mut self, n: usize, dropped: usize, now: Instant) {
        self.recorded += n;
        self.in_flight = self.in_flight.saturating_sub(n + dropped);
        self.update_idle(now);
    }

    fn update_idle(&mut self, now: Instant) {
        let idle = self.recorded >= self.budget && self.in_flight == 0;
        self.idle_since = match (idle, self.idle_since) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(now),
            (false, _) => None,
        };
    }

    /// Replica `replica` has nothing left to do (`lost`: it stopped without
    /// saying so, which is a bug reported to the user).
    pub fn replica_done(&mut self, replica: usize, lost: bool) -> Option<Step> {
        self.reported.insert(replica);
        if self.reported.len() < self.replicas {
            return None;
        }
        let end = if self.interrupted {
            RunEnd::Interrupted
        } else {
            RunEnd::Finished
        };
        let forced = lost.then(|| {
            format!("replica {replica} stopped without finishing its batch; the run ends anyway (this is a bug, please report it)")
        });
        self.begin(end, forced)
    }

    /// Ctrl-C, or `stop_after` reached.
    pub fn interrupt(&mut self) -> Option<Step> {
        self.interrupted = true;
        self.begin(RunEnd::Interrupted, None)
    }

    /// The run cannot go on.
    pub fn fatal(&mut self, failure: RunFailure) -> Option<Step> {
        self.begin(RunEnd::failed(failure), None)
    }

    fn begin(&mut self, end: RunEnd, forced: Option<String>) -> Option<Step> {
        if self.phase != Phase::Running {
            return None;
        }
        self.phase = Phase::Flushing {
            end: end.clone(),
            since: Instant::now(),
        };
        Some(Step::Begin { end, forced })
    }

    /// The final checkpoint flush answered (or what was written while
    /// ending failed): stop, unless already stopped. A failed run stays
    /// failed for its first cause.
    pub fn flushed(&mut self, result: Result<(), RunFailure>) -> Option<Step> {
        let Phase::Flushing { end, .. } = &self.phase else {
            return None;
        };
        let end = match (end.clone(), result) {
            (RunEnd::Failed(f), _) => RunEnd::Failed(f),
            (_, Err(f)) => RunEnd::failed(f),
            (e, Ok(())) => e,
        };
        self.phase = Phase::Stopped;
        Some(Step::Stop { end, forced: None })
    }

    /// The safety net, called periodically: a spent, idle budget whose
    /// replicas did not all report ends after the grace period; a flush that
    /// does not answer within its timeout stops the run.
    pub fn tick(&mut self, now: Instant) -> Option<Step> {
        match &self.phase {
            Phase::Running => {
                let waited = self.idle_since.map(|t| now.saturating_duration_since(t))?;
                if waited < self.grace {
                    return None;
                }
                let missing = self.replicas.saturating_sub(self.reported.len());
                let forced = format!(
                    "the budget of {} children was recorded {:.0} s ago with no child in flight, \
                     but {missing} of {} replicas never finished; ending the run (this is a bug, please report it)",
                    self.budget,
                    waited.as_secs_f64(),
                    self.replicas
                );
                let end = if self.interrupted {
                    RunEnd::Interrupted
                } else {
                    RunEnd::Finished
                };
                self.begin(end, Some(forced))
            }
            Phase::Flushing { end, since } => {
                if now.saturating_duration_since(*since) < self.flush_timeout {
                    return None;
                }
                let timeout = RunFailure::FlushTimedOut(self.flush_timeout);
                let forced = format!("{timeout}; stopping (this is a bug, please report it)");
                let end = match end {
                    RunEnd::Failed(f) => RunEnd::Failed(f.clone()),
                    _ => RunEnd::failed(timeout),
                };
                self.phase = Phase::Stopped;
                Some(Step::Stop {
                    end,
                    forced: Some(forced),
                })
            }
            Phase::Stopped => None,
        }
    }
}
