//! Typed TOML configuration: every tunable of a search, with documented
//! defaults, and validation whose messages name the file, the key and (where
//! it can be found) the line.
//!
//! A config file has these tables: `[experiment]`, `[devices]`, `[search]`
//! (with `[search.evolution]`, `[search.early_stop]`), `[controller]`, `[space.cnn]`, `[space.cell]`, `[space.custom]`, `[child]`
//! (with `[child.cnn]`, `[child.lm]`, `[child.synthetic]`), `[reward]`,
//! `[data]`, `[retrain]` and `[launcher]` (with `[launcher.slurm]`). What trains a child is
//! `child.backend`; where it runs is `launcher.kind`. Only `[experiment]` and `[search]` are required, and `[data]`
//! when children are trained with tch (synthetic children read no data).

mod data;
mod lines;
mod slurm;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::data::{DataConfig, Dataset};
pub use self::slurm::SlurmConfig;
pub use crate::child::config::{
    Backend, ChildConfig, ChildModel, CnnChildConfig, CommandConfig, CommandReward, Goal,
    LmChildConfig, LrSchedule, RewardConfig, SyntheticConfig, SyntheticFailure,
};
pub use crate::controller::config::{BaselineInit, ControllerConfig, ControllerPreset};
pub use crate::post::retrain::config::{RetrainConfig, RetrainData};
pub use crate::search::config::{
    EarlyStopConfig, EvolutionConfig, Repeats, Sampling, SearchConfig, SharedConfig, SharedPreset,
    Strategy, TpeConfig, Weights,
};
pub use crate::space::cell::{Activation, Combination};
pub use crate::space::config::{
    CellSpaceConfig, CnnSpaceConfig, GrowthConfig, SpaceConfig, SpaceKind,
};

/// A config that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The whole configuration of one search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub experiment: ExperimentConfig,
    #[serde(default)]
    pub devices: DevicesConfig,
    pub search: SearchConfig,
    #[serde(default)]
    pub controller: ControllerConfig,
    #[serde(default)]
    pub space: SpaceConfig,
    #[serde(default)]
    pub child: ChildConfig,
    #[serde(default)]
    pub reward: RewardConfig,
    /// Required for `child.backend = "tch"`. A synthetic run without it gets
    /// [`DataConfig::unused`] (the space's dataset, an empty `dir`).
    #[serde(default = "DataConfig::absent")]
    pub data: DataConfig,
    #[serde(default)]
    pub retrain: RetrainConfig,
    /// Where children run (what trains them is `child.backend`).
    #[serde(default)]
    pub launcher: LauncherConfig,
}

/// `[launcher]`: where children run, apart from what trains them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LauncherConfig {
    /// `"threads"` (default): one trainer thread per device slot of `[devices]`, in this process.
    /// `"slurm"`: each child is a Slurm job step inside the allocation the run is in.
    pub kind: LauncherKind,
    /// `[launcher.slurm]`: the step of each child (`launcher.kind = "slurm"`).
    pub slurm: SlurmConfig,
}

/// The launchers there are.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LauncherKind {
    /// Threads in this process, one per device slot.
    #[default]
    Threads,
    /// One Slurm job step per child (`srun`), inside one allocation.
    Slurm,
}

/// `[experiment]`: identity, output and budget of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// A name for the run, shown in the terminal and the report.
    pub name: String,
    /// The run directory (created by `nas-actor run`).
    pub output_dir: PathBuf,
    /// The one seed every random choice derives from. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Total number of children to train. The paper: 12,800 for CIFAR-10.
    pub budget: usize,
}

/// Which GPUs to use: `"all"`, `"none"`, a count (the least loaded ones) or a list of ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum GpuSelection {
    Count(usize),
    List(Vec<usize>),
    Named(String),
}

impl Default for GpuSelection {
    fn default() -> Self {
        GpuSelection::Named("all".into())
    }
}

/// `[devices]`: device slots for trainers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DevicesConfig {
    /// `"all"` (default), `"none"`, a number N (the N least loaded GPUs) or a list of GPU ids.
    pub gpus: GpuSelection,
    /// Children trained at once on each GPU. Default 1.
    pub children_per_gpu: usize,
    /// Trainer slots when no GPU is used. Default 1.
    pub cpu_workers: usize,
    /// Torch threads per CPU slot; default: the machine's cores divided by `cpu_workers`.
    pub threads_per_worker: Option<usize>,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        DevicesConfig {
            gpus: GpuSelection::default(),
            children_per_gpu: 1,
            cpu_workers: 1,
            threads_per_worker: None,
        }
    }
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::from_toml(&text, path)
    }

    /// Parse and validate config text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| lines::line_at(text, s.start));
            let mut message = e.message().trim().replace('\n', " ");
            if let Some(key) = e.span().and_then(|s| lines::key_at(text, s)) {
                message = format!("`{key}`: {message}");
            }
            ConfigError {
                path: path.to_path_buf(),
                line,
                message,
            }
        })?;
        config
            .controller
            .apply_preset(|k| lines::has_key(text, &format!("controller.{k}")));
        if config.search.weights == Weights::Shared {
            let Config {
                search, controller, ..
            } = &mut config;
            let space = search.space;
            search
                .shared
                .apply_preset(controller, space, |k| lines::has_key(text, k));
        }
        let has_data = lines::line_of(text, "data").is_some();
        if !has_data {
            config.data = DataConfig::unused(config.search.space);
        }
        validate::validate(&config, has_data).map_err(|(key, message)| ConfigError {
            path: path.to_path_buf(),
            line: lines::line_of(text, &key),
            message: format!("`{key}`: {message}"),
        })?;
        Ok(config)
    }

    /// The config as TOML (the resolved config written into a run directory).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }

    /// The epochs a child trains when nothing stops it; None when children
    /// report no epochs (synthetic children without `child.synthetic.epochs`)
    /// or when it is not known (trial commands without `child.command.epochs`).
    pub fn child_epochs(&self) -> Option<usize> {
        match (self.child.backend, self.search.space) {
            (Backend::Synthetic, _) => {
                (self.child.synthetic.epochs > 0).then_some(self.child.synthetic.epochs)
            }
            (Backend::Tch, SpaceKind::Cnn) => Some(self.child.cnn.epochs),
            (Backend::Tch, SpaceKind::Cell) => Some(self.child.lm.epochs),
            (Backend::Tch, SpaceKind::Custom) => None,
            // A trial reports the epochs it runs; how many, the config may say.
            (Backend::Command, _) => self.child.command.epochs,
        }
    }

    /// The Adam learning rate of the controller for this config's space.
    pub fn controller_learning_rate(&self) -> f64 {
        self.controller.learning_rate_for(self.search.space)
    }
}

impl crate::space::SearchSpace {
    /// The space `search.space` names, with its choice lists from `[space]`.
    /// Fails only for an invalid `[space.custom]` (a validated config has none).
    pub fn from_config(
        config: &Config,
    ) -> Result<crate::space::SearchSpace, crate::space::SpaceError> {
        crate::space::SearchSpace::new(config.search.space, &config.space)
    }
}
