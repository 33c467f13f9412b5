//! The actors of a search and the run that wires them together.
//!
//! - [`param_store::ParamStore`]: θ in S shards with Adam, versions, checkpoints;
//! - [`proposer::ProposerActor`]: drives one [`crate::search::Proposer`] —
//!   a REINFORCE replica (× K), or the one random, evolution or TPE proposer;
//! - [`trainer`] threads, one per device slot, fed by one crossbeam queue;
//! - [`reporter::Reporter`]: bars on a terminal, plain lines otherwise;
//! - [`recorder::Recorder`]: the append-only child log, cache, best.json, the end of the run;
//! - [`shared`]: the shared-weights search (ENAS), a sequential driver of its own.
//!
//! [`run`] is what `nas-actor run` calls; `resume` opens (and locks) its run directory.

mod checkpoint_writer;
pub mod end;
mod ledger;
pub mod messages;
pub mod param_store;
pub mod proposer;
pub mod recorder;
pub mod reporter;
mod resume;
pub mod shared;
pub mod trainer;

pub use checkpoint_writer::CheckpointWriteError;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix::prelude::*;

use self::messages::Notice;
use self::param_store::ParamStore;
use self::proposer::{Budget, ProposerActor, ProposerPeers, ProposerShared};
use self::recorder::{Interrupt, Outcome, Recorder, RecorderPeers, RunEnd, Summary};
use self::reporter::Reporter;
use self::trainer::TrainerShared;
use crate::config::Config;
use crate::controller::{Adam, Controller};
use crate::runner::Runners;
use crate::search::Checkpoint;
use crate::space::SearchSpace;

/// Why a run did not finish. Errors keep their causes
/// ([`std::error::Error::source`]); `nas-actor` prints the chain.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input found by the run itself (a run directory that cannot be
    /// resumed, a changed config): exit code 2.
    #[error("{0}")]
    Input(String),
    /// The configured search space cannot be built (exit code 2).
    #[error("cannot build the search space")]
    Space(#[source] crate::space::SpaceError),
    /// The children cannot be prepared: their data, their trial command (exit code 2).
    #[error("cannot prepare the children")]
    Children(#[source] crate::runner::RunnerError),
    /// The slots cannot be set up: `[devices]` asks for what the machine
    /// does not have, or the Slurm allocation refuses the steps (exit code 2).
    #[error("cannot set up the slots children run on")]
    Launcher(#[source] crate::runner::launcher::LauncherError),
    /// The run directory cannot be opened or read (exit code 2).
    #[error("cannot open the run directory")]
    RunDir(#[source] crate::store::StoreError),
    /// A file of the run cannot be written (exit code 1).
    #[error("cannot write {what}")]
    Write {
        what: &'static str,
        #[source]
        source: crate::store::StoreError,
    },
    /// A thread of the run cannot be started (exit code 1).
    #[error("cannot start {what}")]
    Start {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The run failed while going (disk, every slot retired; exit code 1).
    #[error("{0}")]
    Runtime(String),
    /// The run failed while going, for this cause (exit code 1).
    #[error("{0}")]
    Failed(#[source] Arc<end::RunFailure>),
    /// Stopped by Ctrl-C; the checkpoint is written (exit code 130).
    #[error("interrupted; continue with `nas-actor run CONFIG --resume`")]
    Interrupted(Box<Summary>),
}

impl RunError {
    /// Whether the error is bad input (exit code 2) rather than a failure while running.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            RunError::Input(_)
                | RunError::Space(_)
                | RunError::Children(_)
                | RunError::Launcher(_)
                | RunError::RunDir(_)
        )
    }
}

/// Options of `nas-actor run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Continue the run in `experiment.output_dir` from its checkpoint and log.
    pub resume: bool,
    /// Stop as if by Ctrl-C after this many children are recorded (tests and `--stop-after`).
    pub stop_after: Option<usize>,
    /// Where Ctrl-C (or a test) reaches the run; the binary installs the signal handler.
    pub interrupter: Option<Interrupter>,
    /// Search this space instead of the one `search.space` names (a space
    /// implemented outside the crate, e.g. in a test).
    pub space: Option<SearchSpace>,
}

/// The seed of replica `i`'s sampling RNG (see [`crate::seed`]).
pub use crate::seed::replica as replica_seed;

/// Stops a running search as Ctrl-C does (the checkpoint is written, the
/// run resumes with `--resume`). Clone it into a signal handler; it reaches
/// the run that was started with it in [`RunOptions::interrupter`], while
/// that run is going.
#[derive(Clone, Default)]
pub struct Interrupter {
    target: Arc<Mutex<Option<Recipient<Interrupt>>>>,
    /// For a run without actors (shared weights): whether one listens, and
    /// whether a stop was asked.
    flag: Arc<(AtomicBool, AtomicBool)>,
}

impl Interrupter {
    /// A handle attached to no run yet.
    pub fn new() -> Interrupter {
        Interrupter::default()
    }

    /// Ask the run to stop; false when no run is going.
    pub fn interrupt(&self) -> bool {
        if self.flag.0.load(Ordering::SeqCst) {
            self.flag.1.store(true, Ordering::SeqCst);
            return true;
        }
        match self.target.lock() {
            Ok(t) => t.as_ref().map(|r| r.do_send(Interrupt)).is_some(),
            Err(_) => false,
        }
    }

    /// Listen (or stop listening) for stops as a flag ([`Interrupter::requested`]).
    fn listen(&self, on: bool) {
        self.flag.1.store(false, Ordering::SeqCst);
        self.flag.0.store(on, Ordering::SeqCst);
    }

    /// Whether a stop was asked since [`Interrupter::listen`].
    fn requested(&self) -> bool {
        self.flag.1.load(Ordering::SeqCst)
    }

    fn attach(&self, to: Option<Recipient<Interrupt>>) {
        if let Ok(mut t) = self.target.lock() {
            *t = to;
        }
    }
}

impl std::fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupter").finish_non_exhaustive()
    }
}

