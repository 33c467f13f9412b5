//! Training one child: the entry point [`train`] that never fails (errors,
//! panics, divergence, timeouts and cancellation become a [`ChildOutcome`]
//! status), the analytic [`param_count`], and the checks shared by the CNN and
//! language-model training loops.

mod cnn;
pub(crate) use cnn::{image_tensors, score_batch};
mod lm;
pub use lm::CorpusError;
pub(crate) use lm::{check_corpus, token_loss, Stream};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use tch::{Device, TchError};

use super::final_eval::TrainedModel;
use super::{ChildOutcome, ChildStatus, EpochMetrics, Progress};
use crate::config::{ChildModel, Config};
use crate::data::TaskData;
use crate::space::Architecture;

/// Why a child stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// libtorch reported an error (shape, device, out of memory, ...); its first lines.
    #[error("torch error: {0}")]
    Torch(String),
    /// The training loss was NaN or infinite.
    #[error("the training loss became {loss} at epoch {epoch}, batch {batch}")]
    Diverged {
        epoch: usize,
        batch: usize,
        loss: f64,
    },
    /// The validation loss was NaN although training losses were finite.
    #[error("the validation loss became {loss} after epoch {epoch}")]
    ValidationDiverged { epoch: usize, loss: f64 },
    /// Ran longer than `child.timeout_s`.
    #[error("timed out after {limit} s (child.timeout_s)")]
    TimedOut { limit: f64 },
    /// `Progress::cancelled` asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// The architecture, the data or the config cannot make a child.
    #[error("{0}")]
    Invalid(String),
    /// The image data cannot train a CNN child.
    #[error("{0}")]
    Images(#[from] crate::child::images::ImageDataError),
    /// The text corpus cannot train a language model.
    #[error("{0}")]
    Corpus(#[from] lm::CorpusError),
    /// The language model cannot be built for this architecture and config.
    #[error("{0}")]
    Model(#[from] crate::child::lm::LmError),
    /// Training code panicked.
    #[error("panic while training: {0}")]
    Panic(String),
}

impl From<TchError> for ChildError {
    /// Keeps libtorch's message, without the C++ backtrace that follows it.
    fn from(e: TchError) -> ChildError {
        let text = e.to_string();
        let message = text.split("Exception raised from").next().unwrap_or(&text);
        ChildError::Torch(message.trim().to_string())
    }
}

/// The metric, reward and trained model of a finished child.
struct Finished {
    metric: f64,
    reward: f64,
    model: TrainedModel,
}

/// Stops a child between batches when it runs too long or is cancelled.
struct Clock {
    start: Instant,
    timeout_s: Option<f64>,
}

impl Clock {
    fn check(&self, progress: &dyn Progress) -> Result<(), ChildError> {
        if progress.cancelled() {
            return Err(ChildError::Cancelled);
        }
        match self.timeout_s {
            Some(limit) if self.start.elapsed().as_secs_f64() > limit => {
                Err(ChildError::TimedOut { limit })
            }
            _ => Ok(()),
        }
    }
}

/// What a training loop needs besides the model.
struct Run<'a> {
    config: &'a Config,
    device: Device,
    seed: u64,
    clock: Clock,
    progress: &'a mut dyn Progress,
    /// Metrics of the finished epochs (kept when the child fails later).
    epochs: Vec<EpochMetrics>,
}

impl Run<'_> {
    /// Fail at once when a training loss is not finite.
    fn check_loss(epoch: usize, batch: usize, loss: f64) -> Result<(), ChildError> {
        if loss.is_finite() {
            Ok(())
        } else {
            Err(ChildError::Diverged { epoch, batch, loss })
        }
    }

    /// Close an epoch: a non-finite validation loss diverges; otherwise record and report its metrics.
    fn finish_epoch(
        &mut self,
        epoch: usize,
        train_loss: f64,
        val_loss: f64,
        val_metric: f64,
        started: Instant,
    ) -> Result<(), ChildError> {
        if !val_loss.is_finite() {
            return Err(ChildError::ValidationDiverged {
                epoch,
                loss: val_loss,
            });
        }
        let metrics = EpochMetrics {
            epoch,
            train_loss: Some(train_loss),
            val_loss: Some(val_loss),
            val_metric,
            seconds: started.elapsed().as_secs_f64(),
        };
        self.progress.on_epoch(&metrics);
        self.epochs.push(metrics);
        Ok(())
    }
}

