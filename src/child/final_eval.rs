//! The trained model of a finished child, for `nas-actor retrain`: saved as
//! safetensors, rebuilt and reloaded from such a file, and evaluated on the
//! test set — the one place a test split is ever used.
//!
//! Test metrics: a CNN's accuracy over every test image (batches of
//! `child.cnn.batch_size`, no augmentation, batch norm in eval mode); a
//! language model's perplexity over the whole test text as one stream
//! (batch size 1, as Zaremba et al. report it; segments of `child.lm.bptt`
//! tokens with the state carried across them, dropout off).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Reduction, Tensor};

use super::train::{image_tensors, score_batch, token_loss};
use super::{lm, ChildError, CnnChild, WordLm};
use crate::config::{ChildModel, Config};
use crate::data::{ImageData, ImageSet, TaskData};
use crate::space::Architecture;

pub use super::trained::TrainedModel;

/// The test split of a task, read by `data::load_images_test` / `data::load_ptb_test`.
#[derive(Debug, Clone, PartialEq)]
pub enum TestSet {
    Images(ImageSet),
    /// Token ids in the training vocabulary.
    Text(Vec<i64>),
}

/// The result of evaluating one model on the test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    /// Mean cross-entropy per image or per token.
    pub loss: f64,
    /// Accuracy in [0, 1] (CNN) or perplexity (language model).
    pub metric: f64,
    /// Images or tokens evaluated.
    pub count: usize,
}

impl TrainedModel {
    /// Build the network `arch` would be trained as under `config` (its
    /// `child.model` and `child.cnn.bn_eps`) on `data`'s shapes, on `device`,
    /// with the variables read from the safetensors file `path`.
    pub fn load(
        arch: &Architecture,
        config: &Config,
        data: &TaskData,
        device: Device,
        path: &Path,
    ) -> Result<TrainedModel, ChildError> {
        /// The network before its VarStore is filled.
        enum Net {
            Cnn(CnnChild),
            Lm(WordLm),
        }
        let mut vs = nn::VarStore::new(device);
        let net =
            match (arch, data) {
                (Architecture::Cnn(a), TaskData::Images(d)) => Net::Cnn(CnnChild::new(
                    &vs.root(),
                    a,
                    d.train.channels,
                    d.classes,
                    config.space.cnn.pool_size,
                    config.child.cnn.bn_eps,
                )),
                (Architecture::Cell(a), TaskData::Text(c)) => {
                    let vocab = c.vocab.words.len();
                    let cfg = &config.child.lm;
                    let model = match config.child.model {
                        ChildModel::Searched => WordLm::cell(&vs.root(), a, vocab, cfg),
                        ChildModel::Lstm => WordLm::lstm(&vs.root(), vocab, cfg),
                    };
                    Net::Lm(model?)
                }
                _ => return Err(ChildError::Invalid(
                    "the architecture's space does not match the data (CNN ↔ images, cell ↔ text)"
                        .into(),
                )),
            };
        vs.load(path)?;
        Ok(match net {
            Net::Cnn(model) => TrainedModel::Cnn { vs, model },
            Net::Lm(model) => TrainedModel::Lm { vs, model },
        })
    }

    /// The VarStore holding the variables.
    pub fn var_store(&self) -> &nn::VarStore {
        match self {
            TrainedModel::Cnn { vs, .. } | TrainedModel::Lm { vs, .. } => vs,
        }
    }

    /// Save every variable (batch-norm running statistics included) as
    /// safetensors; `path` must end in `.safetensors`.
    pub fn save(&self, path: &Path) -> Result<(), ChildError> {
        Ok(self.var_store().save(path)?)
    }

    /// Evaluate on the test split (see the module doc for how), with the
    /// training images' statistics `data` for standardisation.
    pub fn evaluate_test(
        &self,
        config: &Config,
        data: &TaskData,
        test: &TestSet,
    ) -> Result<TestMetrics, ChildError> {
        let device = self.var_store().device();
        match (self, data, test) {
            (TrainedModel::Cnn { model, .. }, TaskData::Images(d), TestSet::Images(set)) => {
                test_images(model, d, set, config.child.cnn.batch_size.max(1), device)
            }
            (TrainedModel::Lm { model, .. }, TaskData::Text(_), TestSet::Text(tokens)) => {
                test_text(model, tokens, config.child.lm.bptt.max(1), device)
            }
            _ => Err(ChildError::Invalid(
                "the test set does not match the model (images ↔ CNN, text ↔ language model)"
                    .into(),
            )),
        }
    }
}

/// Accuracy and mean loss over every image of `set`.
fn test_images(
    model: &CnnChild,
    data: &ImageData,
    set: &ImageSet,
    batch: usize,
    device: Device,
) -> Result<TestMetrics, ChildError> {
    let train = &data.train;
    if (set.channels, set.height, set.width) != (train.channels, train.height, train.width) {
        return Err(ChildError::Invalid(format!(
            "the test images are {}×{}×{}, the training images {}×{}×{}",
            set.channels, set.height, set.width, train.channels, train.height, train.width
        )));
    }
    let n = set.labels.len();
    if n == 0 {
        return Err(ChildError::Invalid("the test set has no images".into()));
    }
    let (mut loss_sum, mut correct) = (0.0, 0.0);
    for start in (0..n).step_by(batch) {
        let indices: Vec<usize> = (start..(start + batch).min(n)).collect();
        let (x, y) = image_tensors(data, set, &indices, None, device)?;
        let (loss, hits) = score_batch(model, &x, &y)?;
        loss_sum += loss;
        correct += hits;
    }
    Ok(TestMetrics {
        loss: loss_sum / n as f64,
        metric: correct / n as f64,
        count: n,
    })
}

/// Perplexity over the test text as one stream (batch size 1).
fn test_text(
    model: &WordLm,
    tokens: &[i64],
    bptt: usize,
    device: Device,
) -> Result<TestMetrics, ChildError> {
    if tokens.len() < 2 {
        return Err(ChildError::Invalid(format!(
            "the test text has {} tokens; at least 2 are needed",
            tokens.len()
        )));
    }
    let (flat, len) = lm::batchify(tokens, 1);
    let stream = Tensor::f_from_slice(&flat)?
        .f_view([len as i64, 1])?
        .f_to_device(device)?;
    let mut state = model.zero_state(1);
    let (mut sum, mut count) = (0.0, 0usize);
    let mut start = 0;
    while start + 1 < len {
        let steps = bptt.min(len - 1 - start);
        let x = stream.f_narrow(0, start as i64, steps as i64)?;
        let y = stream.f_narrow(0, start as i64 + 1, steps as i64)?;
        let loss = tch::no_grad(|| -> Result<f64, ChildError> {
            let (logits, next) = model.forward_t(&x, &state, false)?;
            state = next;
            let loss = token_loss(&logits, &y, Reduction::Sum)?;
            Ok(loss.f_double_value(&[])?)
        })?;
        sum += loss;
        count += steps;
        start += steps;
    }
    let loss = sum / count.max(1) as f64;
    Ok(TestMetrics {
        loss,
        metric: loss.exp(),
        count,
    })
}