/// Stop the arbiters and (unless `join` is false) wait for their threads.
fn stop_arbiters(arbiters: Vec<Arbiter>, join: bool) {
    for a in arbiters {
        a.stop();
        if join {
            let _ = a.join();
        }
    }
}

/// Run (or resume) the search a config describes, until its budget is spent.
pub fn run(config: Config, options: &RunOptions) -> Result<Summary, RunError> {
    if config.search.weights == crate::config::Weights::Shared {
        return shared::run(config, options);
    }
    let config = Arc::new(config);
    let space = Arc::new(match &options.space {
        Some(s) => s.clone(),
        None => SearchSpace::from_config(&config).map_err(RunError::Space)?,
    });
    let seed = config.experiment.seed;

    let runners = Runners::load(config.clone(), space.clone()).map_err(RunError::Children)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let launcher =
        Arc::new(crate::runner::Launcher::for_config(&config).map_err(RunError::Launcher)?);
    let slots = launcher.slots().to_vec();
    let device_notice = launcher.notice();

    let heads = space.heads();
    let controller0 = Controller::new(&heads, &config.controller, seed);
    let opened = resume::open(&config, &space, options.resume, controller0.num_params())?;
    let _lock = opened.lock;
    let run_dir = opened.run_dir;
    let records = opened.records;
    let checkpoint = opened.checkpoint;
    let resumed_baseline = opened.baseline;
    let mut notices: Vec<String> = device_notice.into_iter().collect();
    notices.extend(opened.notices);

    let lr = config.controller_learning_rate();
    let state = match checkpoint {
        Some(c) => {
            notices.push(format!(
                "resume: {} children recorded, θ version {}",
                records.len(),
                c.version
            ));
            c
        }
        None => Checkpoint::fresh(controller0.flat_params(), config.search.shards, |n| {
            Adam::new(n, &config.controller, lr)
        }),
    };

    let done = records.len();
    let next_id = records
        .iter()
        .map(|r| r.spec.id.saturating_add(1))
        .max()
        .unwrap_or(0);
    // Repeats that spent no budget (`search.repeats = "free"`): the first ones, up to the limit.
    let free_repeats = config.search.free_repeats(config.experiment.budget);
    let cached = records
        .iter()
        .filter(|r| r.status == crate::child::ChildStatus::Cached)
        .count();
    let free = cached.min(free_repeats);
    let remaining = (config.experiment.budget + free).saturating_sub(done);
    // Ids a stopped run reserved but never recorded are handed out first.
    let gaps = resume::unused_ids(&records, config.experiment.budget + free);
    let budget = Arc::new(Budget::with_gaps(gaps, next_id, remaining));
    let sampled = Arc::new(AtomicUsize::new(state.sampled.max(done)));
    let stop = Arc::new(AtomicBool::new(false));
    // The architectures proposed so far (`search.repeats = "redraw"`).
    let proposed = Arc::new(Mutex::new(
        records
            .iter()
            .map(|r| r.spec.hash.clone())
            .collect::<std::collections::HashSet<String>>(),
    ));
    let busy_ns = Arc::new(AtomicU64::new(0));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let updates_log = crate::store::JsonlAppender::open(&run_dir.file(crate::store::UPDATES_FILE))
        .map_err(|source| RunError::Write {
            what: "the controller update log",
            source,
        })?;
    let checkpoint_path = run_dir.checkpoint_path();
    let run_dir = Arc::new(Mutex::new(run_dir));
    let metric = crate::task::Metric::of(&config);
    let n_slots = slots.len();
    let proposers = crate::search::build(
        &config,
        &crate::search::BuildContext {
            space: &space,
            records: &records,
            replicas: &state.replicas,
            slots: n_slots,
        },
    )
    .proposers;
    let n_proposers = proposers.len();
    let early_stop = config
        .search
        .early_stop
        .enabled
        .then(|| trainer::EarlyStop {
            rule: Arc::new(Mutex::new(crate::search::MedianRule::from_records(
                &config.search.early_stop,
                metric.clone(),
                &records,
            ))),
            metric: metric.clone(),
            reward: config.reward.clone(),
        });
    let started = Instant::now();
    let (job_tx, job_rx) = crossbeam_channel::unbounded();

    let system = System::new();
    // The replicas sample and compute gradients in parallel on one arbiter
    // (thread) per core; the ParamStore has one of its own (a replica waits
    // for its push to be applied, so the store must never share its thread);
    // the Recorder and the Reporter stay on the system thread.
    let arbiters: Vec<Arbiter> = (0..cores.clamp(1, n_proposers.max(1)) + 1)
        .map(|_| Arbiter::new())
        .collect();
    for a in &arbiters {
        // The controller's ops are tiny: one torch thread per arbiter avoids
        // oversubscribing the cores the trainers use.
        a.spawn_fn(|| tch::set_num_threads(1));
    }
    let spawner = system.block_on(async {
        tch::set_num_threads(1);
        let reporter = Reporter::new(
            &config.experiment.name,
            config.experiment.budget,
            done,
            slots.clone(),
            metric,
        );
        // A resumed run's first line shows where it stands.
        let reporter = reporter.resumed(
            ledger::Ledger::tally_of(&records),
            state.version,
            // Without a kept update, the baseline of a replica the checkpoint holds.
            resumed_baseline
                .or_else(|| state.replicas.values().last().map(|r| r.baseline.value()))
                .unwrap_or(0.0),
        );
        // The one-time estimate counts every epoch of a child.
        let reporter = match config.child_epochs() {
            Some(n) => reporter.with_child_epochs(n),
            None => reporter,
        }
        .with_status_file(config.experiment.output_dir.join(crate::store::SLOTS_FILE))
        .start();
        for n in &notices {
            reporter.do_send(Notice(n.clone()));
        }
        // The Recorder's address exists before the actors that report to it.
        let recorder_ctx = Context::<Recorder>::new();
        let recorder = recorder_ctx.address();
        let store = ParamStore::new(
            state,
            checkpoint_path,
            reporter.clone(),
            updates_log,
            sampled.clone(),
            recorder.clone().recipient(),
        )
        .map_err(|source| RunError::Start {
            what: "the checkpoint writer",
            source,
        })?;
        let store = ParamStore::start_in_arbiter(&arbiters[0].handle(), move |_| store);
        let recorder_actor = Recorder::new(
            run_dir.clone(),
            &records,
            RecorderPeers {
                jobs: job_tx,
                reporter: reporter.clone(),
                store: store.clone(),
            },
            (
                n_proposers,
                config.experiment.budget,
                config.child_epochs(),
                free_repeats,
            ),
            stop.clone(),
            outcome.clone(),
        )
        .with_stop_after(options.stop_after);
        recorder_ctx.run(recorder_actor);
        if let Some(i) = &options.interrupter {
            i.attach(Some(recorder.clone().recipient()));
        }
        let shared = TrainerShared {
            runners: runners.clone(),
            launcher: launcher.clone(),
            peers: trainer::TrainerPeers::of(&recorder, &reporter),
            stop: stop.clone(),
            busy_ns: busy_ns.clone(),
            active: Arc::new(AtomicUsize::new(n_slots)),
            early_stop,
        };
        // Trainer threads come up on a helper thread while the replicas
        // sample their first batches (800 threads take a noticeable time).
        let spawning_reporter = reporter.clone();
        let spawner = std::thread::Builder::new()
            .name("trainer-spawner".into())
            .spawn(move || {
                let mut handles = Vec::with_capacity(slots.len());
                for slot in slots {
                    match trainer::spawn(slot, job_rx.clone(), shared.clone()) {
                        Ok(h) => handles.push(h),
                        Err(e) => spawning_reporter.do_send(Notice(format!(
                            "warning: cannot start a trainer thread: {e}"
                        ))),
                    }
                }
                handles
            })
            .map_err(|source| RunError::Start {
                what: "the trainer threads",
                source,
            })?;
        let shared = ProposerShared {
            seed,
            space: space.clone(),
            budget: budget.clone(),
            sampled: sampled.clone(),
            stop: stop.clone(),
            redraws: config.search.redraws(),
            proposed: proposed.clone(),
        };
        let peers = ProposerPeers {
            pull: store.clone().recipient(),
            push: store.clone().recipient(),
            train: recorder.clone().recipient(),
            done: recorder.clone().recipient(),
            lost: recorder.clone().recipient(),
            fatal: recorder.clone().recipient(),
        };
        // The proposers sample and compute gradients in parallel, spread
        // over the arbiters after the store's.
        for (k, (replica, proposer)) in proposers.into_iter().enumerate() {
            let arbiter = &arbiters[1 + k % (arbiters.len() - 1)];
            let (shared, peers) = (shared.clone(), peers.clone());
            ProposerActor::start_in_arbiter(&arbiter.handle(), move |_| {
                ProposerActor::new(replica, proposer, shared, peers)
            });
        }
        Ok(spawner)
    });
    let spawner = match spawner {
        Ok(t) => t,
        Err(e) => {
            stop_arbiters(arbiters, true);
            return Err(e);
        }
    };
    let ran = system.run();
    stop.store(true, Ordering::SeqCst);
    // A forced end may have left the store's thread blocked on a checkpoint
    // that never finished: its threads are not waited for then.
    let forced = outcome.lock().map_or(true, |o| o.forced_end.is_some());
    stop_arbiters(arbiters, !forced);
    let trainers = spawner.join().map_err(|p| {
        RunError::Runtime(format!(
            "the thread starting the trainers panicked: {}",
            crate::child::panic_message(&*p)
        ))
    });
    ran.map_err(|e| RunError::Runtime(format!("actor system: {e}")))?;
    let trainers = trainers?;
    for h in trainers {
        let _ = h.join();
    }
    if let Some(i) = &options.interrupter {
        i.attach(None);
    }

    let wall = started.elapsed().as_secs_f64();
    let o = match outcome.lock() {
        Ok(o) => o,
        Err(p) => p.into_inner(),
    };
    let stats = o.stats.clone();
    let summary = Summary {
        children: o.done,
        failures: o.failures,
        diverged: o.diverged,
        cached: o.cached,
        best: o.best.clone(),
        wall_seconds: wall,
        slot_utilisation: busy_ns.load(Ordering::SeqCst) as f64
            / 1e9
            / (n_slots.max(1) as f64 * wall.max(1e-9)),
        updates: stats.as_ref().map_or(0, |s| s.updates),
        staleness_mean: stats.as_ref().map_or(0.0, |s| s.staleness_mean),
        staleness_max: stats.as_ref().map_or(0, |s| s.staleness_max),
        interrupted: matches!(o.end, Some(RunEnd::Interrupted)),
        forced_end: o.forced_end.clone(),
        launch_retries: launcher.launch_retries(),
        compute: o.compute.clone(),
    };
    let end = o.end.clone();
    drop(o);
    if let Ok(r) = run_dir.lock() {
        if let Err(e) = r.write_json("summary.json", &summary) {
            if !matches!(end, Some(RunEnd::Failed(_))) {
                return Err(RunError::Write {
                    what: "summary.json",
                    source: e,
                });
            }
        }
    }
    match end {
        Some(RunEnd::Finished) => Ok(summary),
        Some(RunEnd::Interrupted) => Err(RunError::Interrupted(Box::new(summary))),
        Some(RunEnd::Failed(f)) => Err(RunError::Failed(f)),
        None => Err(RunError::Runtime(
            "the actor system stopped before the run ended".into(),
        )),
    }
}
