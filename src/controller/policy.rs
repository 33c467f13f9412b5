//! The controller's weights: an LSTM, one embedding and one softmax head per
//! decision type, `start`/`anchor` embeddings and the skip attention, all in
//! one `VarStore` with stable names; deterministic init and flat `f32` access.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

use super::ControllerError;
use crate::config::ControllerConfig;
use crate::space::Head;

/// The floating-point kind of the controller's tensors.
pub(crate) const KIND: Kind = Kind::Float;

/// The LSTM policy that samples token sequences of a search space.
///
/// Variable names (checkpoint keys) under the store's root:
/// `lstm.w_ih_l{i}` `[4H, H]`, `lstm.w_hh_l{i}` `[4H, H]`, `lstm.b_ih_l{i}` and
/// `lstm.b_hh_l{i}` `[4H]` (torch's gate order i, f, g, o);
/// `embed.start`, `embed.anchor` `[1, H]`; `embed.<head>` `[size, H]`;
/// `head.<head>.weight` `[size, H]`, `head.<head>.bias` `[size]`;
/// `attention.w_prev`, `attention.w_curr` `[H, H]`, `attention.v` `[H, 1]`.
///
/// It owns its `VarStore` (tensors are `Send`, not `Sync`): one owner per thread.
pub struct Controller {
    vs: nn::VarStore,
    pub(crate) heads: Vec<Head>,
    pub(crate) hidden: i64,
    pub(crate) layers: i64,
    pub(crate) temperature: Option<f64>,
    pub(crate) tanh_constant: Option<f64>,
    pub(crate) entropy_weight: f64,
    pub(crate) w: Weights,
    /// Every variable, sorted by name: the order of the flat vectors.
    params: Vec<(String, Tensor)>,
}

/// Shallow handles on the variables, for the forward passes.
pub(crate) struct Weights {
    /// `[w_ih_l0, w_hh_l0, b_ih_l0, b_hh_l0, w_ih_l1, …]`, as `Tensor::lstm` takes them.
    pub lstm: Vec<Tensor>,
    pub start: Tensor,
    pub anchor: Tensor,
    pub embed: Vec<Tensor>,
    pub head_w: Vec<Tensor>,
    pub head_b: Vec<Tensor>,
    pub w_prev: Tensor,
    pub w_curr: Tensor,
    pub v: Tensor,
    /// Row of each head's first embedding in [`Controller::input_table`].
    pub head_rows: Vec<i64>,
}

