//! The REINFORCE update, in one place: advantages against the moving-average
//! baseline, the policy gradient (against the θ each sample was drawn
//! with), the replay of the best, and gradient clipping ([`Learner`]); and
//! a controller trained in place with it, for a synchronous search
//! ([`Reinforce`], used by the examples and the tests). The search's
//! REINFORCE proposer (`search::reinforce`) uses the same [`Learner`].

use serde::{Deserialize, Serialize};

use super::adam::global_norm;
use super::{clip_global_norm, Adam, Baseline, Controller, ControllerError, Tape};
use crate::config::ControllerConfig;
use crate::space::{Head, Schema};

/// What an update must carry across a restart: the baseline and the list of
/// the best architectures seen (the replay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnerState {
    /// Moving-average baseline of the previous rewards.
    pub baseline: Baseline,
    /// The best (tokens, reward) seen, best first, at most
    /// `controller.replay_top` (empty when replay is off).
    pub best: Vec<(Vec<usize>, f64)>,
}

impl LearnerState {
    /// A fresh state: the baseline at its start, no best yet.
    pub fn new(cfg: &ControllerConfig) -> LearnerState {
        LearnerState {
            baseline: Baseline::starting(cfg.baseline_decay, cfg.baseline_init),
            best: Vec::new(),
        }
    }
}

/// One update's gradient, before the optimizer step.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// Flat gradient, in the layout of [`Controller::flat_params`] (clipped when configured).
    pub grad: Vec<f32>,
    /// The REINFORCE loss (plus the replay term).
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// The baseline the advantages were computed with (before this update).
    pub baseline: f64,
}

/// The REINFORCE update rule of a controller config: replay and clipping.
#[derive(Debug, Clone, PartialEq)]
pub struct Learner {
    grad_clip: Option<f64>,
    replay_top: usize,
    replay_weight: f64,
}

/// One sample of an update: the tape it was drawn on, its row there, its tokens and reward.
pub struct TapedSample<'a> {
    pub tape: &'a Tape,
    pub row: usize,
    pub tokens: &'a [usize],
    pub reward: f64,
}

impl Learner {
    /// The rule `cfg` sets (`grad_clip`, `replay_top`, `replay_weight`).
    pub fn new(cfg: &ControllerConfig) -> Learner {
        Learner {
            grad_clip: cfg.grad_clip,
            replay_top: cfg.replay_top,
            replay_weight: cfg.replay_weight,
        }
    }

    /// The update of `rewards[k]` for `tokens[k]`: advantages against the
    /// baseline, the policy gradient (`policy(controller, advantages)`), the
    /// replay of the best (within `schema`, the architectures a new sample
    /// has now: under a growth schedule shorter ones are left out), and
    /// clipping. `state` changes only when the whole update succeeds.
    pub fn gradient(
        &self,
        controller: &Controller,
        schema: &Schema,
        state: &mut LearnerState,
        tokens: &[&[usize]],
        rewards: &[f64],
        policy: impl FnOnce(&Controller, &[f64]) -> Result<(Vec<f32>, f64), ControllerError>,
    ) -> Result<Gradient, ControllerError> {
        super::check_values(tokens.len(), rewards)?;
        let mut next = state.clone();
        let before = next.baseline.value();
        let advantages = next.baseline.advantages(rewards);
        let (mut grad, mut loss) = policy(controller, &advantages)?;
        if self.replay_top > 0 {
            keep_best(&mut next.best, tokens, rewards, self.replay_top);
            let best: Vec<Vec<usize>> = next
                .best
                .iter()
                .filter(|(t, _)| schema.check(t).is_ok())
                .map(|(t, _)| t.clone())
                .collect();
            if !best.is_empty() {
                let (g, l) = controller.imitation_gradient(schema, &best, self.replay_weight)?;
                grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                loss += l;
            }
        }
        let grad_norm = match self.grad_clip {
            Some(max) => clip_global_norm(&mut grad, max),
            None => global_norm(&grad),
        };
        *state = next;
        Ok(Gradient {
            grad,
            loss,
            grad_norm,
            baseline: before,
        })
    }

