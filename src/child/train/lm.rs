//! The language-model training loop: truncated BPTT over a batchified token
//! stream (hidden state carried across segments, detached), plain SGD with
//! gradient-norm clipping and per-epoch learning-rate decay (Zaremba et al.),
//! validation perplexity after every epoch.
//!
//! As in Zaremba et al., the gradient is that of the cross-entropy summed over
//! the segment's time steps and averaged over the batch (which is what a
//! learning rate of 1 and a clip norm of 5 are tuned for); reported losses are
//! per token.
//!
//! With `child.train_batches` below the stream's segment count, each epoch
//! continues where the previous one stopped (wrapping around, with a fresh
//! state at the wrap), so successive epochs see different text.

use std::time::Instant;

use tch::nn::{self, OptimizerConfig};
use tch::{Device, Reduction, Tensor};

use super::{ChildError, Finished, Run};
use crate::child::trained::TrainedModel;
use crate::child::{init_lm_params, lm, reward, WordLm};
use crate::config::{ChildModel, LmChildConfig};
use crate::data::Corpus;
use crate::space::CellArch;

/// A batchified token stream on the device: `[batch, len]`.
pub(crate) struct Stream {
    data: Tensor,
    len: usize,
}

impl Stream {
    pub(crate) fn new(tokens: &[i64], batch: usize, device: Device) -> Result<Stream, ChildError> {
        let (flat, len) = lm::batchify(tokens, batch);
        let data = Tensor::f_from_slice(&flat)?
            .f_view([batch as i64, len as i64])?
            .f_to_device(device)?;
        Ok(Stream { data, len })
    }

    /// `(start, length)` of every BPTT segment; the targets are one token further.
    pub(crate) fn segments(&self, bptt: usize) -> Vec<(usize, usize)> {
        (0..self.len.saturating_sub(1))
            .step_by(bptt.max(1))
            .map(|s| (s, bptt.min(self.len - 1 - s)))
            .collect()
    }

    /// Inputs and targets of a segment, time-major `[T, B]`.
    pub(crate) fn segment(&self, start: usize, len: usize) -> Result<(Tensor, Tensor), ChildError> {
        let x = self.data.f_narrow(1, start as i64, len as i64)?.f_tr()?;
        let y = self
            .data
            .f_narrow(1, start as i64 + 1, len as i64)?
            .f_tr()?;
        Ok((x, y))
    }
}

/// Why a corpus cannot train a language model. `set` names the split
/// (`training` or `validation`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorpusError {
    /// The vocabulary has no words.
    #[error("the vocabulary is empty")]
    EmptyVocabulary,
    /// A split is too short for two tokens per batch row.
    #[error("the {set} text has {tokens} tokens; child.lm.batch_size = {batch} needs at least {}", 2 * .batch)]
    TooShort {
        set: &'static str,
        tokens: usize,
        batch: usize,
    },
    /// A split holds a token id that is not a word of the vocabulary.
    #[error("the {set} text has token id {token}, outside the vocabulary 0..{vocab}")]
    UnknownToken {
        set: &'static str,
        token: i64,
        vocab: i64,
    },
}

/// Why a corpus cannot train a model with batch size `batch`.
pub(crate) fn check_corpus(corpus: &Corpus, batch: usize) -> Result<(), CorpusError> {
    let vocab = corpus.vocab.words.len() as i64;
    if vocab == 0 {
        return Err(CorpusError::EmptyVocabulary);
    }
    for (set, tokens) in [("training", &corpus.train), ("validation", &corpus.valid)] {
        if tokens.len() < 2 * batch {
            return Err(CorpusError::TooShort {
                set,
                tokens: tokens.len(),
                batch,
            });
        }
        if let Some(&token) = tokens.iter().find(|&&t| t < 0 || t >= vocab) {
            return Err(CorpusError::UnknownToken { set, token, vocab });
        }
    }
    Ok(())
}

/// The learning rate of 1-based `epoch`: decayed by `lr_decay` every epoch from `decay_start_epoch`.
pub(super) fn learning_rate(cfg: &LmChildConfig, epoch: usize) -> f64 {
    let decays = (epoch + 1).saturating_sub(cfg.decay_start_epoch.max(1));
    cfg.learning_rate * cfg.lr_decay.powi(decays as i32)
}

/// Cross-entropy per token of logits `[T, B, V]` against targets `[T, B]`.
pub(crate) fn token_loss(
    logits: &Tensor,
    targets: &Tensor,
    reduction: Reduction,
) -> Result<Tensor, ChildError> {
    let v = logits.size()[2];
    Ok(logits.f_reshape([-1, v])?.f_cross_entropy_loss(
        &targets.f_reshape([-1])?,
        None::<Tensor>,
        reduction,
        -100,
        0.0,
    )?)
}

