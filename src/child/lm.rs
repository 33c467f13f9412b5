//! The word-level language model around the searched cell or tch's LSTM:
//! embedding → dropout → `layers` recurrent layers, each followed by dropout
//! (between layers and before the decoder) → linear decoder, optionally tied
//! to the embedding. Also batchifying a token stream into `[batch, len]`.
//!
//! Dropout uses tch's (process-global) RNG.

use tch::{nn, nn::RNN, Kind, TchError, Tensor};

use super::cell::{self, CellError, CellState, FastCell};
use crate::config::LmChildConfig;
use crate::space::CellArch;

/// Why a language model cannot be built, or cannot switch its cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LmError {
    /// Tied embeddings need the embedding and hidden sizes to agree.
    #[error(
        "child.lm.tied needs embedding_size == hidden_size, got {embedding_size} and {hidden_size}"
    )]
    Untied {
        embedding_size: usize,
        hidden_size: usize,
    },
    /// The searched cell cannot be built or switched to.
    #[error("{0}")]
    Cell(#[from] CellError),
    /// The LSTM baseline has no searched cell whose architecture could change.
    #[error("the LSTM baseline has no cell to switch")]
    NoCell,
}

/// One recurrent layer.
#[derive(Debug)]
enum Recurrent {
    Cell(FastCell),
    Lstm(nn::LSTM),
}

/// The recurrent state of every layer: `(h, c)`, each `[B, H]`.
#[derive(Debug)]
pub struct LmState {
    pub layers: Vec<(Tensor, Tensor)>,
}

impl LmState {
    /// Every tensor cut from the autograd graph (truncated BPTT).
    pub fn detach(&self) -> LmState {
        LmState {
            layers: self
                .layers
                .iter()
                .map(|(h, c)| (h.detach(), c.detach()))
                .collect(),
        }
    }
}

/// A word-level language model.
#[derive(Debug)]
pub struct WordLm {
    /// `[vocab, embedding]`.
    encoder: Tensor,
    layers: Vec<Recurrent>,
    /// `[vocab, hidden]`; `None` when tied to the encoder.
    decoder: Option<Tensor>,
    /// `[vocab]`.
    decoder_bias: Tensor,
    hidden: i64,
    dropout: f64,
}

/// The decoder variable (absent when tied) and bias, and the encoder.
fn embeddings(p: &nn::Path, vocab: usize, cfg: &LmChildConfig) -> (Tensor, Option<Tensor>, Tensor) {
    let init = nn::Init::Uniform { lo: -0.1, up: 0.1 };
    let (v, e, h) = (
        vocab as i64,
        cfg.embedding_size as i64,
        cfg.hidden_size as i64,
    );
    let encoder = p.var("encoder", &[v, e], init);
    let decoder = (!cfg.tied).then(|| (p / "decoder").var("weight", &[v, h], init));
    let bias = (p / "decoder").var("bias", &[v], nn::Init::Const(0.0));
    (encoder, decoder, bias)
}

