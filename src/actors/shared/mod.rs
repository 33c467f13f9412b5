//! The shared-weights search (`search.weights = "shared"`; ENAS, Pham et
//! al., 2018) in the recurrent-cell or the CNN space: one supernet ω
//! ([`crate::child::supernet`]: cells on text, CNNs on images) and one
//! controller, trained in turn.
//!
//! A run is rounds of
//! 1. `search.shared.omega_steps` ω steps, each on the next training batch
//!    with one architecture drawn from the controller;
//! 2. `search.shared.controller_samples` children: each is drawn from the
//!    controller, scored under ω on the next `reward_batches` validation
//!    batches with the paper's reward (`reward.perplexity_c / ppl^exponent`
//!    for cells, `accuracy^exponent` for CNNs),
//!    and recorded in `children.jsonl`; every m of them
//!    (`search.children_per_replica`) make one REINFORCE update of θ through
//!    the one [`Learner`](crate::controller::Learner) rule (baseline,
//!    replay, clipping) and the controller's Adam;
//!
//! until `experiment.budget` children are recorded. Then k architectures
//! (`search.shared.final_samples`) are drawn, scored on the whole validation
//! split under ω, and written ranked to `best.json`, which `nas-actor
//! retrain` trains from scratch. `strategy = "random"` draws uniformly and
//! never updates θ: random search with weight sharing.
//!
//! One supernet on one slot: the first of the configured slots (a GPU when
//! there is one). The work is sequential (a child is scored under ω as it is
//! at that moment, and θ changes between children), so it runs in this
//! thread without actors; the parameter store's asynchrony has nothing to
//! arbitrate here. Several GPUs would each hold an independent ω over their
//! own share of the training batches, all feeding this one controller: not
//! implemented; the other slots stay idle, and the run says so.
//!
//! Reliability: children are appended (and fsynced) before their rewards
//! are used; the checkpoint ([`checkpoint`]) is written after every update
//! and every `checkpoint_every` ω steps. Every random choice comes from the
//! checkpointed RNG or from the step count, so a run killed at any moment
//! and resumed repeats the work since its checkpoint exactly: children
//! already in the log are taken from it instead of being scored again.

pub mod checkpoint;
mod driver;
pub mod progress;
mod search;

pub use driver::run;
