//! Search strategies as plug-ins, and the schedulers beside them.
//!
//! # Proposers
//! A [`Proposer`] is one strategy's state machine, with no actors: it
//! proposes token sequences for the child ids it is given ([`Proposer::propose`]),
//! observes the rewards of finished children and returns a controller
//! update when one is due ([`Proposer::observe`]), takes θ after an applied
//! update ([`Proposer::set_params`]), and hands out what a checkpoint must
//! keep ([`Proposer::state`]). One actor (`actors::proposer`) drives any
//! proposer: budget, decode, hash, the child's spec, the lifecycle.
//!
//! The strategies: [`reinforce`] (the paper's controller, one proposer per
//! replica), [`random`], [`evolution`] (regularized evolution) and [`tpe`]
//! (the Tree-structured Parzen Estimator). [`build`] is the one place that
//! knows them all: a new strategy is one file here and one line there.
//!
//! # Schedulers
//! The median stopping rule ([`early_stop`]) stops children whose learning
//! curve trails; it is applied by the trainers, apart from who proposes.
//!
//! No actix here; the REINFORCE proposer uses the controller (tch).

mod checkpoint;
pub mod config;
pub mod early_stop;
pub mod evolution;
pub mod random;
pub mod reinforce;
pub mod tpe;

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use checkpoint::{Checkpoint, Shard};
pub use early_stop::{Compute, MedianRule};
pub use evolution::{mutate, Evolution, Member};

use crate::config::{Config, Strategy};
use crate::controller::{Baseline, ControllerError};
use crate::space::{Schema, SearchSpace, SpaceError};
use crate::store::ChildRecord;

/// Why a proposer cannot go on (the run ends with the message).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The controller refused to sample or to compute a gradient.
    #[error("controller")]
    Controller(#[from] ControllerError),
    /// A proposal does not fit the space (a bug of the strategy).
    #[error("a proposed token sequence does not fit the space")]
    Space(#[from] SpaceError),
    /// A child this proposer did not propose was reported to it (a bug).
    #[error("child {0} was not proposed by this proposer")]
    Unknown(u64),
}

/// One proposed child: its tokens and the θ version they were sampled with
/// (0 for strategies without a controller).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub tokens: Vec<usize>,
    pub version: u64,
}

/// A controller update that is due: the gradient of exactly m rewards (fewer
/// only at the end of the budget), each child's term taken against the θ
/// version that sampled it.
#[derive(Debug, Clone)]
pub struct Update {
    /// Flat gradient, in the layout of θ.
    pub grad: Vec<f32>,
    /// The children whose rewards made it, in the order they were observed.
    pub children: Vec<u64>,
    pub rewards: Vec<f64>,
    /// The θ version each child was sampled with.
    pub versions: Vec<u64>,
    pub loss: f64,
    pub grad_norm: f64,
    /// The proposer's state after the update (checkpointed with θ).
    pub state: ReplicaState,
}

/// What a checkpoint keeps of a controller replica (the REINFORCE proposer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaState {
    /// Moving-average baseline of the replica's previous rewards.
    pub baseline: Baseline,
    /// The replica's sampling RNG after its last update.
    pub rng: ChaCha8Rng,
    /// Controller updates this replica has pushed.
    pub updates: u64,
    /// The best (tokens, reward) the replica has seen, best first, at most
    /// `controller.replay_top` (empty when replay is off).
    #[serde(default)]
    pub best: Vec<(Vec<usize>, f64)>,
}

/// One strategy's proposals and what it learns from the results.
pub trait Proposer: Send {
    /// How many children to propose now, with `in_flight` of this
    /// proposer's children out and no update pending. Refill strategies
    /// keep a fixed number out; the paper's batch mode proposes m only
    /// once all m of the last batch are in.
    fn wanted(&self, in_flight: usize) -> usize;

    /// Propose one child for each of `ids`. `schema` is what a new
    /// architecture has at this point of the run (the CNN growth schedule).
    fn propose(
        &mut self,
        ids: &[u64],
        schema: &Schema,
        space: &SearchSpace,
    ) -> Result<Vec<Proposal>, SearchError>;

    /// Child `id` (proposed with `tokens`) was recorded with `reward`. An
    /// update when one is due. `schema` as in [`Proposer::propose`].
    fn observe(
        &mut self,
        id: u64,
        tokens: &[usize],
        reward: f64,
        schema: &Schema,
    ) -> Result<Option<Update>, SearchError>;

    /// Child `id`'s proposal repeats an architecture (`search.repeats =
    /// "redraw"`): drop it and propose another, the `attempt`-th (1, 2, …)
    /// redraw. By default: [`Proposer::propose`] again, for proposers whose
    /// draws go on from one RNG; those whose draws for a child come from
    /// its id must draw differently per attempt.
    fn redraw(
        &mut self,
        id: u64,
        _attempt: usize,
        schema: &Schema,
        space: &SearchSpace,
    ) -> Result<Proposal, SearchError> {
        self.propose(&[id], schema, space)?
            .pop()
            .ok_or(SearchError::Unknown(id))
    }

    /// The budget is spent and no child is in flight: the update of the
    /// rewards observed since the last one (fewer than m), if any.
    fn finish(&mut self, _schema: &Schema) -> Result<Option<Update>, SearchError> {
        Ok(None)
    }

    /// θ at `version` (after an applied update, or pulled at the start).
    fn set_params(&mut self, _version: u64, _weights: &[f32]) -> Result<(), SearchError> {
        Ok(())
    }

    /// Whether the proposer samples with θ (it needs a pull before its first proposal).
    fn needs_params(&self) -> bool {
        false
    }
}

/// The proposers of a run, by the replica index the log and the checkpoint
/// know them by.
pub struct Proposers {
    pub proposers: Vec<(usize, Box<dyn Proposer>)>,
}

/// What [`build`] needs besides the config.
pub struct BuildContext<'a> {
    pub space: &'a SearchSpace,
    /// The resumed run's log, in record order (empty for a new run).
    pub records: &'a [ChildRecord],
    /// The checkpointed replica states (empty for a new run).
    pub replicas: &'a BTreeMap<usize, ReplicaState>,
    /// Trainer slots: children kept in flight by the strategies that never wait.
    pub slots: usize,
}

/// The proposers `config.search.strategy` names: the one place that matches on it.
pub fn build(config: &Config, cx: &BuildContext<'_>) -> Proposers {
    let proposers: Vec<(usize, Box<dyn Proposer>)> = match config.search.strategy {
        Strategy::Reinforce => reinforce::build(config, cx),
        Strategy::Random => vec![(0, Box::new(random::Random::new(config, cx)))],
        Strategy::Evolution => vec![(0, Box::new(evolution::Evolver::new(config, cx)))],
        Strategy::Tpe => vec![(0, Box::new(tpe::Tpe::new(config, cx)))],
    };
    Proposers { proposers }
}

/// How many options each token position of `schema` has (skip tokens: 2).
pub fn options(schema: &Schema) -> Vec<usize> {
    let mut sizes = Vec::with_capacity(schema.num_tokens());
    for step in &schema.steps {
        match *step {
            crate::space::Step::Choice { head } => sizes.push(schema.heads[head].size),
            crate::space::Step::Anchor { layer } => sizes.extend(std::iter::repeat_n(2, layer)),
        }
    }
    sizes
}
