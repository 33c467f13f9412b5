//! The search's own configuration: `[search]` (strategy, sampling, the
//! paper's K, m and S), `[search.evolution]`, `[search.tpe]` and
//! `[search.early_stop]`. The config layer nests these.

use serde::{Deserialize, Serialize};

use crate::space::SpaceKind;

/// How architectures are proposed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The paper's controller trained with REINFORCE.
    #[default]
    Reinforce,
    /// Uniform sampling from the same space, no controller updates (baseline).
    Random,
    /// Regularized (aging) evolution (Real et al., 2019): `[search.evolution]`;
    /// one child in flight per trainer slot (`replicas` and
    /// `children_per_replica` do not apply).
    Evolution,
    /// The Tree-structured Parzen Estimator (Bergstra et al., 2011):
    /// `[search.tpe]`; one child in flight per trainer slot.
    Tpe,
}

/// How a REINFORCE replica samples (`search.sampling`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// When one of a replica's m children ends, its replacement is sampled
    /// at once with the replica's current θ: a slot never waits for a
    /// sibling. Updates still use exactly m rewards. The default.
    #[default]
    Refill,
    /// The paper's synchronous replica: sample m, wait for all m rewards,
    /// update, sample the next m. The paper configs name it.
    Batch,
}

/// What a repeated architecture costs (`search.repeats`). A repeat is a
/// child whose architecture (by its canonical hash) was trained before: it
/// is answered from the cache (status `cached`) with the reward it got.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Repeats {
    /// A repeat is a child of the budget like any other; its reward counts
    /// for the strategy. The default.
    #[default]
    Spend,
    /// A repeat spends no budget, and its reward still counts for the
    /// strategy (a REINFORCE update still takes m rewards). At most
    /// `search.free_limit` repeats of a run are free; later ones spend
    /// budget, so a search of a space smaller than its budget still ends.
    Free,
    /// A proposal that repeats an architecture already proposed in the run
    /// is drawn again, up to `search.redraw_limit` times; then it is
    /// accepted (and spends budget). A redrawn proposal is dropped: no
    /// reward, no part of an update.
    Redraw,
}

/// `[search]`: the distributed layout of the paper, on one machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// `"cnn"` or `"cell"`.
    pub space: SpaceKind,
    /// `"reinforce"` (default), `"random"`, `"evolution"` or `"tpe"`.
    #[serde(default)]
    pub strategy: Strategy,
    /// `"refill"` (default) or `"batch"` (the paper's): how a REINFORCE
    /// replica samples. Random search, evolution and TPE never wait.
    #[serde(default)]
    pub sampling: Sampling,
    /// K: controller replicas. Default 1.
    #[serde(default = "one")]
    pub replicas: usize,
    /// m: children sampled per replica and controller update. Default 1.
    #[serde(default = "one")]
    pub children_per_replica: usize,
    /// S: parameter-store shards. Default 1.
    #[serde(default = "one")]
    pub shards: usize,
    /// `"spend"` (default), `"free"` or `"redraw"`: what a repeated
    /// architecture costs ([`Repeats`]).
    #[serde(default)]
    pub repeats: Repeats,
    /// `repeats = "free"`: how many repeats of a run are free at most.
    /// Default: the budget (a run records at most twice its budget).
    #[serde(default)]
    pub free_limit: Option<usize>,
    /// `repeats = "redraw"`: how many times one proposal is drawn again
    /// before a repeat is accepted. Default 10.
    #[serde(default = "ten")]
    pub redraw_limit: usize,
    /// `[search.evolution]`: population and tournament of `strategy = "evolution"`.
    #[serde(default)]
    pub evolution: EvolutionConfig,
    /// `[search.early_stop]`: the median stopping rule (off by default).
    #[serde(default)]
    pub early_stop: EarlyStopConfig,
    /// `[search.tpe]`: the settings of `strategy = "tpe"`.
    #[serde(default)]
    pub tpe: TpeConfig,
    /// `"independent"` (default: every child trains from scratch) or
    /// `"shared"` (ENAS: all children share one supernet's weights, `[search.shared]`).
    #[serde(default)]
    pub weights: Weights,
    /// `[search.shared]`: the supernet of `weights = "shared"`.
    #[serde(default)]
    pub shared: SharedConfig,
}

/// Whether children train their own weights (`search.weights`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// Every child is built and trained from scratch (the paper's).
    #[default]
    Independent,
    /// All children share the weights ω of one supernet, trained between
    /// controller steps; a child is scored on validation batches under ω
    /// (ENAS, Pham et al., 2018). The recurrent-cell and CNN spaces.
    Shared,
}

