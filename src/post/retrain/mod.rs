//! `nas-actor retrain`: train the run's top K architectures again over a
//! small grid ([`grid`]), choose one (architecture, grid point) by its
//! validation metric, then evaluate that model — and for Penn Treebank the
//! LSTM baseline chosen the same way — once on the test set, and write
//! `final.json` and the weights (safetensors) into the run directory.
//!
//! The test split is read only after every training has finished and the
//! choice is made. A run whose `final.json` already records a test
//! evaluation is refused unless `force` is set; the new evaluation is then
//! appended with `forced: true`.

pub mod config;
pub mod grid;
mod workers;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::final_json::{
    self, FinalModel, FinalReport, GridPoint, GridResult, Normalisation, TestEvaluation,
    BASELINE_WEIGHTS_FILE, FINAL_FILE, WEIGHTS_FILE,
};
use super::{PostError, RunView};
use crate::child::final_eval::{TestMetrics, TestSet, TrainedModel};
use crate::child::ChildSpec;
use crate::config::{Backend, ChildModel, Config, Dataset, RetrainData};
use crate::data::{self, TaskData};
use crate::devices::{self, Slot};
use crate::space::{Architecture, SearchSpace};
use crate::store::{atomic_write, atomic_write_with, RunDir};

/// Options of `nas-actor retrain`.
#[derive(Debug, Clone, Default)]
pub struct RetrainOptions {
    /// Architectures to retrain (default: `retrain.top` of the config).
    pub top: Option<usize>,
    /// A config to use instead of the run's `config.toml` (same search space).
    pub config: Option<PathBuf>,
    /// Evaluate the test set again although `final.json` records an evaluation.
    pub force: bool,
    /// Train on this device only (one slot), instead of the config's `[devices]` slots.
    pub device: Option<tch::Device>,
}

/// What the retraining reports while it goes (the CLI shows it).
#[derive(Debug, Clone)]
pub enum RetrainEvent {
    /// The plan: trainings, grid size, slot labels.
    Planned {
        jobs: usize,
        grid: usize,
        slots: Vec<String>,
        /// What each training trains on, e.g. `55000 training images (retrain.data = "full")`.
        data: String,
    },
    /// A one-line notice (device fallback, torn log line...).
    Notice(String),
    /// Job `job` started on slot `slot`.
    Started {
        job: usize,
        slot: String,
        label: String,
    },
    /// A training batch of job `job` (throttled).
    Batch {
        job: usize,
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    /// Job `job` finished an epoch of `epochs`.
    Epoch {
        job: usize,
        epochs: usize,
        metrics: crate::child::EpochMetrics,
    },
    /// Job `job` ended.
    Finished { job: usize, result: Box<GridResult> },
    /// A chosen model was evaluated on the test set.
    Tested { label: String, test: TestMetrics },
}

/// One training to do.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub index: usize,
    pub rank: usize,
    pub child_id: Option<u64>,
    /// What to train: the run's child (id `u64::MAX` for the LSTM baseline,
    /// whose hash is `lstm`), with its retraining seed ([`crate::seed::retrain`]).
    pub spec: ChildSpec,
    pub grid_index: usize,
    pub grid: GridPoint,
    pub config: Config,
}

impl Job {
    fn model(&self) -> ChildModel {
        self.config.child.model
    }

    /// e.g. `#2 lr=0.1 wd=0.0001` or `lstm lr=1`.
    pub fn label(&self) -> String {
        let who = match self.model() {
            ChildModel::Lstm => "lstm".to_string(),
            ChildModel::Searched => format!("#{}", self.rank),
        };
        let g = &self.grid;
        let mut s = format!("{who} lr={}", g.learning_rate);
        if let Some(w) = g.weight_decay {
            s += &format!(" wd={w}");
        }
        if let Some(e) = g.bn_eps {
            s += &format!(" eps={e}");
        }
        if let Some(d) = g.decay_epoch {
            s += &format!(" decay@{d}");
        }
        s
    }
}