impl WordLm {
    /// A model of `cfg.layers` layers of the searched cell. Variables: `encoder`,
    /// `layer{l}.w_x`, `layer{l}.w_h`, `decoder.weight` (untied), `decoder.bias`.
    /// Tied embeddings need `embedding_size == hidden_size`.
    pub fn cell(
        p: &nn::Path,
        arch: &CellArch,
        vocab: usize,
        cfg: &LmChildConfig,
    ) -> Result<WordLm, LmError> {
        check_tied(cfg)?;
        let layers = (0..cfg.layers)
            .map(|l| {
                let input = if l == 0 {
                    cfg.embedding_size
                } else {
                    cfg.hidden_size
                };
                FastCell::new(&(p / format!("layer{l}")), arch, input, cfg.hidden_size)
                    .map(Recurrent::Cell)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WordLm::assemble(p, layers, vocab, cfg))
    }

    /// The LSTM baseline: `cfg.layers` layers of tch's LSTM (with biases). Variables:
    /// `encoder`, `layer{l}.{weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0}`, decoder.
    pub fn lstm(p: &nn::Path, vocab: usize, cfg: &LmChildConfig) -> Result<WordLm, LmError> {
        check_tied(cfg)?;
        let rnn = nn::RNNConfig {
            batch_first: false,
            ..Default::default()
        };
        let layers = (0..cfg.layers)
            .map(|l| {
                let input = if l == 0 {
                    cfg.embedding_size
                } else {
                    cfg.hidden_size
                };
                Recurrent::Lstm(nn::lstm(
                    p / format!("layer{l}"),
                    input as i64,
                    cfg.hidden_size as i64,
                    rnn,
                ))
            })
            .collect();
        Ok(WordLm::assemble(p, layers, vocab, cfg))
    }

    fn assemble(p: &nn::Path, layers: Vec<Recurrent>, vocab: usize, cfg: &LmChildConfig) -> WordLm {
        let (encoder, decoder, decoder_bias) = embeddings(p, vocab, cfg);
        WordLm {
            encoder,
            layers,
            decoder,
            decoder_bias,
            hidden: cfg.hidden_size as i64,
            dropout: cfg.dropout,
        }
    }

    /// Switch every cell layer to `arch` (same base), keeping the weights:
    /// the supernet of a shared-weights search evaluates each child this
    /// way. Errors for the LSTM or another base.
    pub fn set_arch(&mut self, arch: &CellArch) -> Result<(), LmError> {
        for layer in &mut self.layers {
            match layer {
                Recurrent::Cell(cell) => cell.set_arch(arch)?,
                Recurrent::Lstm(_) => return Err(LmError::NoCell),
            }
        }
        Ok(())
    }

    /// A zero state for `batch` sequences.
    pub fn zero_state(&self, batch: i64) -> LmState {
        let opts = (Kind::Float, self.encoder.device());
        LmState {
            layers: self
                .layers
                .iter()
                .map(|_| {
                    (
                        Tensor::zeros([batch, self.hidden], opts),
                        Tensor::zeros([batch, self.hidden], opts),
                    )
                })
                .collect(),
        }
    }

    /// Tokens `[T, B]` (int64) → logits `[T, B, vocab]` and the new state.
    /// `train` turns dropout on.
    pub fn forward_t(
        &self,
        tokens: &Tensor,
        state: &LmState,
        train: bool,
    ) -> Result<(Tensor, LmState), TchError> {
        let mut xs = Tensor::f_embedding(&self.encoder, tokens, -1, false, false)?
            .f_dropout(self.dropout, train)?;
        let mut next = Vec::with_capacity(self.layers.len());
        for (layer, (h, c)) in self.layers.iter().zip(&state.layers) {
            let (ys, new) = match layer {
                Recurrent::Cell(cell) => {
                    let (ys, s) = cell.seq(
                        &xs,
                        &CellState {
                            h: h.shallow_clone(),
                            c: c.shallow_clone(),
                        },
                    )?;
                    (ys, (s.h, s.c))
                }
                Recurrent::Lstm(lstm) => {
                    let s = nn::LSTMState((h.f_unsqueeze(0)?, c.f_unsqueeze(0)?));
                    let (ys, s) = lstm.seq_init(&xs, &s);
                    (ys, (s.h().f_squeeze_dim(0)?, s.c().f_squeeze_dim(0)?))
                }
            };
            xs = ys.f_dropout(self.dropout, train)?;
            next.push(new);
        }
        let weight = self.decoder.as_ref().unwrap_or(&self.encoder);
        let logits = xs.f_linear(weight, Some(&self.decoder_bias))?;
        Ok((logits, LmState { layers: next }))
    }
}

fn check_tied(cfg: &LmChildConfig) -> Result<(), LmError> {
    if cfg.tied && cfg.embedding_size != cfg.hidden_size {
        return Err(LmError::Untied {
            embedding_size: cfg.embedding_size,
            hidden_size: cfg.hidden_size,
        });
    }
    Ok(())
}

/// Embedding and decoder parameters: `V·E` + (untied: `V·H`) + `V`.
fn embedding_params(vocab: usize, cfg: &LmChildConfig) -> usize {
    vocab * cfg.embedding_size + if cfg.tied { 0 } else { vocab * cfg.hidden_size } + vocab
}

/// Trainable parameters of the cell language model, from the architecture alone.
pub fn cell_param_count(arch: &CellArch, vocab: usize, cfg: &LmChildConfig) -> usize {
    let layers: usize = (0..cfg.layers)
        .map(|l| {
            let input = if l == 0 {
                cfg.embedding_size
            } else {
                cfg.hidden_size
            };
            cell::param_count(arch, input, cfg.hidden_size)
        })
        .sum();
    layers + embedding_params(vocab, cfg)
}

/// Trainable parameters of the LSTM baseline: per layer `4H·(in + H) + 8H`.
pub fn lstm_param_count(vocab: usize, cfg: &LmChildConfig) -> usize {
    let h = cfg.hidden_size;
    let layers: usize = (0..cfg.layers)
        .map(|l| {
            let input = if l == 0 { cfg.embedding_size } else { h };
            4 * h * (input + h) + 8 * h
        })
        .sum();
    layers + embedding_params(vocab, cfg)
}

/// The token stream cut into `batch` equal rows (the tail that does not fit is
/// dropped): row b is tokens `b·len..(b+1)·len`. Returns the row-major
/// `[batch, len]` data and `len`.
pub fn batchify(tokens: &[i64], batch: usize) -> (Vec<i64>, usize) {
    let len = tokens.len() / batch.max(1);
    (tokens[..len * batch].to_vec(), len)
}
