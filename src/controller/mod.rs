//! The controller: a two-layer LSTM policy over a space's token schema,
//! skip-connection attention, REINFORCE with a moving-average baseline.
//!
//! # The policy ([`Controller`])
//! - An LSTM with `controller.layers` layers of `controller.hidden_size`
//!   units (paper: 2 × 35). Every weight is drawn uniformly from
//!   `[-init_range, init_range]` (paper: 0.08) with a `ChaCha8Rng` seeded
//!   from the seed given to [`Controller::new`], never with tch's global RNG.
//! - Each decision type (a [`Head`] of the space) has its own softmax head
//!   (a linear layer on the top hidden state) and its own input embedding
//!   (embedding size = hidden size). A sampled token's embedding is the next
//!   step's input; the first step's input is a learned `start` embedding.
//! - [`Step::Anchor`]`{layer: i}`: the LSTM runs one step (its input is the
//!   previous token's embedding, as for a choice); the top hidden state `h_i`
//!   is the anchor of layer `i`. Then, for every earlier layer `j < i`, in
//!   `j` order, the skip token is drawn from
//!   `P(j feeds i) = sigmoid(vᵀ tanh(W_prev h_j + W_curr h_i))` (1 = feeds).
//!   Skip decisions are not fed back into the LSTM; the step after an anchor
//!   gets a learned `anchor` embedding as its input. Anchors must appear in
//!   layer order 0, 1, 2, … (as the CNN schema has them).
//! - Optional logit shaping (off by default, as in the paper), applied to
//!   softmax logits and skip logits alike: `logits / temperature`, then
//!   `tanh_constant · tanh(logits)`.
//! - Weights and the LSTM are `f32`; logits are turned into log-probabilities
//!   and entropies in `f64` on both paths, so the log-probability
//!   [`Controller::sample`] reports and the one [`Controller::log_prob`]
//!   recomputes agree to ~1e-6 even for 150-token sequences. Parameters
//!   travel as flat `f32` vectors ([`Controller::flat_params`]), in the order
//!   of the sorted variable names of the `VarStore`.
//! - Sampling steps the batch through `lstm_cell`s (one step at a time, the
//!   tokens are not known ahead); scoring known tokens runs the whole batch
//!   through one `Tensor::lstm` call. Same weights, same maths.
//! - Sampling runs under `tch::no_grad`: torch computes the logits, the draws
//!   come from the caller's `ChaCha8Rng`. Same seed, same architectures.
//!
//! # Learning
//! [`Controller::reinforce_gradient`] gives the flat gradient of
//! `loss = −1/m Σ_k adv_k · Σ_t log P(a_t | a_<t) − entropy_weight · mean_k H_k`,
//! where `H_k` is the summed entropy of every decision of sequence `k`.
//! [`Baseline`] turns rewards into advantages, [`Learner`] makes one
//! update's gradient (baseline, policy gradient at the θ each sample was
//! drawn with, replay of the best, clipping), [`Adam`] steps flat vectors,
//! and [`Reinforce`] ties them together for a synchronous search.

mod adam;
mod baseline;
pub mod config;
mod dense;
mod plan;
mod policy;
mod reinforce;
mod sample;
mod score;
mod tape;

pub use adam::{clip_global_norm, Adam};
pub use baseline::{Baseline, BaselineInit};
pub use policy::Controller;
pub use reinforce::{
    keep_best, Gradient, Learner, LearnerState, Reinforce, TapedSample, UpdateStats,
};
pub use tape::Tape;

use serde::{Deserialize, Serialize};

use crate::space::SpaceError;
#[cfg(doc)]
use crate::space::{Head, Step};

/// Why a controller operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// A flat parameter vector of the wrong length (e.g. a checkpoint of another space or size).
    #[error(
        "the controller has {expected} parameters, got {got}; the checkpoint or parameter store \
         belongs to a different space or controller config (hidden_size, layers)"
    )]
    ParamLength { expected: usize, got: usize },
    /// The schema's heads differ from the heads the controller was built with.
    #[error("the schema does not fit this controller: {0}")]
    Schema(String),
    /// A token sequence that does not fit the schema.
    #[error("token sequence {index} does not fit the schema: {source}")]
    Tokens {
        index: usize,
        #[source]
        source: SpaceError,
    },
    /// Token sequences and advantages (or rewards) of different counts.
    #[error("{tokens} token sequences but {values} rewards/advantages; give one per sequence")]
    BatchMismatch { tokens: usize, values: usize },
    /// An update with no sequences.
    #[error("an update needs at least one token sequence")]
    EmptyBatch,
    /// A reward or advantage that is NaN or infinite.
    #[error("reward/advantage {index} is {value}, not a finite number; check the reward function")]
    NonFinite { index: usize, value: f64 },
    /// The taped gradient has no values of the right size for a parameter
    /// tensor (a bug: the tape and the controller's tensors disagree).
    #[error(
        "the taped gradient has {} for parameter tensor {index} ({numel} values); \
         the controller's tensors do not match the tape",
        got.map_or("no values".to_string(), |n| format!("{n} values"))
    )]
    GradientLayout {
        index: usize,
        numel: usize,
        got: Option<usize>,
    },
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Check one reward or advantage per sequence (`sequences` of them), all finite.
pub(crate) fn check_values(sequences: usize, values: &[f64]) -> Result<(), ControllerError> {
    if values.len() != sequences {
        return Err(ControllerError::BatchMismatch {
            tokens: sequences,
            values: values.len(),
        });
    }
    match values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, value)) => Err(ControllerError::NonFinite {
            index,
            value: *value,
        }),
        None => Ok(()),
    }
}

/// One sampled token sequence with its log-probability and entropy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampled {
    /// The tokens, in the schema's order.
    pub tokens: Vec<usize>,
    /// log P(tokens) under the controller that sampled them (natural log).
    pub log_prob: f64,
    /// Summed entropy (nats) of the distributions of every decision taken.
    pub entropy: f64,
}
