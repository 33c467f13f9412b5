//! The paper's controller as a proposer: one per replica (K of them), each
//! with m children of its own in flight, its own baseline, sampling RNG and
//! replay list, and REINFORCE updates of exactly m rewards
//! ([`crate::controller::Learner`]: baseline, policy gradient, replay of the
//! best, clipping — the one implementation).
//!
//! # Sampling (`search.sampling`)
//! - `"refill"` (default): when one of the replica's children ends, a
//!   replacement is sampled at once with the replica's current θ, so its m
//!   slots never wait for a sibling. Every m observed rewards make one
//!   update. Each child's term of the gradient is taken against the θ it
//!   was sampled with (the tape of its sampling holds those weights), so
//!   an update mixes children of a few versions exactly as the paper's
//!   asynchronous replicas mix versions across replicas: the staleness of
//!   each child is recorded in `updates.jsonl` (`sampled_versions`).
//! - `"batch"`: the paper's synchronous replica: sample m with θ, wait for
//!   all m rewards, update, sample the next m with the θ the update returns.
//!
//! Rewards observed since the last update are not checkpointed: a resumed
//! run's replica starts a fresh group of m (as a batch in flight was
//! dropped before refill existed).

use std::collections::HashMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::Sampling;
use super::{BuildContext, Proposal, Proposer, ReplicaState, SearchError, Update};
use crate::config::Config;
use crate::controller::{Controller, Learner, LearnerState, Tape, TapedSample};
use crate::space::{Schema, SearchSpace};

/// The K replicas of a run, with their checkpointed states.
pub fn build(config: &Config, cx: &BuildContext<'_>) -> Vec<(usize, Box<dyn Proposer>)> {
    let heads = cx.space.heads();
    (0..config.search.replicas)
        .map(|i| {
            let state = cx
                .replicas
                .get(&i)
                .cloned()
                .unwrap_or_else(|| ReplicaState {
                    baseline: crate::controller::Baseline::starting(
                        config.controller.baseline_decay,
                        config.controller.baseline_init,
                    ),
                    rng: ChaCha8Rng::seed_from_u64(crate::seed::replica(config.experiment.seed, i)),
                    updates: 0,
                    best: Vec::new(),
                });
            let controller = Controller::new(&heads, &config.controller, config.experiment.seed);
            let p: Box<dyn Proposer> = Box::new(Reinforce::new(config, controller, state));
            (i, p)
        })
        .collect()
}

/// Children sampled together with θ at one version.
struct Group {
    tape: Tape,
    /// Children of the group not yet part of an update.
    open: usize,
}

/// A child out, or observed and waiting for its update.
struct Out {
    group: u64,
    row: usize,
    version: u64,
}

/// One controller replica.
pub struct Reinforce {
    controller: Controller,
    learner: Learner,
    state: LearnerState,
    rng: ChaCha8Rng,
    updates: u64,
    m: usize,
    sampling: Sampling,
    /// The θ version the controller holds.
    version: u64,
    groups: HashMap<u64, Group>,
    next_group: u64,
    out: HashMap<u64, Out>,
    /// Observed since the last update: (id, tokens, reward), in order.
    pending: Vec<(u64, Vec<usize>, f64)>,
}

impl Reinforce {
    /// A replica of `config` with `controller` (θ comes with the first
    /// [`Proposer::set_params`]) and its restored (or fresh) state.
    pub fn new(config: &Config, controller: Controller, state: ReplicaState) -> Reinforce {
        Reinforce {
            controller,
            learner: Learner::new(&config.controller),
            state: LearnerState {
                baseline: state.baseline,
                best: state.best,
            },
            rng: state.rng,
            updates: state.updates,
            m: config.search.children_per_replica.max(1),
            sampling: config.search.sampling,
            version: 0,
            groups: HashMap::new(),
            next_group: 0,
            out: HashMap::new(),
            pending: Vec::new(),
        }
    }

    fn replica_state(&self) -> ReplicaState {
        ReplicaState {
            baseline: self.state.baseline.clone(),
            rng: self.rng.clone(),
            updates: self.updates,
            best: self.state.best.clone(),
        }
    }

