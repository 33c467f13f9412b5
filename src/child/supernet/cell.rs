//! The supernet of a shared-weights search (ENAS, Pham et al., 2018) in the
//! recurrent-cell space: one [`WordLm`] whose weights ω every cell of the
//! base shares.
//!
//! What is shared, and why: a cell's only variables are its leaves' input
//! and recurrent projections (`w_x`, `w_h` of [`crate::child::FastCell`]);
//! the tree's inner nodes, the inject and the cell-state choice have none.
//! So every architecture of a base has the same variables with the same
//! shapes, and ω is exactly one cell language model's parameter set:
//! embedding, `layers` × (`w_x`, `w_h`), decoder. A child is ω with its own
//! combinations, activations and indices ([`WordLm::set_arch`]); nothing is
//! sliced or masked.
//!
//! ω trains by plain SGD (ENAS's: no momentum, so no optimizer state beyond
//! the step count) on successive BPTT segments of the training stream, the
//! recurrent state carried from one segment to the next (and reset where the
//! stream wraps around), with one architecture per segment. The loss is the
//! per-token cross-entropy (ENAS's; the learning rate of 20 and clip of 0.25
//! are tuned for it). Dropout masks come from tch's RNG, seeded from the
//! experiment seed and the step, so a resumed run repeats the masks.
//!
//! A child is scored by its per-token loss on validation segments under ω
//! from a zero state ([`CellSupernet::score`]), and at the end of a search on the
//! whole validation split ([`CellSupernet::evaluate`]).

use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use super::{clip_grad_norm, read_weights, write_weights, SupernetState};
use crate::child::train::{check_corpus, token_loss, ChildError, Stream};
use crate::child::{init_lm_params, LmState, WordLm};
use crate::config::{LmChildConfig, SharedConfig};
use crate::data::Corpus;
use crate::space::CellArch;

/// ω, its optimizer, and the batchified data it trains and is scored on.
pub struct CellSupernet {
    vs: nn::VarStore,
    model: WordLm,
    opt: nn::Optimizer,
    train: Stream,
    valid: Stream,
    train_segments: Vec<(usize, usize)>,
    valid_segments: Vec<(usize, usize)>,
    batch: i64,
    grad_clip: f64,
    state: LmState,
    steps: u64,
    seed: u64,
    vocab: usize,
    skipped: u64,
    lm: LmChildConfig,
}

impl CellSupernet {
    /// A fresh ω of the shape `lm` describes for cells of `arch`'s base,
    /// initialised from `seed`, with the data of `corpus` on `device`.
    pub fn new(
        arch: &CellArch,
        corpus: &Corpus,
        lm: &LmChildConfig,
        shared: &SharedConfig,
        device: Device,
        seed: u64,
    ) -> Result<CellSupernet, ChildError> {
        let batch = lm.batch_size.max(1);
        check_corpus(corpus, batch)?;
        let vocab = corpus.vocab.words.len();
        let vs = nn::VarStore::new(device);
        let model = WordLm::cell(&vs.root(), arch, vocab, lm)?;
        init_lm_params(&vs, lm.init_range, seed)?;
        let opt = nn::Sgd::default().build(&vs, shared.learning_rate)?;
        let train = Stream::new(&corpus.train, batch, device)?;
        let valid = Stream::new(&corpus.valid, batch, device)?;
        let train_segments = train.segments(lm.bptt);
        let valid_segments = valid.segments(lm.bptt);
        if train_segments.is_empty() || valid_segments.is_empty() {
            return Err(ChildError::Invalid(
                "the training or validation text is too short for one BPTT segment".into(),
            ));
        }
        let state = model.zero_state(batch as i64);
        Ok(CellSupernet {
            vs,
            model,
            opt,
            train,
            valid,
            train_segments,
            valid_segments,
            batch: batch as i64,
            grad_clip: shared.grad_clip,
            state,
            steps: 0,
            seed,
            vocab,
            skipped: 0,
            lm: lm.clone(),
        })
    }

    /// ω's variables (names as [`WordLm::cell`] gives them).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The model, set to the architecture it last evaluated.
    pub fn model(&self) -> &WordLm {
        &self.model
    }

    /// Evaluate `arch` from now on (same base as ω's).
    pub fn set_arch(&mut self, arch: &CellArch) -> Result<(), ChildError> {
        Ok(self.model.set_arch(arch)?)
    }

    /// The model's settings (`[child.lm]`).
    pub fn lm_config(&self) -> &LmChildConfig {
        &self.lm
    }

    /// Words in the vocabulary.
    pub fn model_vocab(&self) -> usize {
        self.vocab
    }

    /// ω steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// BPTT segments in one pass over the training stream (an ω epoch).
    pub fn train_segments(&self) -> usize {
        self.train_segments.len()
    }

    /// BPTT segments of the validation stream.
    pub fn valid_segments(&self) -> usize {
        self.valid_segments.len()
    }

    /// 1-based ω epoch and 1-based batch within it of the next step.
    pub fn position(&self) -> (u64, usize) {
        let n = self.train_segments.len() as u64;
        (self.steps / n + 1, (self.steps % n) as usize + 1)
    }

