//! `[child]` (with `[child.cnn]`, `[child.lm]`, `[child.synthetic]`) and `[reward]`:
//! what trains a child and how its metric becomes a reward.

mod command;

use serde::{Deserialize, Serialize};

pub use command::{CommandConfig, CommandReward, Goal};

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
