//! Child networks: build a tch model from an [`Architecture`](crate::space::Architecture),
//! train and evaluate it, turn its metrics into the paper's reward.
//!
//! - [`cnn`]: the CNN child (conv → batch norm → ReLU → optional max pool, skip
//!   connections by zero-padded depth concatenation, global average pooling, linear classifier);
//! - [`cell`]: the searched recurrent cell, evaluated with one fused input projection per
//!   sequence and one fused recurrent projection per step ([`FastCell`]);
//! - [`lm`]: the word-level language model around a cell or tch's LSTM ([`WordLm`]);
//! - [`images`]: standardisation and augmentation of image batches;
//! - [`ChildSpec`]: one child to train, as a serialisable job;
//! - [`train()`]: train one child and report a [`ChildOutcome`]; [`param_count`]: its size;
//! - [`reward`]: validation metrics → reward;
//! - [`supernet`]: the shared weights ω of a shared-weights search (ENAS), cells or CNNs;
//! - [`pace`]: how fast children train, and what a budget of them will take;
//! - [`final_eval`]: the trained model of a finished child, saved, reloaded and
//!   evaluated once on the test set (`nas-actor retrain`).
//!
//! Determinism: parameters are initialised from a `ChaCha8Rng` seeded by the child's seed, and
//! batch order and augmentation decisions come from the same kind of RNG, never from tch's
//! process-global RNG (trainers run in parallel threads). Dropout masks are the one exception:
//! they use tch's RNG, so language models with dropout are not bit-reproducible.

pub mod cell;
pub mod cnn;
pub mod config;
pub mod final_eval;
pub mod images;
mod init;
pub mod lm;
mod outcome;
pub mod pace;
pub mod reward;
mod spec;
pub mod supernet;
mod train;
pub mod trained;

pub use cell::{CellState, FastCell};
pub use cnn::CnnChild;
pub use init::{init_cnn_params, init_lm_params};
pub use lm::{LmState, WordLm};
pub use outcome::{
    panic_message, ChildOutcome, ChildStatus, EpochMetrics, NoProgress, Placement, Progress,
    CANCELLED,
};
pub use spec::ChildSpec;
pub use train::{param_count, train, train_keeping, ChildError, CorpusError};