    /// [`Learner::gradient`] for samples drawn with
    /// [`Controller::sample_taped`], possibly on several tapes (at several θ
    /// versions): each sample's term is taken against the weights of the
    /// tape it was drawn on, and the terms add up to the update of all of
    /// them (`1/m` with m = `samples.len()`).
    pub fn gradient_taped(
        &self,
        controller: &Controller,
        schema: &Schema,
        state: &mut LearnerState,
        samples: &[TapedSample<'_>],
    ) -> Result<Gradient, ControllerError> {
        let tokens: Vec<&[usize]> = samples.iter().map(|s| s.tokens).collect();
        let rewards: Vec<f64> = samples.iter().map(|s| s.reward).collect();
        self.gradient(controller, schema, state, &tokens, &rewards, |c, adv| {
            policy_taped(c, samples, adv)
        })
    }
}

/// The policy-gradient terms of `samples` (with `advantages`), tape by tape.
fn policy_taped(
    controller: &Controller,
    samples: &[TapedSample<'_>],
    advantages: &[f64],
) -> Result<(Vec<f32>, f64), ControllerError> {
    let m = samples.len();
    let mut total: Option<(Vec<f32>, f64)> = None;
    let mut done = vec![false; m];
    for i in 0..m {
        if done[i] {
            continue;
        }
        let tape = samples[i].tape;
        let mut rows = vec![None; tape.len()];
        for (j, s) in samples.iter().enumerate().skip(i) {
            if std::ptr::eq(s.tape, tape) {
                let row = rows.get_mut(s.row).ok_or(ControllerError::BatchMismatch {
                    tokens: tape.len(),
                    values: s.row + 1,
                })?;
                *row = Some(advantages[j]);
                done[j] = true;
            }
        }
        let (g, l) = controller.reinforce_gradient_rows(tape, &rows, m)?;
        match &mut total {
            None => total = Some((g, l)),
            Some((tg, tl)) => {
                tg.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                *tl += l;
            }
        }
    }
    total.ok_or(ControllerError::EmptyBatch)
}

/// Merge an update's samples into the list of the best (tokens, reward),
/// best first, at most `k`, each token sequence once (with its highest
/// reward). Ties keep the earlier entry first, so the list is deterministic.
pub fn keep_best(
    best: &mut Vec<(Vec<usize>, f64)>,
    tokens: &[&[usize]],
    rewards: &[f64],
    k: usize,
) {
    for (t, &r) in tokens.iter().zip(rewards) {
        if !r.is_finite() {
            continue;
        }
        match best.iter_mut().find(|(b, _)| b == t) {
            Some(entry) => entry.1 = entry.1.max(r),
            None => best.push((t.to_vec(), r)),
        }
    }
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    best.truncate(k);
}

/// A controller trained in place with REINFORCE (no parameter store between).
pub struct Reinforce {
    pub controller: Controller,
    pub adam: Adam,
    /// The baseline and the replay list.
    pub state: LearnerState,
    learner: Learner,
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
    /// and the update rule of `cfg` (baseline, replay, clipping).
    pub fn new(heads: &[Head], cfg: &ControllerConfig, lr: f64, seed: u64) -> Reinforce {
        let controller = Controller::new(heads, cfg, seed);
        let adam = Adam::new(controller.num_params(), cfg, lr);
        Reinforce {
            controller,
            adam,
            state: LearnerState::new(cfg),
            learner: Learner::new(cfg),
        }
    }

    /// The baseline.
    pub fn baseline(&self) -> &Baseline {
        &self.state.baseline
    }

    /// One REINFORCE update from `rewards[k]` of `tokens[k]`: advantages
    /// against the baseline, gradient, replay, clipping, an Adam step, new
    /// parameters. On an error nothing changes.
    pub fn update(
        &mut self,
        schema: &Schema,
        tokens: &[Vec<usize>],
        rewards: &[f64],
    ) -> Result<UpdateStats, ControllerError> {
        let refs: Vec<&[usize]> = tokens.iter().map(Vec::as_slice).collect();
        let mut state = self.state.clone();
        let g = self.learner.gradient(
            &self.controller,
            schema,
            &mut state,
            &refs,
            rewards,
            |c, adv| c.reinforce_gradient(schema, tokens, adv),
        )?;
        self.step(g, state, rewards)
    }

    /// [`Reinforce::update`] for samples drawn with
    /// [`Controller::sample_taped`] by this controller (what a search's
    /// replicas do): the gradient is one backward pass over the tape.
    pub fn update_taped(
        &mut self,
        schema: &Schema,
        tape: &Tape,
        tokens: &[Vec<usize>],
        rewards: &[f64],
    ) -> Result<UpdateStats, ControllerError> {
        super::check_values(tape.len(), rewards)?;
        let samples: Vec<TapedSample<'_>> = tokens
            .iter()
            .zip(rewards)
            .enumerate()
            .map(|(row, (t, &reward))| TapedSample {
                tape,
                row,
                tokens: t,
                reward,
            })
            .collect();
        let mut state = self.state.clone();
        let g = self
            .learner
            .gradient_taped(&self.controller, schema, &mut state, &samples)?;
        self.step(g, state, rewards)
    }

    fn step(
        &mut self,
        g: Gradient,
        state: LearnerState,
        rewards: &[f64],
    ) -> Result<UpdateStats, ControllerError> {
        let mut params = self.controller.flat_params();
        let mut adam = self.adam.clone();
        adam.step(&mut params, &g.grad);
        self.controller.set_flat_params(&params)?;
        self.adam = adam;
        self.state = state;
        Ok(UpdateStats {
            loss: g.loss,
            baseline: g.baseline,
            mean_reward: rewards.iter().sum::<f64>() / rewards.len() as f64,
            grad_norm: g.grad_norm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::keep_best;

    #[test]
    fn keep_best_keeps_the_k_highest_once_each() {
        let mut best = vec![(vec![0, 1], 0.5)];
        let tokens: Vec<&[usize]> = vec![&[1, 1], &[0, 1], &[2, 2], &[3, 3]];
        keep_best(&mut best, &tokens, &[0.9, 0.7, f64::NAN, 0.1], 2);
        assert_eq!(best, vec![(vec![1, 1], 0.9), (vec![0, 1], 0.7)]);
        keep_best(&mut best, &[&[4, 4]], &[0.8], 2);
        assert_eq!(best, vec![(vec![1, 1], 0.9), (vec![4, 4], 0.8)]);
    }
}