/// Mean per-token loss on (the first `child.val_batches` segments of) the validation stream.
fn evaluate(run: &Run, model: &WordLm, valid: &Stream, batch: usize) -> Result<f64, ChildError> {
    let segments = valid.segments(run.config.child.lm.bptt);
    let count = run
        .config
        .child
        .val_batches
        .map_or(segments.len(), |b| b.min(segments.len()));
    let mut state = model.zero_state(batch as i64);
    let (mut sum, mut tokens) = (0.0, 0usize);
    for &(start, len) in &segments[..count] {
        run.clock.check(&*run.progress)?;
        let (x, y) = valid.segment(start, len)?;
        let loss = tch::no_grad(|| -> Result<f64, ChildError> {
            let (logits, next) = model.forward_t(&x, &state, false)?;
            state = next;
            Ok(token_loss(&logits, &y, Reduction::Sum)?.f_double_value(&[])?)
        })?;
        sum += loss;
        tokens += len * batch;
    }
    Ok(sum / tokens.max(1) as f64)
}

/// Train a language-model child (the searched cell, or the LSTM baseline when
/// `child.model = "lstm"`); its reward is `c / perplexity^exponent` of the final
/// validation perplexity.
pub(super) fn train(
    run: &mut Run,
    arch: &CellArch,
    corpus: &Corpus,
) -> Result<Finished, ChildError> {
    let config = run.config;
    let cfg = &config.child.lm;
    let batch = cfg.batch_size.max(1);
    check_corpus(corpus, batch)?;
    let vocab = corpus.vocab.words.len();
    let vs = nn::VarStore::new(run.device);
    let model = match config.child.model {
        ChildModel::Searched => WordLm::cell(&vs.root(), arch, vocab, cfg),
        ChildModel::Lstm => WordLm::lstm(&vs.root(), vocab, cfg),
    }?;
    init_lm_params(&vs, cfg.init_range, run.seed)?;
    let mut opt = nn::Sgd::default().build(&vs, cfg.learning_rate)?;
    let train = Stream::new(&corpus.train, batch, run.device)?;
    let valid = Stream::new(&corpus.valid, batch, run.device)?;
    let segments = train.segments(cfg.bptt);
    let batches = config
        .child
        .train_batches
        .map_or(segments.len(), |b| b.min(segments.len()));
    for epoch in 1..=cfg.epochs {
        let started = Instant::now();
        opt.set_lr(learning_rate(cfg, epoch));
        let mut state = model.zero_state(batch as i64);
        let mut loss_sum = 0.0;
        let offset = (epoch - 1) * batches % segments.len().max(1);
        for b in 0..batches {
            run.clock.check(&*run.progress)?;
            let index = (offset + b) % segments.len();
            if index == 0 && b > 0 {
                state = model.zero_state(batch as i64);
            }
            let (start, len) = segments[index];
            let (x, y) = train.segment(start, len)?;
            let (logits, next) = model.forward_t(&x, &state, true)?;
            let loss = token_loss(&logits, &y, Reduction::Mean)?;
            let value = loss.f_double_value(&[])?;
            Run::check_loss(epoch, b + 1, value)?;
            opt.zero_grad();
            (loss * len as f64).f_backward()?;
            opt.clip_grad_norm(cfg.grad_clip);
            opt.step();
            state = next.detach();
            loss_sum += value;
            run.progress.on_batch(epoch, b + 1, batches, value);
        }
        let val_loss = evaluate(run, &model, &valid, batch)?;
        let train_loss = loss_sum / batches.max(1) as f64;
        run.finish_epoch(epoch, train_loss, val_loss, val_loss.exp(), started)?;
    }
    let perplexity =
        run.epochs.last().map(|e| e.val_metric).ok_or_else(|| {
            ChildError::Invalid("child.lm.epochs is 0: nothing was trained".into())
        })?;
    Ok(Finished {
        metric: perplexity,
        reward: reward::perplexity_reward(perplexity, &config.reward),
        model: TrainedModel::Lm { vs, model },
    })
}

#[cfg(test)]
mod tests {
    use super::{check_corpus, learning_rate, CorpusError};
    use crate::config::LmChildConfig;
    use crate::data::{Corpus, Vocab};

    #[test]
    fn a_corpus_too_short_for_the_batch_names_the_split_and_the_fix() {
        let corpus = Corpus {
            vocab: Vocab {
                words: vec!["a".into(), "b".into(), "c".into()],
            },
            train: vec![0, 1, 2, 0, 1, 2, 0, 1],
            valid: vec![2, 1, 0],
        };
        assert_eq!(check_corpus(&corpus, 1), Ok(()));
        let e = check_corpus(&corpus, 2).expect_err("too short");
        assert_eq!(
            e,
            CorpusError::TooShort {
                set: "validation",
                tokens: 3,
                batch: 2
            }
        );
        assert_eq!(
            e.to_string(),
            "the validation text has 3 tokens; child.lm.batch_size = 2 needs at least 4"
        );
        let mut bad = corpus.clone();
        bad.valid = vec![0, 1, 3, 2];
        assert_eq!(
            check_corpus(&bad, 2),
            Err(CorpusError::UnknownToken {
                set: "validation",
                token: 3,
                vocab: 3
            })
        );
    }

    #[test]
    fn learning_rate_decays_from_the_start_epoch() {
        let cfg = LmChildConfig {
            learning_rate: 1.0,
            lr_decay: 0.5,
            decay_start_epoch: 3,
            ..Default::default()
        };
        assert_eq!(learning_rate(&cfg, 1), 1.0);
        assert_eq!(learning_rate(&cfg, 2), 1.0);
        assert_eq!(learning_rate(&cfg, 3), 0.5);
        assert_eq!(learning_rate(&cfg, 5), 0.125);
    }
}