/// Retrain the run in `dir` (see the module doc); `events` is called from
/// the trainer threads and this one.
pub fn retrain(
    dir: &Path,
    options: &RetrainOptions,
    events: &(dyn Fn(RetrainEvent) + Sync),
) -> Result<FinalReport, PostError> {
    let view = RunView::open(dir)?;
    let final_path = dir.join(FINAL_FILE);
    let earlier = match &view.final_report {
        Some(f) => f.test_evaluations.clone(),
        None => Vec::new(),
    };
    if let (Some(last), false) = (earlier.last(), options.force) {
        return Err(PostError::AlreadyEvaluated {
            path: final_path,
            when: last.time.clone(),
        });
    }
    for n in &view.notices {
        events(RetrainEvent::Notice(n.clone()));
    }
    let (config, config_name) = match &options.config {
        Some(p) => (Config::load(p)?, p.display().to_string()),
        None => (
            view.config.clone(),
            dir.join(crate::store::CONFIG_FILE).display().to_string(),
        ),
    };
    if config.child.backend == Backend::Synthetic {
        return Err(PostError::Config(format!(
            "{config_name}: child.backend = \"synthetic\" children have no weights to retrain; give --config with child.backend = \"tch\" and the real data"
        )));
    }
    if config.child.backend == Backend::Command {
        return Err(PostError::Config(format!(
            "{config_name}: child.backend = \"command\" children are trained by your own program; retrain the architectures of best.json with it (each child's architecture JSON is RUN_DIR/children/ID/arch.json)"
        )));
    }
    let top = options.top.unwrap_or(config.retrain.top);
    if top == 0 {
        return Err(PostError::Config("--top must be at least 1".into()));
    }
    let candidates = view.top(top);
    if candidates.is_empty() {
        return Err(PostError::NoArchitecture {
            path: dir.join(crate::store::CHILDREN_FILE),
            message: "no child with status ok yet: nothing to retrain".into(),
        });
    }
    let space = SearchSpace::from_config(&config)?;
    for c in &candidates {
        space.check(&c.spec.arch).map_err(|e| {
            PostError::Config(format!(
                "{config_name}: child {} of the run does not fit this config's space ({e}); use a config with the run's [search] and [space]",
                c.spec.id
            ))
        })?;
    }
    let config = grid::prepare(&config)?;
    let points = grid::grid(&config)?;
    let run_dir = RunDir::open_read_only(dir)?;
    let _lock = run_dir.lock()?;

    let seed = config.experiment.seed;
    let data = Arc::new(data::load(&config.data, seed)?);
    let with_baseline =
        config.data.dataset == Dataset::Ptb && config.child.model == ChildModel::Searched;
    let mut jobs = Vec::new();
    let mut push = |rank: usize, child_id: Option<u64>, arch: &Architecture, hash: &str, model| {
        for (grid_index, point) in points.iter().enumerate() {
            let mut c = grid::apply(&config, point);
            c.child.model = model;
            let id = child_id.unwrap_or(u64::MAX);
            let hash = match model {
                ChildModel::Lstm => "lstm".to_string(),
                ChildModel::Searched => hash.to_string(),
            };
            let mut spec = ChildSpec::new(seed, id, 0, 0, Vec::new(), arch.clone(), hash);
            spec.seed = crate::seed::retrain(seed, id);
            jobs.push(Job {
                index: jobs.len(),
                rank,
                child_id,
                spec,
                grid_index,
                grid: point.clone(),
                config: c,
            });
        }
    };
    for (i, c) in candidates.iter().enumerate() {
        push(
            i + 1,
            Some(c.spec.id),
            &c.spec.arch,
            &c.spec.hash,
            config.child.model,
        );
    }
    if with_baseline {
        push(0, None, &candidates[0].spec.arch, "lstm", ChildModel::Lstm);
    }

    let slots = slots(&config, options.device, jobs.len())?;
    if let Some(n) = &slots.1 {
        events(RetrainEvent::Notice(n.clone()));
    }
    events(RetrainEvent::Planned {
        jobs: jobs.len(),
        grid: points.len(),
        slots: slots.0.iter().map(|s| s.label.clone()).collect(),
        data: format!(
            "{} training {} (retrain.data = \"{}\")",
            data.train_len(),
            match &*data {
                TaskData::Images(_) => "images",
                TaskData::Text(_) => "tokens",
            },
            match config.retrain.data {
                RetrainData::Search => "search",
                RetrainData::Full => "full",
            }
        ),
    });
    let kind = config.search.space;
    let (results, best) = workers::run_jobs(
        &jobs,
        &slots.0,
        &Arc::new(config.clone()),
        &data,
        kind,
        events,
    );
    let [searched, baseline] = best;
    let Some((sel_job, sel_val, sel_model)) = searched else {
        let why: Vec<String> = results
            .iter()
            .filter_map(|r| {
                r.message
                    .as_ref()
                    .map(|m| format!("{}: {m}", r.description))
            })
            .take(5)
            .collect();
        return Err(PostError::Training(format!(
            "every retraining failed; first reasons: {}",
            why.join("; ")
        )));
    };

    // The test split: read here, once, after the choice.
    let test = load_test(&config, &data)?;
    let test_of = |job: &Job, model: &TrainedModel| {
        model
            .evaluate_test(&job.config, &data, &test)
            .map_err(|e| PostError::Training(format!("testing {}: {e}", job.label())))
    };
    let sel_test = test_of(&jobs[sel_job], &sel_model)?;
    events(RetrainEvent::Tested {
        label: jobs[sel_job].label(),
        test: sel_test,
    });
    save_weights(&sel_model, &dir.join(WEIGHTS_FILE))?;
    let mut baseline_out = None;
    if let Some((job, val, model)) = baseline {
        let t = test_of(&jobs[job], &model)?;
        events(RetrainEvent::Tested {
            label: jobs[job].label(),
            test: t,
        });
        save_weights(&model, &dir.join(BASELINE_WEIGHTS_FILE))?;
        let chosen = final_model(&jobs[job], &results[job], val, BASELINE_WEIGHTS_FILE);
        baseline_out = Some((chosen, t));
    }
    let selected = final_model(&jobs[sel_job], &results[sel_job], sel_val, WEIGHTS_FILE);
    let (timestamp, time) = final_json::now();
    let mut test_evaluations = earlier;
    test_evaluations.push(TestEvaluation {
        timestamp,
        time,
        forced: !test_evaluations.is_empty(),
        hash: selected.hash.clone(),
        grid: selected.grid.clone(),
        test: sel_test,
        baseline_test: baseline_out.as_ref().map(|b| b.1),
    });
    let report = FinalReport {
        run: config.experiment.name.clone(),
        space: kind,
        dataset: config.data.dataset,
        metric: crate::task::Metric::of_space(kind).name,
        config: config_name,
        normalisation: match &*data {
            TaskData::Images(d) => Some(Normalisation {
                mean: d.mean.clone(),
                std: d.std.clone(),
            }),
            TaskData::Text(_) => None,
        },
        top: candidates.len(),
        data: config.retrain.data,
        train_examples: Some(data.train_len()),
        selected,
        baseline_test: baseline_out.as_ref().map(|b| b.1),
        baseline: baseline_out.map(|b| b.0),
        grid_results: results,
        test: sel_test,
        test_evaluations,
    };
    let mut bytes =
        serde_json::to_vec_pretty(&report).map_err(|e| PostError::write(&final_path, e))?;
    bytes.push(b'\n');
    atomic_write(&final_path, &bytes)?;
    Ok(report)
}

