//! `[retrain]`: the final grid of `nas-actor retrain`.

use serde::{Deserialize, Serialize};

use crate::child::config::LrSchedule;

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
