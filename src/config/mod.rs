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

mod command;
mod data;
mod lines;
mod slurm;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::command::{CommandConfig, CommandReward, Goal};
pub use self::data::{DataConfig, Dataset};
pub use self::slurm::SlurmConfig;
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

/// `[controller]`: the LSTM policy and its REINFORCE update.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerConfig {
    /// Hidden units per LSTM layer. Paper: 35.
    pub hidden_size: usize,
    /// LSTM layers. Paper: 2.
    pub layers: usize,
    /// Weights are drawn uniformly from [-init_range, init_range]. Paper: 0.08.
    pub init_range: f64,
    /// Adam learning rate. Default: 0.0006 for the CNN space, 0.0005 for the cell space (the paper's).
    pub learning_rate: Option<f64>,
    /// Adam β1. Default 0.9.
    pub adam_beta1: f64,
    /// Adam β2. Default 0.999.
    pub adam_beta2: f64,
    /// Adam ε. Default 1e-8.
    pub adam_eps: f64,
    /// Decay of the exponential moving average baseline. Default 0.95.
    pub baseline_decay: f64,
    /// Where the baseline starts: `"zero"` (default; the paper's reference
    /// implementations) or `"first_batch"` (the mean of the first update's
    /// rewards, taken before that update).
    pub baseline_init: BaselineInit,
    /// Divide logits by this temperature (off by default, as in the paper).
    pub temperature: Option<f64>,
    /// Squash logits as c·tanh(logits) (off by default, as in the paper).
    pub tanh_constant: Option<f64>,
    /// Weight of an entropy bonus in the loss. Default 0 (the paper's setting).
    pub entropy_weight: f64,
    /// Clip the gradient's global norm (off by default).
    pub grad_clip: Option<f64>,
    /// Replay of the best: each update also raises the likelihood of the
    /// `replay_top` best architectures the replica has seen so far
    /// (priority-queue training, Abolafia et al., 2018), weighted by
    /// `replay_weight`. Default 0: off (the paper's REINFORCE).
    pub replay_top: usize,
    /// Weight of the replay term against the REINFORCE term. Default 1.
    pub replay_weight: f64,
    /// A named set of the settings above; keys set explicitly in the file
    /// win over it. None (default): the paper's values. See [`ControllerPreset`].
    pub preset: Option<ControllerPreset>,
}

/// Where the baseline starts (`controller.baseline_init`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum BaselineInit {
    /// At 0, as in the paper's reference implementations (no reward seen
    /// yet): the first advantages equal the first rewards, all positive for
    /// an accuracy, so the first updates push the policy towards whatever
    /// it drew first. The default, and the paper configs' setting.
    #[default]
    Zero,
    /// At the mean of the first update's rewards, before that update: the
    /// first advantages are centred, as every later one is.
    FirstBatch,
}

/// Named controller settings (`controller.preset`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ControllerPreset {
    /// `"small-budget"`: a controller meant to move within a few hundred
    /// children. Logits divided by temperature 5 and squashed by 2.5·tanh
    /// (ENAS, Pham et al., 2018), Adam learning rate 0.03 with an entropy
    /// bonus of 0.01, baseline decay 0.95, gradient norm clipped at 5, and
    /// each update also raising the likelihood of the 10 best architectures
    /// seen so far with weight 2 (`replay_top`, `replay_weight`). ENAS's
    /// own learning rate and bonus (1e-3, 1e-4) barely moved the policy in
    /// 500 children on the synthetic landscapes; these were the best of a
    /// sweep there, and without the replay of the best no setting of the
    /// sweep was ahead of random search on every seed (BENCHMARKS.md §5).
    /// The baseline starts at 0: on NAS-Bench-Graph, starting it at the
    /// first batch's mean was no better (BENCHMARKS.md §5 (d)).
    SmallBudget,
}

