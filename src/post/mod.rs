//! After the search: read a run directory and
//! - [`retrain`](retrain::retrain) its best architectures with a small grid,
//!   pick one by validation metric, evaluate it once on the test set and
//!   write `final.json` and the weights (`nas-actor retrain`);
//! - [`report`](report::report) it: pictures, DOT drawings and `report.md`
//!   (`nas-actor report`);
//! - [`export`] an architecture as the project's JSON or as a PyTorch module
//!   (`nas-actor export`);
//! - [`compare`](compare::compare) several runs: best metric so far against
//!   children and compute, per strategy (`nas-actor compare`);
//! - [`rank`]: rank correlation of two orders (the ranking benchmarks).
//!
//! Reading never writes into the run, so a report works on a run still going.

pub mod compare;
pub mod export;
pub mod final_json;
pub mod rank;
pub mod report;
pub mod retrain;
mod run;

use std::path::PathBuf;

pub use final_json::{
    FinalReport, GridPoint, GridResult, Normalisation, TestEvaluation, FINAL_FILE,
};
pub use run::RunView;

use crate::store::StoreError;

/// Why a post-search command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The directory holds no `config.toml`.
    #[error("{} is not a run directory (no config.toml in it): give the experiment.output_dir of a run", path.display())]
    NotARun { path: PathBuf },
    /// The run directory could not be read or written.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A config (the run's or `--config`) does not fit what was asked.
    #[error("{0}")]
    Config(String),
    /// A config file does not load.
    #[error("cannot load the config")]
    LoadConfig(#[from] crate::config::ConfigError),
    /// The config's search space cannot be built.
    #[error("cannot build the run's search space")]
    Space(#[from] crate::space::SpaceError),
    /// The data set (training, validation or test split) does not load.
    #[error("cannot load the data")]
    Data(#[from] crate::data::DataError),
    /// The devices asked for are not there.
    #[error("cannot use the devices asked for")]
    Devices(#[from] crate::devices::DeviceError),
    /// The run has no child with status ok (or fewer than asked for).
    #[error("{}: {message}", path.display())]
    NoArchitecture { path: PathBuf, message: String },
    /// `final.json` already records a test-set evaluation and `--force` was not given.
    #[error("{} already records a test-set evaluation (at {when}); evaluating the test set again would let the test set choose the model: pass --force to retrain and evaluate again (recorded as forced)", path.display())]
    AlreadyEvaluated { path: PathBuf, when: String },
    /// A `[retrain]` setting that does not apply to the run's space.
    #[error("{key}: {message}")]
    Grid { key: String, message: String },
    /// A file that this module reads does not parse.
    #[error("{}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// Every retraining failed, or the chosen model could not be tested.
    #[error("{0}")]
    Training(String),
    /// Runs that `compare` cannot compare (no metric yet, different tasks).
    #[error("{0}")]
    Compare(String),
    /// A file could not be written.
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

impl PostError {
    /// True for bad input (arguments, config, data, run directory): exit code 2.
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            PostError::Training(_)
                | PostError::Write { .. }
                | PostError::Store(StoreError::Write { .. } | StoreError::Encode { .. })
        )
    }

    pub(crate) fn write(path: &std::path::Path, e: impl std::fmt::Display) -> PostError {
        PostError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