/// The slots to train `jobs` trainings on: one on `device`, or the config's
/// `[devices]` slots. With fewer trainings than CPU slots (and no
/// `devices.threads_per_worker`), the cores are shared among the trainings
/// instead of leaving slots idle: one training of a 2-worker config gets
/// both cores.
fn slots(
    config: &Config,
    device: Option<tch::Device>,
    jobs: usize,
) -> Result<(Vec<Slot>, Option<String>), PostError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match device {
        Some(d) => {
            let threads = config.devices.threads_per_worker.unwrap_or(cores).max(1);
            Ok((vec![crate::runner::single_slot(d, threads)], None))
        }
        None => {
            let (mut slots, notice) =
                devices::assign_slots(&config.devices, &devices::discover(), cores)?;
            let all_cpu = slots.iter().all(|s| s.device == devices::SlotDevice::Cpu);
            if all_cpu
                && config.devices.threads_per_worker.is_none()
                && (1..slots.len()).contains(&jobs)
            {
                let threads = (cores / jobs).max(1);
                slots.truncate(jobs);
                for s in &mut slots {
                    s.threads = threads;
                }
            }
            Ok((slots, notice))
        }
    }
}

/// Read the test split of the task.
fn load_test(config: &Config, data: &TaskData) -> Result<TestSet, PostError> {
    let err = PostError::Data;
    match data {
        TaskData::Images(_) => data::load_images_test(&config.data)
            .map(TestSet::Images)
            .map_err(err),
        TaskData::Text(c) => data::load_ptb_test(&config.data.dir, &c.vocab)
            .map(TestSet::Text)
            .map_err(err),
    }
}

/// Save as safetensors, atomically and durably (temporary file, fsync, rename, fsync).
fn save_weights(model: &TrainedModel, path: &Path) -> Result<(), PostError> {
    Ok(atomic_write_with(path, |tmp| model.save(tmp))?)
}

fn final_model(job: &Job, result: &GridResult, validation: f64, weights: &str) -> FinalModel {
    FinalModel {
        rank: job.rank,
        child_id: job.child_id,
        model: job.model(),
        architecture: job.spec.arch.clone(),
        hash: result.hash.clone(),
        description: result.description.clone(),
        grid_index: job.grid_index,
        grid: job.grid.clone(),
        validation,
        params: result.params,
        weights: weights.to_string(),
    }
}
