//! Child networks: build a tch model from an [`Architecture`](crate::space::Architecture),
//! train and evaluate it, turn its metrics into the paper's reward.

mod outcome;

pub use outcome::{ChildOutcome, ChildStatus, EpochMetrics, NoProgress, Progress};
