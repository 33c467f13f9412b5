//! The supernets of a shared-weights search (ENAS, Pham et al., 2018): the
//! weights ω every child of the space shares, how they train, and how a
//! child is scored under them.
//!
//! - [`CellSupernet`]: the recurrent-cell space on a text corpus (every cell
//!   of a base has the same variables, so ω is one cell language model);
//! - [`CnnSupernet`]: the CNN space on images (one kernel per layer, input
//!   and filter shape at the largest filter count, sliced to the child's).
//!
//! [`Omega`] is either, behind the one interface the search uses.

mod cell;
mod cnn;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

pub use cell::CellSupernet;
pub use cnn::{CnnSupernet, CnnSupernetConfig};

use crate::child::ChildError;
use crate::config::Config;
use crate::data::TaskData;
use crate::space::Architecture;
use crate::task::Metric;

/// What a checkpoint keeps of ω: the weights, the state carried from one
/// step to the next, and the steps taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupernetState {
    /// Every variable, flattened, in the order of their sorted names.
    pub weights: Vec<f32>,
    /// What the next step continues from: the cell supernet's recurrent
    /// state (`h` then `c` of every layer, each `[batch, hidden]`), the CNN
    /// supernet's momentum buffers (in the order of `weights`).
    pub carried: Vec<f32>,
    /// ω steps taken (they name the next training batch).
    pub steps: u64,
}

/// A child's score under ω on some validation batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Mean loss (per token, or per image).
    pub loss: f64,
    /// The task's metric: perplexity (`exp(loss)`) or accuracy.
    pub metric: f64,
}

/// The supernet of either space.
pub enum Omega {
    Cell(CellSupernet),
    Cnn(CnnSupernet),
}

impl Omega {
    /// A fresh ω for `config`'s space over `data`, built around `first` (a
    /// cell supernet takes its base from it), initialised from `seed`.
    pub fn new(
        config: &Config,
        data: TaskData,
        first: &Architecture,
        device: Device,
        seed: u64,
    ) -> Result<Omega, ChildError> {
        match (data, first) {
            (TaskData::Text(corpus), Architecture::Cell(cell)) => {
                Ok(Omega::Cell(CellSupernet::new(
                    cell,
                    &corpus,
                    &config.child.lm,
                    &config.search.shared,
                    device,
                    seed,
                )?))
            }
            (TaskData::Images(images), Architecture::Cnn(_)) => Ok(Omega::Cnn(CnnSupernet::new(
                &CnnSupernetConfig::of(config),
                images,
                device,
                seed,
            )?)),
            _ => Err(ChildError::Invalid(
                "shared weights need cells with text data (data.dataset = \"ptb\") or CNNs with images".into(),
            )),
        }
    }

    /// The metric children are scored by.
    pub fn metric(&self) -> Metric {
        match self {
            Omega::Cell(_) => Metric::perplexity(),
            Omega::Cnn(_) => Metric::accuracy(),
        }
    }

    /// One ω step with `arch` on the next training batch; its loss.
    pub fn train_step(&mut self, arch: &Architecture) -> Result<f64, ChildError> {
        match (self, arch) {
            (Omega::Cell(net), Architecture::Cell(a)) => net.train_step(a),
            (Omega::Cnn(net), Architecture::Cnn(a)) => net.train_step(a),
            _ => Err(mismatch()),
        }
    }

    /// `arch` under ω on `count` validation batches from batch `first` (wrapping around).
    pub fn score(
        &mut self,
        arch: &Architecture,
        first: u64,
        count: usize,
    ) -> Result<Scored, ChildError> {
        match (self, arch) {
            (Omega::Cell(net), Architecture::Cell(a)) => {
                Ok(perplexity(net.score(a, first, count)?))
            }
            (Omega::Cnn(net), Architecture::Cnn(a)) => net.score(a, first, count),
            _ => Err(mismatch()),
        }
    }

    /// `arch` under ω on the whole validation split.
    pub fn evaluate(&mut self, arch: &Architecture) -> Result<Scored, ChildError> {
        match (self, arch) {
            (Omega::Cell(net), Architecture::Cell(a)) => Ok(perplexity(net.evaluate(a)?)),
            (Omega::Cnn(net), Architecture::Cnn(a)) => net.evaluate(a),
            _ => Err(mismatch()),
        }
    }

    /// 1-based ω epoch and 1-based batch within it of the next step.
    pub fn position(&self) -> (u64, usize) {
        match self {
            Omega::Cell(net) => net.position(),
            Omega::Cnn(net) => net.position(),
        }
    }

