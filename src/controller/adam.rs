//! Adam on flat `f32` vectors (the parameter store's optimiser) and global
//! gradient-norm clipping. The state is plain data, serialisable for checkpoints.

use serde::{Deserialize, Serialize};

use crate::config::ControllerConfig;

/// Adam (Kingma & Ba) with bias correction, on a flat parameter vector.
///
/// Per step `t` (1-based): `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
/// `θ ← θ − lr · m̂ / (√v̂ + ε)` with `m̂ = m / (1−β1ᵗ)`, `v̂ = v / (1−β2ᵗ)`.
/// Moments are kept in `f32`; each update is computed in `f64`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: u64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl Adam {
    /// Zero moments for `n` parameters; β1, β2 and ε from `cfg`, learning rate `lr`.
    pub fn new(n: usize, cfg: &ControllerConfig, lr: f64) -> Adam {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            lr,
            beta1: cfg.adam_beta1,
            beta2: cfg.adam_beta2,
            eps: cfg.adam_eps,
        }
    }

    /// One Adam step: `params` descend along `grad`.
    ///
    /// # Panics
    /// If `params` or `grad` is not [`Adam::len`] long (check a restored
    /// state's length against the controller's `num_params` first).
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        assert!(
            params.len() == self.m.len() && grad.len() == self.m.len(),
            "Adam::step: the optimiser has {} slots, got {} parameters and {} gradients",
            self.m.len(),
            params.len(),
            grad.len()
        );
        self.t += 1;
        let t = self.t as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        for i in 0..params.len() {
            let g = f64::from(grad[i]);
            let m = self.beta1 * f64::from(self.m[i]) + (1.0 - self.beta1) * g;
            let v = self.beta2 * f64::from(self.v[i]) + (1.0 - self.beta2) * g * g;
            self.m[i] = m as f32;
            self.v[i] = v as f32;
            let update = self.lr * (m / c1) / ((v / c2).sqrt() + self.eps);
            params[i] = (f64::from(params[i]) - update) as f32;
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Number of parameters this optimiser holds moments for.
    pub fn len(&self) -> usize {
        self.m.len()
    }

    /// Whether it holds no parameters.
    pub fn is_empty(&self) -> bool {
        self.m.is_empty()
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.lr
    }
}

/// Scale `grad` so that its L2 norm is at most `max_norm`; returns the norm
/// before clipping. A non-finite norm leaves `grad` untouched.
pub fn clip_global_norm(grad: &mut [f32], max_norm: f64) -> f64 {
    let norm = global_norm(grad);
    if norm.is_finite() && norm > max_norm && norm > 0.0 {
        let scale = max_norm / norm;
        grad.iter_mut()
            .for_each(|g| *g = (f64::from(*g) * scale) as f32);
    }
    norm
}

/// The L2 norm of a flat vector, summed in `f64`.
pub(crate) fn global_norm(x: &[f32]) -> f64 {
    x.iter().map(|g| f64::from(*g).powi(2)).sum::<f64>().sqrt()
}