    /// The update of the pending rewards.
    fn update(&mut self, schema: &Schema) -> Result<Update, SearchError> {
        let pending = std::mem::take(&mut self.pending);
        let mut outs = Vec::with_capacity(pending.len());
        for (id, _, _) in &pending {
            outs.push(self.out.remove(id).ok_or(SearchError::Unknown(*id))?);
        }
        let mut samples = Vec::with_capacity(pending.len());
        for ((_, tokens, reward), o) in pending.iter().zip(&outs) {
            let g = self
                .groups
                .get(&o.group)
                .ok_or(SearchError::Unknown(o.group))?;
            samples.push(TapedSample {
                tape: &g.tape,
                row: o.row,
                tokens,
                reward: *reward,
            });
        }
        let g = self
            .learner
            .gradient_taped(&self.controller, schema, &mut self.state, &samples)?;
        for o in &outs {
            if let Some(group) = self.groups.get_mut(&o.group) {
                group.open = group.open.saturating_sub(1);
            }
        }
        self.groups.retain(|_, g| g.open > 0);
        self.updates += 1;
        Ok(Update {
            grad: g.grad,
            children: pending.iter().map(|p| p.0).collect(),
            rewards: pending.iter().map(|p| p.2).collect(),
            versions: outs.iter().map(|o| o.version).collect(),
            loss: g.loss,
            grad_norm: g.grad_norm,
            state: self.replica_state(),
        })
    }
}

impl Proposer for Reinforce {
    fn wanted(&self, in_flight: usize) -> usize {
        match self.sampling {
            Sampling::Refill => self.m.saturating_sub(in_flight),
            Sampling::Batch if in_flight == 0 && self.pending.is_empty() => self.m,
            Sampling::Batch => 0,
        }
    }

    fn propose(
        &mut self,
        ids: &[u64],
        schema: &Schema,
        _space: &SearchSpace,
    ) -> Result<Vec<Proposal>, SearchError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (sampled, tape) = self
            .controller
            .sample_taped(schema, ids.len(), &mut self.rng)?;
        let group = self.next_group;
        self.next_group += 1;
        self.groups.insert(
            group,
            Group {
                tape,
                open: ids.len(),
            },
        );
        let mut out = Vec::with_capacity(ids.len());
        for (row, (id, s)) in ids.iter().zip(sampled).enumerate() {
            self.out.insert(
                *id,
                Out {
                    group,
                    row,
                    version: self.version,
                },
            );
            out.push(Proposal {
                tokens: s.tokens,
                version: self.version,
            });
        }
        Ok(out)
    }

    fn observe(
        &mut self,
        id: u64,
        tokens: &[usize],
        reward: f64,
        schema: &Schema,
    ) -> Result<Option<Update>, SearchError> {
        if !self.out.contains_key(&id) {
            return Err(SearchError::Unknown(id));
        }
        self.pending.push((id, tokens.to_vec(), reward));
        if self.pending.len() >= self.m {
            return self.update(schema).map(Some);
        }
        Ok(None)
    }

    /// The dropped sample leaves its group (no reward, no part of an
    /// update); the new one is drawn with the replica's RNG as it goes on.
    fn redraw(
        &mut self,
        id: u64,
        _attempt: usize,
        schema: &Schema,
        space: &SearchSpace,
    ) -> Result<Proposal, SearchError> {
        if let Some(o) = self.out.remove(&id) {
            if let Some(g) = self.groups.get_mut(&o.group) {
                g.open = g.open.saturating_sub(1);
                if g.open == 0 {
                    self.groups.remove(&o.group);
                }
            }
        }
        self.propose(&[id], schema, space)?
            .pop()
            .ok_or(SearchError::Unknown(id))
    }

    fn finish(&mut self, schema: &Schema) -> Result<Option<Update>, SearchError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        self.update(schema).map(Some)
    }

    fn set_params(&mut self, version: u64, weights: &[f32]) -> Result<(), SearchError> {
        self.controller.set_flat_params(weights)?;
        self.version = version;
        Ok(())
    }

    fn needs_params(&self) -> bool {
        true
    }
}
