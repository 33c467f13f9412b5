//! Sampling: `n` sequences run through the LSTM together, one step at a time
//! under `tch::no_grad`; torch computes the logits, the caller's `ChaCha8Rng`
//! draws the tokens, and log-probabilities and entropies are summed in `f64`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::plan::{Plan, PlanStep, ANCHOR_ROW, START_ROW};
use super::{ControllerError, Sampled};
use crate::controller::Controller;
use crate::space::Schema;

impl Controller {
    /// Sample `n` token sequences of `schema`, run as one batch.
    ///
    /// Random draws come only from `rng`: step by step, sequence by sequence
    /// (skip tokens: earlier layer by earlier layer), so the same controller,
    /// schema and rng state give the same sequences.
    ///
    /// # Panics
    /// If the schema was not made by the space the controller was built for
    /// (see [`Controller::try_sample`], which returns that as an error).
    pub fn sample(&self, schema: &Schema, n: usize, rng: &mut ChaCha8Rng) -> Vec<Sampled> {
        match self.try_sample(schema, n, rng) {
            Ok(s) => s,
            Err(e) => panic!("Controller::sample: {e}"),
        }
    }

    /// [`Controller::sample`], with a schema that does not fit as an error.
    pub fn try_sample(
        &self,
        schema: &Schema,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Sampled>, ControllerError> {
        let plan = Plan::new(schema, &self.heads)?;
        let mut out: Vec<Sampled> = (0..n)
            .map(|_| Sampled {
                tokens: Vec::with_capacity(plan.num_tokens),
                log_prob: 0.0,
                entropy: 0.0,
            })
            .collect();
        if n == 0 {
            return Ok(out);
        }
        tch::no_grad(|| self.sample_batch(&plan, &mut out, rng))?;
        Ok(out)
    }

    fn sample_batch(
        &self,
        plan: &Plan,
        out: &mut [Sampled],
        rng: &mut ChaCha8Rng,
    ) -> Result<(), ControllerError> {
        let n = out.len();
        let table = self.input_table(); // [V, H]
                                        // Per layer (h, c), each [n, H]. `lstm_cell` per layer, rather than a
                                        // one-step `Tensor::lstm`, avoids oneDNN's per-call setup on CPU.
        let zero = self.zero_state(n as i64).get(0);
        let mut state: Vec<(Tensor, Tensor)> = (0..self.layers)
            .map(|_| (zero.shallow_clone(), zero.shallow_clone()))
            .collect();
        let mut rows = vec![START_ROW; n];
        // W_prev h_j of every anchor so far, each [n, H].
        let mut keys: Vec<Tensor> = Vec::with_capacity(plan.anchors);
        let mut buf: Vec<f64> = Vec::new();
        let mut probs: Vec<f64> = Vec::new();
        for step in &plan.steps {
            let mut top = table.f_index_select(0, &Tensor::from_slice(&rows))?; // [n, H]
            for (l, (h, c)) in state.iter_mut().enumerate() {
                let w = &self.w.lstm[4 * l..4 * l + 4];
                let (h1, c1) =
                    top.f_lstm_cell(&[&*h, &*c], &w[0], &w[1], Some(&w[2]), Some(&w[3]))?;
                top = h1.shallow_clone();
                *h = h1;
                *c = c1;
            }
            match *step {
                PlanStep::Choice { head, .. } => {
                    let logits = top.f_linear(&self.w.head_w[head], Some(&self.w.head_b[head]))?; // [n, size]
                    let size = self.heads[head].size;
                    read(&logits, &mut buf)?;
                    for (k, s) in out.iter_mut().enumerate() {
                        let lp = &mut buf[k * size..(k + 1) * size];
                        for x in lp.iter_mut() {
                            *x = self.shape_logit(*x);
                        }
                        log_softmax(lp);
                        probs.clear();
                        probs.extend(lp.iter().map(|l| l.exp()));
                        let token = draw(&probs, rng);
                        s.tokens.push(token);
                        s.log_prob += lp[token];
                        s.entropy -= probs.iter().zip(lp.iter()).map(|(p, l)| p * l).sum::<f64>();
                        rows[k] = self.w.head_rows[head] + token as i64;
                    }
                }
                PlanStep::Anchor { layer, .. } => {
                    if layer > 0 {
                        let query = top.f_matmul(&self.w.w_curr.tr())?; // [n, H]
                        let logits = Tensor::f_stack(&keys, 0)? // [layer, n, H]
                            .f_add(&query)?
                            .tanh()
                            .f_matmul(&self.w.v)? // [layer, n, 1]
                            .squeeze_dim(-1); // [layer, n]
                        read(&logits, &mut buf)?;
                        for j in 0..layer {
                            for (k, s) in out.iter_mut().enumerate() {
                                let x = self.shape_logit(buf[j * n + k]);
                                let (lp1, lp0) = (log_sigmoid(x), log_sigmoid(-x));
                                let p1 = lp1.exp();
                                let token = usize::from(rng.random::<f64>() < p1);
                                s.tokens.push(token);
                                s.log_prob += if token == 1 { lp1 } else { lp0 };
                                s.entropy -= p1 * lp1 + (1.0 - p1) * lp0;
                            }
                        }
                    }
                    keys.push(top.f_matmul(&self.w.w_prev.tr())?);
                    rows.iter_mut().for_each(|r| *r = ANCHOR_ROW);
                }
            }
        }
        Ok(())
    }
}

/// Copy a tensor's values (row-major) into `buf`.
fn read(t: &Tensor, buf: &mut Vec<f64>) -> Result<(), ControllerError> {
    let t = t.f_to_kind(Kind::Double)?.f_contiguous()?;
    let len = t.numel();
    buf.resize(len, 0.0);
    t.f_copy_data(buf, len)?;
    Ok(())
}

/// In-place log-softmax of a row of logits.
fn log_softmax(x: &mut [f64]) {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    x.iter_mut().for_each(|v| *v -= lse);
}

/// log σ(x), stable for large |x|.
pub(crate) fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

/// An index drawn from `probs` (which sum to 1) by inverting the CDF.
fn draw(probs: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    // Rounding left the sum just below u: take the last option with mass.
    probs.iter().rposition(|p| *p > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sigmoid_matches_the_definition_and_is_stable() {
        for x in [-30.0f64, -2.0, 0.0, 0.5, 3.0, 30.0] {
            let direct = (1.0 / (1.0 + (-x).exp())).ln();
            assert!((log_sigmoid(x) - direct).abs() < 1e-12, "x={x}");
        }
        assert!(log_sigmoid(-1000.0).is_finite());
        assert_eq!(log_sigmoid(1000.0), 0.0);
    }

    #[test]
    fn log_softmax_normalises() {
        let mut x = vec![1.0, 2.0, 3.0, 1000.0];
        log_softmax(&mut x);
        let total: f64 = x.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(x[3].abs() < 1e-12);
    }
}
