//! `[data]`: which data set children are trained on, where it lives and how
//! much of it a child sees; and the unused `[data]` of a synthetic run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::SpaceKind;

/// Which data set children are trained on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// Penn Treebank (ptb.train/valid/test.txt).
    Ptb,
    /// CIFAR-10 binary batches.
    Cifar10,
    /// MNIST-format IDX files (Fashion-MNIST, MNIST), plain or gzipped.
    Idx,
}

/// `[data]`: where the data lives and how much of it a child sees.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `"ptb"`, `"cifar10"` or `"idx"`.
    pub dataset: Dataset,
    /// Directory of the files.
    pub dir: PathBuf,
    /// Images held out of the training files for validation. Paper: 5,000.
    #[serde(default = "default_val_size")]
    pub val_size: usize,
    /// Use only the first N training tokens/images (a slice for small machines).
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Use only the first N validation tokens/images.
    #[serde(default)]
    pub val_limit: Option<usize>,
}

fn default_val_size() -> usize {
    5000
}

impl DataConfig {
    /// What a config without `[data]` parses to, before its space is known.
    pub(super) fn absent() -> DataConfig {
        DataConfig {
            dataset: Dataset::Ptb,
            dir: PathBuf::new(),
            val_size: default_val_size(),
            train_limit: None,
            val_limit: None,
        }
    }

    /// The `[data]` of a synthetic run that has none: the dataset that fits
    /// `space` (so the metric's name is right) and an empty `dir`.
    pub fn unused(space: SpaceKind) -> DataConfig {
        DataConfig {
            dataset: match space {
                SpaceKind::Cnn | SpaceKind::Custom => Dataset::Cifar10,
                SpaceKind::Cell => Dataset::Ptb,
            },
            ..DataConfig::absent()
        }
    }

    /// Whether this is a synthetic run's [`DataConfig::unused`] (no data is read).
    pub fn is_unused(&self) -> bool {
        self.dir.as_os_str().is_empty()
    }
}