/// Named settings of `[search.shared]` (`search.shared.preset`). ω's
/// optimizer and the controller follow ENAS for the space searched: its PTB
/// settings for cells, its CIFAR-10 macro search's for CNNs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SharedPreset {
    /// ENAS's settings: 400 ω steps then 2000 controller samples per round,
    /// one validation batch per reward; the controller (unless
    /// `[controller]` sets them) as ENAS's for the space (cells: Adam
    /// 3.5e-4, tanh constant 2.5, temperature 5, entropy weight 1e-4; CNNs:
    /// Adam 1e-3, tanh constant 1.5, entropy weight 1e-4).
    Enas,
    /// Sized for a 2-core CPU: ENAS's ω optimizer and controller, rounds of
    /// 100 ω steps and 40 controller samples, 2 validation batches per reward.
    Cpu,
}

/// One setting of a preset: its key, and how to set it.
type Setting<T> = (&'static str, fn(&mut T));

/// ω's optimizer in ENAS for `space`, the defaults of `[search.shared]`'s
/// `learning_rate` and `grad_clip`: SGD at 20 clipped at 0.25 for cells
/// (PTB), at 0.05 clipped at 5 for CNNs (CIFAR-10 macro search, whose
/// momentum and weight decay come from `[child.cnn]`).
pub fn shared_optimizer(space: SpaceKind) -> Vec<Setting<SharedConfig>> {
    match space {
        SpaceKind::Cnn => vec![
            ("learning_rate", |c| c.learning_rate = 0.05),
            ("grad_clip", |c| c.grad_clip = 5.0),
        ],
        _ => vec![
            ("learning_rate", |c| c.learning_rate = 20.0),
            ("grad_clip", |c| c.grad_clip = 0.25),
        ],
    }
}

impl SharedPreset {
    /// The preset's `[search.shared]` values (besides ω's optimizer).
    pub fn shared_settings(self) -> Vec<Setting<SharedConfig>> {
        match self {
            SharedPreset::Enas => vec![
                ("omega_steps", |c| c.omega_steps = 400),
                ("controller_samples", |c| c.controller_samples = 2000),
                ("reward_batches", |c| c.reward_batches = 1),
            ],
            SharedPreset::Cpu => vec![
                ("omega_steps", |c| c.omega_steps = 100),
                ("controller_samples", |c| c.controller_samples = 40),
                ("reward_batches", |c| c.reward_batches = 2),
            ],
        }
    }

    /// The preset's `[controller]` values: ENAS's for `space`, for both presets.
    pub fn controller_settings(
        self,
        space: SpaceKind,
    ) -> Vec<Setting<crate::config::ControllerConfig>> {
        match space {
            SpaceKind::Cnn => vec![
                ("learning_rate", |c| c.learning_rate = Some(1e-3)),
                ("tanh_constant", |c| c.tanh_constant = Some(1.5)),
                ("entropy_weight", |c| c.entropy_weight = 1e-4),
            ],
            _ => vec![
                ("learning_rate", |c| c.learning_rate = Some(3.5e-4)),
                ("tanh_constant", |c| c.tanh_constant = Some(2.5)),
                ("temperature", |c| c.temperature = Some(5.0)),
                ("entropy_weight", |c| c.entropy_weight = 1e-4),
            ],
        }
    }
}

/// `[search.shared]`: the supernet of `search.weights = "shared"`. Its
/// model (sizes, layers, dropout, BPTT length, batch size, initialisation)
/// is `[child.lm]`'s; these keys set how ω trains and how children are
/// scored. A run is rounds of `omega_steps` ω steps (each on the next
/// training batch, with one architecture drawn from the controller per
/// batch) followed by `controller_samples` children, each scored on
/// validation batches under ω and applied m at a time
/// (`search.children_per_replica`). The budget (`experiment.budget`)
/// counts those children. Defaults are ENAS's (preset `"enas"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SharedConfig {
    /// `"enas"` or `"cpu"`; keys set explicitly win over it. None (default): the values below.
    pub preset: Option<SharedPreset>,
    /// SGD learning rate of ω. Default ENAS's: 20 for cells, 0.05 for CNNs.
    pub learning_rate: f64,
    /// Clip the global norm of ω's gradient. Default ENAS's: 0.25 for
    /// cells, 5 for CNNs.
    pub grad_clip: f64,
    /// ω steps (training batches) per round. Default 400 (ENAS).
    pub omega_steps: usize,
    /// Children scored per round (rounded up to a multiple of m). Default 2000 (ENAS).
    pub controller_samples: usize,
    /// Validation batches (BPTT segments, consecutive, from a zero state)
    /// each child is scored on; successive children take successive
    /// batches, wrapping around. Default 1 (ENAS).
    pub reward_batches: usize,
    /// k: architectures sampled at the end, each scored on the whole
    /// validation split under ω and written ranked to best.json. Default 10.
    pub final_samples: usize,
    /// ω steps between checkpoints inside a round (one is also written after
    /// every controller update). Default 50.
    pub checkpoint_every: usize,
}

