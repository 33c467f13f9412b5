//! The synchronous search core: a controller, its Adam state and baseline,
//! updated from a batch of (tokens, reward) pairs.

use super::adam::global_norm;
use super::{clip_global_norm, Adam, Baseline, Controller, ControllerError, Tape};
use crate::config::ControllerConfig;
use crate::space::{Head, Schema};

/// A controller trained in place with REINFORCE (no parameter store between).
pub struct Reinforce {
    pub controller: Controller,
    pub adam: Adam,
    pub baseline: Baseline,
    grad_clip: Option<f64>,
}

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The REINFORCE loss before the step.
    pub loss: f64,
    /// The baseline the advantages were computed with (before this batch).
    pub baseline: f64,
    /// Mean reward of the batch.
    pub mean_reward: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

impl Reinforce {
    /// A fresh controller (weights from `seed`), Adam with learning rate `lr`,
    /// and a baseline with `cfg.baseline_decay`.
    pub fn new(heads: &[Head], cfg: &ControllerConfig, lr: f64, seed: u64) -> Reinforce {
        let controller = Controller::new(heads, cfg, seed);
        let adam = Adam::new(controller.num_params(), cfg, lr);
        Reinforce {
            controller,
            adam,
            baseline: Baseline::new(cfg.baseline_decay),
            grad_clip: cfg.grad_clip,
        }
    }

    /// One REINFORCE update from `rewards[k]` of `tokens[k]`: advantages
    /// against the baseline, gradient, optional clipping (`grad_clip`), an Adam
    /// step, new parameters. On an error nothing changes.
    pub fn update(
        &mut self,
        schema: &Schema,
        tokens: &[Vec<usize>],
        rewards: &[f64],
    ) -> Result<UpdateStats, ControllerError> {
        super::check_values(tokens.len(), rewards)?;
        self.step(rewards, |c, adv| c.reinforce_gradient(schema, tokens, adv))
    }

    /// [`Reinforce::update`] for samples drawn with
    /// [`Controller::sample_taped`] by this controller (what a search's
    /// replicas do): the gradient is one backward pass over the tape.
    pub fn update_taped(
        &mut self,
        tape: &Tape,
        rewards: &[f64],
    ) -> Result<UpdateStats, ControllerError> {
        super::check_values(tape.len(), rewards)?;
        self.step(rewards, |c, adv| c.reinforce_gradient_taped(tape, adv))
    }

    fn step(
        &mut self,
        rewards: &[f64],
        gradient: impl FnOnce(&Controller, &[f64]) -> Result<(Vec<f32>, f64), ControllerError>,
    ) -> Result<UpdateStats, ControllerError> {
        let mut baseline = self.baseline.clone();
        let before = baseline.value();
        let advantages = baseline.advantages(rewards);
        let (mut grad, loss) = gradient(&self.controller, &advantages)?;
        let grad_norm = match self.grad_clip {
            Some(max) => clip_global_norm(&mut grad, max),
            None => global_norm(&grad),
        };
        let mut params = self.controller.flat_params();
        let mut adam = self.adam.clone();
        adam.step(&mut params, &grad);
        self.controller.set_flat_params(&params)?;
        self.adam = adam;
        self.baseline = baseline;
        Ok(UpdateStats {
            loss,
            baseline: before,
            mean_reward: rewards.iter().sum::<f64>() / rewards.len() as f64,
            grad_norm,
        })
    }
}
