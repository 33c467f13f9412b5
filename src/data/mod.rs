//! Data sets for children: Penn Treebank text, CIFAR-10 binary batches and
//! MNIST-format IDX images. Std only (no tch): children turn these into tensors.
//! The test split is only read by [`load_ptb_test`] / [`load_images_test`]
//! (used by `nas-actor retrain`), never during a search.

use std::path::PathBuf;

/// Data that is missing, unreadable or malformed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// TODO(data helper): variants with messages that name the file and the fix.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Word ↔ id mapping built from the training text.
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