impl Default for SharedConfig {
    fn default() -> Self {
        SharedConfig {
            preset: None,
            learning_rate: 20.0,
            grad_clip: 0.25,
            omega_steps: 400,
            controller_samples: 2000,
            reward_batches: 1,
            final_samples: 10,
            checkpoint_every: 50,
        }
    }
}

impl SharedConfig {
    /// Apply ω's optimizer for `space` and the preset to the keys of `self`
    /// and `controller` that are not set explicitly
    /// (`explicit("search.shared.KEY")`, `explicit("controller.KEY")`). A
    /// `controller.preset` keeps the controller's keys to itself.
    pub fn apply_preset(
        &mut self,
        controller: &mut crate::config::ControllerConfig,
        space: SpaceKind,
        explicit: impl Fn(&str) -> bool,
    ) {
        let preset_settings = self.preset.map(|p| p.shared_settings()).unwrap_or_default();
        for (key, set) in shared_optimizer(space).into_iter().chain(preset_settings) {
            if !explicit(&format!("search.shared.{key}")) {
                set(self);
            }
        }
        let Some(preset) = self.preset else {
            return;
        };
        if controller.preset.is_none() {
            for (key, set) in preset.controller_settings(space) {
                if !explicit(&format!("controller.{key}")) {
                    set(controller);
                }
            }
        }
    }
}

/// `[search.tpe]`: the Tree-structured Parzen Estimator. Defaults are
/// Optuna's (`n_startup_trials` 10, γ = 0.1, 24 candidates, prior weight 1)
/// but for the cap on the good children: 10 instead of Optuna's 25 (on the
/// 35-decision synthetic landscape of `configs/declared_synthetic.toml`, a
/// cap of 25 did not reach 0.9 in 500 children on 2 of 3 seeds, 10 did on
/// all 3; BENCHMARKS.md §5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TpeConfig {
    /// Children drawn uniformly before the estimator is used. Default 10.
    pub n_startup: usize,
    /// γ: the fraction of the observed children that counts as good. Default 0.1.
    pub gamma: f64,
    /// At most this many children count as good. Default 10.
    pub max_good: usize,
    /// Candidates drawn from l(x) per proposal; the best l(x)/g(x) is proposed. Default 24.
    pub n_candidates: usize,
    /// Weight of the uniform prior in each decision's counts, in observations. Default 1.
    pub prior_weight: f64,
}

impl Default for TpeConfig {
    fn default() -> Self {
        TpeConfig {
            n_startup: 10,
            gamma: 0.1,
            max_good: 10,
            n_candidates: 24,
            prior_weight: 1.0,
        }
    }
}

/// `[search.evolution]`: regularized (aging) evolution. The population is
/// the last `population` children recorded; each new child is the best of
/// `sample` of them, drawn uniformly, with one decision changed. The first
/// `population` children are drawn uniformly. Defaults are sized for a
/// budget of a few hundred children (Real et al. used P = 100, S = 25 for
/// 20,000).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvolutionConfig {
    /// P: children in the population. Default 20.
    pub population: usize,
    /// S: children drawn for each tournament (at most `population`). Default 5.
    pub sample: usize,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig {
            population: 20,
            sample: 5,
        }
    }
}

/// `[search.early_stop]`: the median stopping rule. After `grace_epochs`,
/// once at least `min_children` other children have reported epoch e, a
/// child whose best validation metric up to e is worse than their median
/// (of the same best-up-to-e) is stopped: status `stopped`, its epochs
/// kept, its reward from its best metric so far.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopConfig {
    /// Whether the rule is applied. Default false.
    pub enabled: bool,
    /// Epochs every child trains before it can be stopped. Default 1.
    pub grace_epochs: usize,
    /// Other children that must have reported an epoch before the rule judges at it. Default 5.
    pub min_children: usize,
}

impl Default for EarlyStopConfig {
    fn default() -> Self {
        EarlyStopConfig {
            enabled: false,
            grace_epochs: 1,
            min_children: 5,
        }
    }
}

fn one() -> usize {
    1
}

fn ten() -> usize {
    10
}

impl SearchConfig {
    /// How many repeats of a run may be free (0 unless `repeats = "free"`),
    /// for a budget of `budget` children.
    pub fn free_repeats(&self, budget: usize) -> usize {
        match self.repeats {
            Repeats::Free => self.free_limit.unwrap_or(budget),
            Repeats::Spend | Repeats::Redraw => 0,
        }
    }

    /// How many times a repeating proposal is drawn again (0 unless `repeats = "redraw"`).
    pub fn redraws(&self) -> usize {
        match self.repeats {
            Repeats::Redraw => self.redraw_limit,
            Repeats::Spend | Repeats::Free => 0,
        }
    }
}