    /// Training batches in one ω epoch.
    pub fn train_batches(&self) -> usize {
        match self {
            Omega::Cell(net) => net.train_segments(),
            Omega::Cnn(net) => net.train_batches(),
        }
    }

    /// Validation batches.
    pub fn valid_batches(&self) -> usize {
        match self {
            Omega::Cell(net) => net.valid_segments(),
            Omega::Cnn(net) => net.valid_batches(),
        }
    }

    /// Trainable parameters of `arch` as a child of its own.
    pub fn param_count(&self, arch: &Architecture) -> usize {
        match (self, arch) {
            (Omega::Cell(net), Architecture::Cell(a)) => {
                crate::child::lm::cell_param_count(a, net.model_vocab(), net.lm_config())
            }
            (Omega::Cnn(net), Architecture::Cnn(a)) => net.param_count(a),
            _ => 0,
        }
    }

    /// ω's weights, carried state and steps (for a checkpoint).
    pub fn save(&self) -> Result<SupernetState, ChildError> {
        match self {
            Omega::Cell(net) => net.save(),
            Omega::Cnn(net) => net.save(),
        }
    }

    /// Restore what [`Omega::save`] returned.
    pub fn restore(&mut self, saved: &SupernetState) -> Result<(), ChildError> {
        match self {
            Omega::Cell(net) => net.restore(saved),
            Omega::Cnn(net) => net.restore(saved),
        }
    }

    /// Trainable values of ω.
    pub fn size(&self) -> usize {
        let vs = match self {
            Omega::Cell(net) => net.var_store(),
            Omega::Cnn(net) => net.var_store(),
        };
        vs.trainable_variables().iter().map(|t| t.numel()).sum()
    }
}

fn perplexity(loss: f64) -> Scored {
    Scored {
        loss,
        metric: loss.exp(),
    }
}

fn mismatch() -> ChildError {
    ChildError::Invalid("the architecture is not of the supernet's space".into())
}

/// The variables of `vs`, sorted by name.
fn sorted(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Every variable of `vs`, flattened in the order of their sorted names.
fn read_weights(vs: &nn::VarStore) -> Result<Vec<f32>, ChildError> {
    let mut weights = Vec::new();
    for (_, t) in sorted(vs) {
        weights.extend(to_vec(&t)?);
    }
    Ok(weights)
}

/// Overwrite the variables of `vs` with what [`read_weights`] returned;
/// `section` names the config table whose change would explain a mismatch.
fn write_weights(vs: &nn::VarStore, weights: &[f32], section: &str) -> Result<(), ChildError> {
    let vars: Vec<Tensor> = sorted(vs).into_iter().map(|(_, t)| t).collect();
    write_flat(&vars, weights, section)
}

/// Overwrite `tensors`, in order, with the consecutive values of `values`.
fn write_flat(tensors: &[Tensor], values: &[f32], section: &str) -> Result<(), ChildError> {
    let total: usize = tensors.iter().map(|t| t.numel()).sum();
    if values.len() != total {
        return Err(ChildError::Invalid(format!(
            "the saved supernet has {} weights, this config's has {total}: was {section} changed?",
            values.len()
        )));
    }
    let mut at = 0;
    tch::no_grad(|| -> Result<(), ChildError> {
        for t in tensors {
            let n = t.numel();
            let mut t = t.shallow_clone();
            let src = Tensor::f_from_slice(&values[at..at + n])?
                .f_view_(t.size().as_slice())?
                .f_to_device(t.device())?;
            t.f_copy_(&src)?;
            at += n;
        }
        Ok(())
    })
}

/// Scale `grads` in place so that their global norm is at most `max`; the
/// norm before scaling, or None (nothing scaled) when it is not finite.
fn clip_grad_norm(grads: &[Tensor], max: f64) -> Result<Option<f64>, ChildError> {
    let mut sq = 0.0;
    for g in grads {
        let n = g.f_norm()?.f_double_value(&[])?;
        sq += n * n;
    }
    let norm = sq.sqrt();
    if !norm.is_finite() {
        return Ok(None);
    }
    if norm > max {
        let scale = max / (norm + 1e-6);
        tch::no_grad(|| -> Result<(), ChildError> {
            for g in grads {
                let mut g = g.shallow_clone();
                let _ = g.f_mul_scalar_(scale)?;
            }
            Ok(())
        })?;
    }
    Ok(Some(norm))
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>, ChildError> {
    let flat = t
        .f_detach()?
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_flatten(0, -1)?;
    Ok(Vec::<f32>::try_from(&flat)?)
}