/// One setting of a preset: its key under `[controller]`, and how to set it.
type PresetSetting = (&'static str, fn(&mut ControllerConfig));

impl ControllerPreset {
    /// The preset's values.
    fn settings(self) -> Vec<PresetSetting> {
        match self {
            ControllerPreset::SmallBudget => vec![
                ("temperature", |c| c.temperature = Some(5.0)),
                ("tanh_constant", |c| c.tanh_constant = Some(2.5)),
                ("entropy_weight", |c| c.entropy_weight = 0.01),
                ("learning_rate", |c| c.learning_rate = Some(0.03)),
                ("baseline_decay", |c| c.baseline_decay = 0.95),
                ("baseline_init", |c| {
                    c.baseline_init = BaselineInit::FirstBatch
                }),
                ("grad_clip", |c| c.grad_clip = Some(5.0)),
                ("replay_top", |c| c.replay_top = 10),
                ("replay_weight", |c| c.replay_weight = 2.0),
            ],
        }
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            hidden_size: 35,
            layers: 2,
            init_range: 0.08,
            learning_rate: None,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            baseline_decay: 0.95,
            baseline_init: BaselineInit::Zero,
            temperature: None,
            tanh_constant: None,
            entropy_weight: 0.0,
            grad_clip: None,
            replay_top: 0,
            replay_weight: 1.0,
            preset: None,
        }
    }
}

impl ControllerConfig {
    /// Apply `preset` to every key for which `explicit(key)` is false.
    pub fn apply_preset(&mut self, explicit: impl Fn(&str) -> bool) {
        let Some(preset) = self.preset else {
            return;
        };
        for (key, set) in preset.settings() {
            if !explicit(key) {
                set(self);
            }
        }
    }

    /// The Adam learning rate for a space: the configured one, else the paper's.
    pub fn learning_rate_for(&self, space: SpaceKind) -> f64 {
        self.learning_rate.unwrap_or(match space {
            SpaceKind::Cnn => 0.0006,
            SpaceKind::Cell => 0.0005,
            // A declared space: the CNN experiment's value.
            SpaceKind::Custom => 0.0006,
        })
    }
}

/// Where children are trained.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Real children trained with libtorch.
    #[default]
    Tch,
    /// Reward = a deterministic function of the architecture after a delay (tests, scale simulation).
    Synthetic,
    /// The user's own program, run once per child (`[child.command]`).
    Command,
}

impl Backend {
    /// Whether children of this backend read the `[data]` table.
    pub fn reads_data(self) -> bool {
        self == Backend::Tch
    }
}

/// Which model a cell-space child is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChildModel {
    /// The sampled architecture.
    #[default]
    Searched,
    /// tch's LSTM language model (the baseline every found cell is compared with).
    Lstm,
}

/// `[child]`: how each child is trained.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChildConfig {
    /// `"tch"` (default), `"synthetic"` or `"command"` (the user's program, `[child.command]`).
    pub backend: Backend,
    /// `"searched"` (default) or `"lstm"` (cell space only).
    pub model: ChildModel,
    /// Training batches per epoch (a slice, for small machines); default: all.
    pub train_batches: Option<usize>,
    /// Validation batches per evaluation; default: all.
    pub val_batches: Option<usize>,
    /// A child running longer than this (checked between batches) fails. Default: none.
    pub timeout_s: Option<f64>,
    pub cnn: CnnChildConfig,
    pub command: CommandConfig,
    pub lm: LmChildConfig,
    pub synthetic: SyntheticConfig,
}

impl Default for ChildConfig {
    fn default() -> Self {
        ChildConfig {
            backend: Backend::Tch,
            model: ChildModel::Searched,
            train_batches: None,
            val_batches: None,
            timeout_s: None,
            cnn: CnnChildConfig::default(),
            command: CommandConfig::default(),
            lm: LmChildConfig::default(),
            synthetic: SyntheticConfig::default(),
        }
    }
}

/// Learning-rate schedule of a CNN child.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Constant learning rate (the paper's search setting).
    #[default]
    Constant,
    /// Cosine decay to 0 over the epochs.
    Cosine,
    /// Multiply by `lr_decay` every `lr_decay_every` epochs.
    Step,
}

