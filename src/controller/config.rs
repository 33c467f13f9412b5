//! `[controller]`: the LSTM policy, its REINFORCE update and the presets.

use serde::{Deserialize, Serialize};

use crate::space::SpaceKind;

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
