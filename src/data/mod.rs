//! Data sets for children: Penn Treebank text, CIFAR-10 binary batches and
//! MNIST-format IDX images. Std only (no tch): children turn these into tensors.
//! The test split is only read by [`load_ptb_test`] / [`load_images_test`]
//! (used by `nas-actor retrain`), never during a search.
//!
//! [`synthetic`] writes small learnable data sets in the real file formats,
//! for tests and examples.

mod cifar;
mod error;
mod idx;
mod ptb;
mod split;
pub mod synthetic;

use std::path::Path;

use crate::config::{DataConfig, Dataset};

pub use error::{DataError, CIFAR_HINT, IDX_HINT, PTB_HINT};
pub use ptb::{load_ptb, load_ptb_test, EOS};
pub use split::MIN_STD;

/// Word ↔ id mapping built from the training text: `words[id]` is the word.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    pub words: Vec<String>,
}

/// A tokenised language-modelling corpus (train and validation only).
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub vocab: Vocab,
    pub train: Vec<i64>,
    pub valid: Vec<i64>,
}

/// Images as raw bytes, N×C×H×W, with integer labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub pixels: Vec<u8>,
    pub labels: Vec<i64>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// Train/validation images and the per-channel statistics of the training part.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageData {
    pub train: ImageSet,
    pub valid: ImageSet,
    /// Per-channel mean of the training pixels, in [0, 1] units.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the training pixels, in [0, 1] units.
    pub std: Vec<f32>,
    pub classes: usize,
}

/// The data a search's children train on.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskData {
    Text(Corpus),
    Images(ImageData),
}

impl TaskData {
    /// Training examples: images, or tokens of the training stream.
    pub fn train_len(&self) -> usize {
        match self {
            TaskData::Text(c) => c.train.len(),
            TaskData::Images(d) => d.train.labels.len(),
        }
    }
}

/// Load what `cfg` names for a search: the PTB training and validation texts,
/// or the training images split into training and validation parts with `seed`.
/// Never reads a test split.
pub fn load(cfg: &DataConfig, seed: u64) -> Result<TaskData, DataError> {
    match cfg.dataset {
        Dataset::Ptb => load_ptb(&cfg.dir, cfg.train_limit, cfg.val_limit).map(TaskData::Text),
        Dataset::Cifar10 | Dataset::Idx => load_images(cfg, seed).map(TaskData::Images),
    }
}

/// The training images of `cfg.dir`, split into `cfg.val_size` validation
/// images and the rest (a permutation drawn from `seed`), then cut to
/// `cfg.train_limit` / `cfg.val_limit`; mean and std are those of the
/// training part after the limit.
pub fn load_images(cfg: &DataConfig, seed: u64) -> Result<ImageData, DataError> {
    let (all, classes) = match cfg.dataset {
        Dataset::Cifar10 => (cifar::read_train(&cfg.dir)?, cifar::CLASSES),
        Dataset::Idx => (idx::read_train(&cfg.dir)?, idx::CLASSES),
        Dataset::Ptb => return Err(not_images(&cfg.dir)),
    };
    let (mut train, mut valid) = split::split(&all, cfg.val_size, seed, &cfg.dir)?;
    drop(all);
    if let Some(n) = cfg.train_limit {
        train.truncate(n);
    }
    if let Some(n) = cfg.val_limit {
        valid.truncate(n);
    }
    let (mean, std) = split::channel_stats(&train);
    Ok(ImageData {
        train,
        valid,
        mean,
        std,
        classes,
    })
}

/// The test images of `cfg.dir` (CIFAR-10 `test_batch.bin`, IDX `t10k-*`),
/// in file order, without limits. Used only by `nas-actor retrain`.
pub fn load_images_test(cfg: &DataConfig) -> Result<ImageSet, DataError> {
    match cfg.dataset {
        Dataset::Cifar10 => cifar::read_test(&cfg.dir),
        Dataset::Idx => idx::read_test(&cfg.dir),
        Dataset::Ptb => Err(not_images(&cfg.dir)),
    }
}

fn not_images(dir: &Path) -> DataError {
    DataError::NotImages {
        dir: dir.to_path_buf(),
    }
}