/// `[child.cnn]`: CNN child training (paper: SGD, Nesterov 0.9, lr 0.1, wd 1e-4, 50 epochs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CnnChildConfig {
    /// Training epochs of each child. Paper: 50 (the default).
    pub epochs: usize,
    /// Images per training and validation batch. Default 128.
    pub batch_size: usize,
    /// SGD learning rate. Paper: 0.1 (the default).
    pub learning_rate: f64,
    /// SGD momentum. Paper: 0.9 (the default).
    pub momentum: f64,
    /// Nesterov momentum (needs `momentum > 0`). Paper: true (the default).
    pub nesterov: bool,
    /// L2 weight decay. Paper: 1e-4 (the default).
    pub weight_decay: f64,
    /// `"constant"` (default, the paper's search setting), `"cosine"` or `"step"`.
    pub lr_schedule: LrSchedule,
    /// Factor of the `step` schedule. Default 0.1.
    pub lr_decay: f64,
    /// Epochs between `step` decays. Default 20.
    pub lr_decay_every: usize,
    /// Batch-norm ε. Default 1e-5.
    pub bn_eps: f64,
    /// Pad-and-crop and horizontal flips on training batches. Default true.
    pub augment: bool,
}

impl Default for CnnChildConfig {
    fn default() -> Self {
        CnnChildConfig {
            epochs: 50,
            batch_size: 128,
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
            lr_schedule: LrSchedule::Constant,
            lr_decay: 0.1,
            lr_decay_every: 20,
            bn_eps: 1e-5,
            augment: true,
        }
    }
}

/// `[child.lm]`: language-model child training (defaults: the "medium" model of Zaremba et al.).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LmChildConfig {
    /// Training epochs of each child. Default 35 (the paper's).
    pub epochs: usize,
    /// Word embedding size. Default 650.
    pub embedding_size: usize,
    /// Hidden size of each of the two recurrent layers. Default 650.
    pub hidden_size: usize,
    /// Recurrent layers. Default 2.
    pub layers: usize,
    /// Truncated BPTT length. Default 35.
    pub bptt: usize,
    /// Sequences per batch (the corpus is cut into this many streams). Default 20.
    pub batch_size: usize,
    /// Dropout on embeddings, between layers and before the decoder. Default 0.5.
    pub dropout: f64,
    /// Tie input and output embeddings ("shared embeddings"); needs embedding_size == hidden_size.
    pub tied: bool,
    /// Plain SGD learning rate. Default 1.0.
    pub learning_rate: f64,
    /// Multiply the learning rate by this every epoch from `decay_start_epoch`. Default 1/1.2.
    pub lr_decay: f64,
    /// First epoch (1-based) whose learning rate is decayed. Default 7.
    pub decay_start_epoch: usize,
    /// Clip the gradient's global norm. Default 5.
    pub grad_clip: f64,
    /// Uniform init range of weights. Default 0.05.
    pub init_range: f64,
}

impl Default for LmChildConfig {
    fn default() -> Self {
        LmChildConfig {
            epochs: 35,
            embedding_size: 650,
            hidden_size: 650,
            layers: 2,
            bptt: 35,
            batch_size: 20,
            dropout: 0.5,
            tied: false,
            learning_rate: 1.0,
            lr_decay: 1.0 / 1.2,
            decay_start_epoch: 7,
            grad_clip: 5.0,
            init_range: 0.05,
        }
    }
}

impl LmChildConfig {
    /// What the LSTM baseline of these settings is, for a person.
    pub fn lstm_description(&self) -> String {
        format!(
            "LSTM baseline: {} layer(s) of {} units, embeddings {}",
            self.layers, self.hidden_size, self.embedding_size
        )
    }
}