/// Train the child `arch` on `data` with `config.child` on `device`, initialised and
/// shuffled from `seed`. Never panics: errors, panics, a NaN/inf loss (checked every
/// batch, status diverged), `child.timeout_s` and `progress.cancelled()` (checked
/// between batches) become a diverged or failed outcome with `config.reward.failure`.
pub fn train(
    arch: &Architecture,
    config: &Config,
    data: &TaskData,
    device: Device,
    seed: u64,
    progress: &mut dyn Progress,
) -> ChildOutcome {
    train_keeping(arch, config, data, device, seed, progress).0
}

/// [`train`], also returning the trained model when the child finished (status ok).
pub fn train_keeping(
    arch: &Architecture,
    config: &Config,
    data: &TaskData,
    device: Device,
    seed: u64,
    progress: &mut dyn Progress,
) -> (ChildOutcome, Option<TrainedModel>) {
    let start = Instant::now();
    let params = param_count(arch, config, data);
    let mut run = Run {
        config,
        device,
        seed,
        clock: Clock {
            start,
            timeout_s: config.child.timeout_s,
        },
        progress,
        epochs: Vec::new(),
    };
    let result = catch_unwind(AssertUnwindSafe(|| match (arch, data) {
        (Architecture::Cnn(a), TaskData::Images(d)) => cnn::train(&mut run, a, d),
        (Architecture::Cell(a), TaskData::Text(c)) => lm::train(&mut run, a, c),
        (Architecture::Cnn(_), TaskData::Text(_)) => Err(ChildError::Invalid(
            "a CNN architecture cannot train on text data; use image data (cifar10 or idx)".into(),
        )),
        (Architecture::Custom { .. }, _) => Err(ChildError::Invalid(
            "a declared space (search.space = \"custom\") is not trained by the built-in tch models; use child.backend = \"synthetic\" (or, later, a trial command)".into(),
        )),
        (Architecture::Cell(_), TaskData::Images(_)) => Err(ChildError::Invalid(
            "a recurrent-cell architecture cannot train on image data; use text data (ptb)".into(),
        )),
    }))
    .unwrap_or_else(|panic| Err(ChildError::Panic(crate::child::panic_message(&*panic))));
    let seconds = start.elapsed().as_secs_f64();
    let mut model = None;
    let (status, reward, metric, message) = match result {
        Ok(f) => {
            model = Some(f.model);
            (ChildStatus::Ok, f.reward, Some(f.metric), None)
        }
        Err(e) => {
            let status = match e {
                ChildError::Diverged { .. } | ChildError::ValidationDiverged { .. } => {
                    ChildStatus::Diverged
                }
                _ => ChildStatus::Failed,
            };
            (status, config.reward.failure, None, Some(e.to_string()))
        }
    };
    let outcome = ChildOutcome {
        status,
        reward,
        metric,
        epochs: run.epochs,
        params,
        seconds,
        message,
    };
    (outcome, model)
}

/// Trainable parameters of the child `arch` would have on `data`, computed from the
/// architecture (not from a built model). 0 for a mismatched architecture and data.
pub fn param_count(arch: &Architecture, config: &Config, data: &TaskData) -> usize {
    match (arch, data) {
        (Architecture::Cnn(a), TaskData::Images(d)) => {
            super::cnn::param_count(a, d.train.channels, d.classes)
        }
        (Architecture::Cell(a), TaskData::Text(c)) => {
            let vocab = c.vocab.words.len();
            match config.child.model {
                ChildModel::Searched => super::lm::cell_param_count(a, vocab, &config.child.lm),
                ChildModel::Lstm => super::lm::lstm_param_count(vocab, &config.child.lm),
            }
        }
        _ => 0,
    }
}