    /// One ω step: `arch` on the next training segment; the segment's
    /// per-token training loss (before the step). A loss or gradient that is
    /// not finite makes no update (counted in [`CellSupernet::skipped_steps`]).
    pub fn train_step(&mut self, arch: &CellArch) -> Result<f64, ChildError> {
        self.set_arch(arch)?;
        let n = self.train_segments.len();
        let index = (self.steps % n as u64) as usize;
        if index == 0 {
            self.state = self.model.zero_state(self.batch);
        }
        tch::manual_seed(crate::seed::child(self.seed, self.steps) as i64);
        let (start, len) = self.train_segments[index];
        let (x, y) = self.train.segment(start, len)?;
        let (logits, next) = self.model.forward_t(&x, &self.state, true)?;
        let loss = token_loss(&logits, &y, Reduction::Mean)?;
        let value = loss.f_double_value(&[])?;
        self.opt.zero_grad();
        let stepped = value.is_finite() && {
            loss.f_backward()?;
            self.clip_and_step()?
        };
        self.steps += 1;
        if !stepped {
            // An architecture whose state blows up under ω (unbounded
            // activations compound over the steps) gives no update, and the
            // carried state starts again from zero.
            self.opt.zero_grad();
            self.state = self.model.zero_state(self.batch);
            self.skipped += 1;
            return Ok(value);
        }
        self.state = next.detach();
        Ok(value)
    }

    /// Per-token loss of `arch` under ω on `count` consecutive validation
    /// segments from segment `first` (wrapping around), from a zero state.
    pub fn score(&mut self, arch: &CellArch, first: u64, count: usize) -> Result<f64, ChildError> {
        let n = self.valid_segments.len();
        let indices: Vec<usize> = (0..count as u64)
            .map(|k| ((first + k) % n as u64) as usize)
            .collect();
        self.loss_on(arch, &indices)
    }

    /// Per-token loss of `arch` under ω on the whole validation split, from a zero state.
    pub fn evaluate(&mut self, arch: &CellArch) -> Result<f64, ChildError> {
        let indices: Vec<usize> = (0..self.valid_segments.len()).collect();
        self.loss_on(arch, &indices)
    }

    fn loss_on(&mut self, arch: &CellArch, indices: &[usize]) -> Result<f64, ChildError> {
        self.set_arch(arch)?;
        let mut state = self.model.zero_state(self.batch);
        let (mut sum, mut tokens) = (0.0, 0usize);
        for (k, &i) in indices.iter().enumerate() {
            if k > 0 && i == 0 {
                state = self.model.zero_state(self.batch);
            }
            let (start, len) = self.valid_segments[i];
            let (x, y) = self.valid.segment(start, len)?;
            let loss = tch::no_grad(|| -> Result<f64, ChildError> {
                let (logits, next) = self.model.forward_t(&x, &state, false)?;
                state = next;
                Ok(token_loss(&logits, &y, Reduction::Sum)?.f_double_value(&[])?)
            })?;
            sum += loss;
            tokens += len * self.batch as usize;
        }
        Ok(sum / tokens.max(1) as f64)
    }

    /// ω's weights, carried state and step count (for a checkpoint).
    pub fn save(&self) -> Result<SupernetState, ChildError> {
        let weights = read_weights(&self.vs)?;
        let mut carried = Vec::new();
        for (h, c) in &self.state.layers {
            carried.extend(super::to_vec(h)?);
            carried.extend(super::to_vec(c)?);
        }
        Ok(SupernetState {
            weights,
            carried,
            steps: self.steps,
        })
    }

    /// Restore what [`CellSupernet::save`] returned (from a supernet of the same shape).
    pub fn restore(&mut self, saved: &SupernetState) -> Result<(), ChildError> {
        let hidden_len = self.state.layers.len() * 2 * (self.batch * self.hidden()) as usize;
        if saved.carried.len() != hidden_len {
            return Err(ChildError::Invalid(format!(
                "the saved supernet has {} state values, this config's has {hidden_len}: was [child.lm] changed?",
                saved.carried.len()
            )));
        }
        write_weights(&self.vs, &saved.weights, "[child.lm]")?;
        let device = self.vs.device();
        let size = [self.batch, self.hidden()];
        let per = (self.batch * self.hidden()) as usize;
        let piece = |k: usize| -> Result<Tensor, ChildError> {
            Ok(
                Tensor::f_from_slice(&saved.carried[k * per..(k + 1) * per])?
                    .f_view(size)?
                    .f_to_kind(Kind::Float)?
                    .f_to_device(device)?,
            )
        };
        let layers = (0..self.state.layers.len())
            .map(|l| Ok((piece(2 * l)?, piece(2 * l + 1)?)))
            .collect::<Result<Vec<_>, ChildError>>()?;
        self.state = LmState { layers };
        self.steps = saved.steps;
        Ok(())
    }

    /// Clip the gradient's global norm at `grad_clip` and step; false (no
    /// step) when the norm is not finite.
    fn clip_and_step(&mut self) -> Result<bool, ChildError> {
        let grads: Vec<Tensor> = self
            .vs
            .trainable_variables()
            .iter()
            .map(|v| v.grad())
            .filter(|g| g.defined())
            .collect();
        if clip_grad_norm(&grads, self.grad_clip)?.is_none() {
            return Ok(false);
        }
        self.opt.step();
        Ok(true)
    }

    /// ω steps that made no update (their loss or gradient was not finite).
    pub fn skipped_steps(&self) -> u64 {
        self.skipped
    }

    fn hidden(&self) -> i64 {
        self.state.layers.first().map_or(0, |(h, _)| h.size()[1])
    }
}