/// `[child.synthetic]`: the synthetic backend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// Time each synthetic child takes, in milliseconds. Default 0.
    pub delay_ms: f64,
    /// Children of different architectures take different times: a child
    /// takes `delay_ms · delay_spread^u`, u in [0, 1) a fixed function of its
    /// architecture (log-uniform over `delay_ms` to `delay_ms · delay_spread`;
    /// the same architecture always takes the same time). Default 1: every
    /// child takes `delay_ms`.
    pub delay_spread: f64,
    /// Fraction of children that fail on purpose (tests of failure handling). Default 0.
    pub failure_rate: f64,
    /// How those children fail (a testing aid): `"failed"` (default, a plain
    /// error), `"panic"` (a real panic inside the trainer), `"diverged"` (a NaN
    /// loss) or `"oom"` (the torch error a CUDA out-of-memory produces).
    pub failure_kind: SyntheticFailure,
    /// Epochs of a learning curve per child (early stopping, compute
    /// comparisons). 0 (default): one record, no progress reports. N ≥ 1: the
    /// child reports N epochs, `delay_ms / N` apart, rising to the landscape's
    /// reward at epoch N at a speed of its own (see [`crate::synthetic`]).
    pub epochs: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            delay_ms: 0.0,
            delay_spread: 1.0,
            failure_rate: 0.0,
            failure_kind: SyntheticFailure::Failed,
            epochs: 0,
        }
    }
}

/// How a synthetic child picked by `child.synthetic.failure_rate` fails (a testing aid).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyntheticFailure {
    /// An error: status failed.
    #[default]
    Failed,
    /// A panic inside training, caught by the trainer: status failed.
    Panic,
    /// A NaN training loss: status diverged.
    Diverged,
    /// The torch error of a CUDA out-of-memory: status failed.
    Oom,
}

/// `[reward]`: turning validation metrics into the controller's reward.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RewardConfig {
    /// CNN: the maximum validation accuracy over this many last epochs. Paper: 5.
    pub accuracy_window: usize,
    /// CNN: ... raised to this power. Paper: 3.
    pub accuracy_exponent: f64,
    /// Language model: c / perplexity^exponent. Paper: c = 80.
    pub perplexity_c: f64,
    /// Paper: 2.
    pub perplexity_exponent: f64,
    /// Reward of a child that diverged or failed. Default 0.
    pub failure: f64,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            accuracy_window: 5,
            accuracy_exponent: 3.0,
            perplexity_c: 80.0,
            perplexity_exponent: 2.0,
            failure: 0.0,
        }
    }
}

/// `[retrain]`: the final grid of `nas-actor retrain` (the paper's four knobs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetrainConfig {
    /// Architectures to retrain. Default 5.
    pub top: usize,
    /// Learning rates to try (empty: the child's).
    pub learning_rates: Vec<f64>,
    /// Weight decays to try (empty: the child's).
    pub weight_decays: Vec<f64>,
    /// Batch-norm ε values to try (CNN; empty: the child's).
    pub bn_eps: Vec<f64>,
    /// Epochs at which the learning rate starts to decay (empty: the child's).
    pub decay_epochs: Vec<usize>,
    /// Epochs of the final training; default: the child's.
    pub epochs: Option<usize>,
    /// What the retraining trains on: `"search"` (default) the search's own
    /// slices (`data.train_limit`, `data.val_limit`, `child.train_batches`,
    /// `child.val_batches`); `"full"` the whole training split, every batch
    /// of every epoch, and the whole validation split.
    pub data: RetrainData,
    /// CNN learning-rate schedule of the retraining; default: the child's.
    /// `retrain.decay_epochs` (a step schedule) is the other way to set it.
    pub lr_schedule: Option<LrSchedule>,
}

/// `retrain.data`: the data a retraining trains on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RetrainData {
    /// The search's own slices of the data and batches per epoch.
    #[default]
    Search,
    /// The whole training and validation splits.
    Full,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        RetrainConfig {
            top: 5,
            learning_rates: Vec::new(),
            weight_decays: Vec::new(),
            bn_eps: Vec::new(),
            decay_epochs: Vec::new(),
            epochs: None,
            data: RetrainData::Search,
            lr_schedule: None,
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
            search
                .shared
                .apply_preset(controller, |k| lines::has_key(text, k));
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