impl Controller {
    /// A controller for a space with these decision `heads`, its weights drawn
    /// uniformly from `[-init_range, init_range]` by a `ChaCha8Rng` seeded with
    /// `seed` (in the order of the sorted variable names). The drawn values are
    /// rounded to `f32`, so `flat_params` → `set_flat_params` is lossless.
    pub fn new(heads: &[Head], cfg: &ControllerConfig, seed: u64) -> Controller {
        let hidden = cfg.hidden_size.max(1) as i64;
        let layers = cfg.layers.max(1) as i64;
        let mut vs = nn::VarStore::new(Device::Cpu);
        vs.set_kind(KIND);
        let root = vs.root();
        let lstm_p = &root / "lstm";
        let mut lstm = Vec::new();
        for l in 0..layers {
            lstm.push(lstm_p.zeros(&format!("w_ih_l{l}"), &[4 * hidden, hidden]));
            lstm.push(lstm_p.zeros(&format!("w_hh_l{l}"), &[4 * hidden, hidden]));
            lstm.push(lstm_p.zeros(&format!("b_ih_l{l}"), &[4 * hidden]));
            lstm.push(lstm_p.zeros(&format!("b_hh_l{l}"), &[4 * hidden]));
        }
        let embed_p = &root / "embed";
        let start = embed_p.zeros("start", &[1, hidden]);
        let anchor = embed_p.zeros("anchor", &[1, hidden]);
        let names = head_names(heads);
        let mut embed = Vec::new();
        let mut head_w = Vec::new();
        let mut head_b = Vec::new();
        let mut head_rows = Vec::new();
        let mut row = 2;
        for (head, name) in heads.iter().zip(&names) {
            let size = head.size as i64;
            embed.push(embed_p.zeros(name, &[size, hidden]));
            let hp = &root / "head" / name.as_str();
            head_w.push(hp.zeros("weight", &[size, hidden]));
            head_b.push(hp.zeros("bias", &[size]));
            head_rows.push(row);
            row += size;
        }
        let att = &root / "attention";
        let w_prev = att.zeros("w_prev", &[hidden, hidden]);
        let w_curr = att.zeros("w_curr", &[hidden, hidden]);
        let v = att.zeros("v", &[hidden, 1]);
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));

        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let r = cfg.init_range.abs();
        tch::no_grad(|| {
            for (_, t) in &mut params {
                let vals: Vec<f32> = (0..t.numel())
                    .map(|_| rng.random_range(-r..=r) as f32)
                    .collect();
                t.copy_(
                    &Tensor::from_slice(&vals)
                        .to_kind(KIND)
                        .view(t.size().as_slice()),
                );
            }
        });
        Controller {
            vs,
            heads: heads.to_vec(),
            hidden,
            layers,
            temperature: cfg.temperature,
            tanh_constant: cfg.tanh_constant,
            entropy_weight: cfg.entropy_weight,
            w: Weights {
                lstm,
                start,
                anchor,
                embed,
                head_w,
                head_b,
                w_prev,
                w_curr,
                v,
                head_rows,
            },
            params,
        }
    }

    /// The decision heads this controller was built for.
    pub fn heads(&self) -> &[Head] {
        &self.heads
    }

    /// The variable store (e.g. to save the weights as a checkpoint).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Number of scalar parameters (the length of the flat vectors).
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|(_, t)| t.numel()).sum()
    }

    /// The variable names in the order of the flat vectors (sorted).
    pub fn param_names(&self) -> Vec<String> {
        self.params.iter().map(|(n, _)| n.clone()).collect()
    }

    /// All parameters as one `f32` vector, variables in sorted-name order.
    pub fn flat_params(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.num_params());
        for (_, t) in &self.params {
            out.extend(to_f32(t));
        }
        out
    }

    /// Replace all parameters from a flat vector in the order of [`Controller::flat_params`].
    pub fn set_flat_params(&mut self, params: &[f32]) -> Result<(), ControllerError> {
        let expected = self.num_params();
        if params.len() != expected {
            return Err(ControllerError::ParamLength {
                expected,
                got: params.len(),
            });
        }
        let mut offset = 0;
        tch::no_grad(|| -> Result<(), ControllerError> {
            for (_, t) in &mut self.params {
                let len = t.numel();
                let src = Tensor::from_slice(&params[offset..offset + len])
                    .to_kind(KIND)
                    .view(t.size().as_slice());
                t.f_copy_(&src)?;
                offset += len;
            }
            Ok(())
        })
    }

    /// The variables in flat order (for gradients).
    pub(crate) fn param_tensors(&self) -> Vec<&Tensor> {
        self.params.iter().map(|(_, t)| t).collect()
    }

    /// Every input embedding stacked: `start`, `anchor`, then each head's rows.
    ///
    /// # Shapes
    /// `[2 + Σ head sizes, H]`
    pub(crate) fn input_table(&self) -> Tensor {
        let mut parts: Vec<&Tensor> = vec![&self.w.start, &self.w.anchor];
        parts.extend(self.w.embed.iter());
        Tensor::cat(&parts, 0)
    }

    /// Temperature then tanh squashing of one logit (the sampling path).
    pub(crate) fn shape_logit(&self, mut x: f64) -> f64 {
        if let Some(t) = self.temperature {
            x /= t;
        }
        if let Some(c) = self.tanh_constant {
            x = c * x.tanh();
        }
        x
    }

    /// Temperature then tanh squashing of a logits tensor (the scoring path).
    pub(crate) fn shape_logits(&self, mut x: Tensor) -> Tensor {
        if let Some(t) = self.temperature {
            x /= t;
        }
        if let Some(c) = self.tanh_constant {
            x = x.tanh() * c;
        }
        x
    }

    /// Zero LSTM state for `n` sequences.
    ///
    /// # Shapes
    /// `[layers, n, H]`
    pub(crate) fn zero_state(&self, n: i64) -> Tensor {
        Tensor::zeros([self.layers, n, self.hidden], (KIND, Device::Cpu))
    }
}

/// Path-safe, unique names for the heads (the name, or `name_i` on a clash).
fn head_names(heads: &[Head]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(heads.len());
    for (i, h) in heads.iter().enumerate() {
        let base: String = h
            .name
            .chars()
            .map(|c| if c == '.' { '_' } else { c })
            .collect();
        let name = if names.contains(&base) || base == "start" || base == "anchor" {
            format!("{base}_{i}")
        } else {
            base
        };
        names.push(name);
    }
    names
}

/// A tensor's values as `f32`, in row-major order.
pub(crate) fn to_f32(t: &Tensor) -> Vec<f32> {
    let n = t.numel();
    let mut out = vec![0f32; n];
    t.to_kind(Kind::Float).contiguous().copy_data(&mut out, n);
    out
}
