//! Sampling: `n` sequences run through the LSTM one step at a time, on plain
//! `f32` copies of the weights ([`Dense`]: no tensors, no autograd); the
//! caller's `ChaCha8Rng` draws the tokens, and log-probabilities and
//! entropies are summed in `f64`. The teacher-forced scoring in `score.rs`
//! (tensors, differentiable) is the reference it is tested against.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::dense::{dot, matvec, tanh, Dense};
use super::plan::{Plan, PlanStep, ANCHOR_ROW, START_ROW};
use super::tape::Tape;
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
        let mut out = empty_samples(&plan, n);
        if n > 0 {
            self.sample_batch(&plan, &mut out, rng, None)?;
        }
        Ok(out)
    }

    /// [`Controller::try_sample`], also keeping what the REINFORCE gradient
    /// of these samples needs ([`Tape`]; see [`Controller::reinforce_gradient_taped`]).
    pub fn sample_taped(
        &self,
        schema: &Schema,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<(Vec<Sampled>, Tape), ControllerError> {
        let plan = Plan::new(schema, &self.heads)?;
        let mut out = empty_samples(&plan, n);
        let mut tape = Tape::new(
            n,
            self.hidden as usize,
            self.layers as usize,
            plan.steps.len(),
        );
        if n > 0 {
            self.sample_batch(&plan, &mut out, rng, Some(&mut tape))?;
        }
        tape.finish(&out);
        Ok((out, tape))
    }

    fn sample_batch(
        &self,
        plan: &Plan,
        out: &mut [Sampled],
        rng: &mut ChaCha8Rng,
        mut tape: Option<&mut Tape>,
    ) -> Result<(), ControllerError> {
        let n = out.len();
        let w = Dense::from_controller(self)?;
        let hd = w.hidden;
        let depth = w.layers.len();
        // Per sequence and layer: h and c, each [H].
        let mut h = vec![vec![0f32; hd]; n * depth];
        let mut c = h.clone();
        let mut gates = vec![0f32; 4 * hd];
        let mut rows = vec![START_ROW as usize; n];
        // Top-layer output of each sequence at this step, [n][H].
        let mut top = vec![vec![0f32; hd]; n];
        // W_prev h_j of every anchor so far: keys[j][k] is [H].
        let mut keys: Vec<Vec<Vec<f32>>> = Vec::with_capacity(plan.anchors);
        let mut logits: Vec<f64> = Vec::new();
        let mut raw: Vec<f64> = Vec::new();
        let mut probs: Vec<f64> = Vec::new();
        let mut query = vec![0f32; hd];
        for step in &plan.steps {
            if let Some(t) = tape.as_deref_mut() {
                t.begin_step(&rows);
            }
            for (k, out_k) in top.iter_mut().enumerate() {
                out_k.copy_from_slice(w.row(rows[k]));
                for (l, layer) in w.layers.iter().enumerate() {
                    let i = k * depth + l;
                    layer.step(out_k, &mut h[i], &mut c[i], &mut gates);
                    if let Some(t) = tape.as_deref_mut() {
                        t.cell(&gates, &c[i], &h[i]);
                    }
                    out_k.copy_from_slice(&h[i]);
                }
            }
            match *step {
                PlanStep::Choice { head, .. } => {
                    let (hw, hb) = (&w.head_w[head], &w.head_b[head]);
                    for (k, s) in out.iter_mut().enumerate() {
                        raw.clear();
                        raw.extend(
                            hb.iter().enumerate().map(|(r, b)| {
                                f64::from(b + dot(&hw[r * hd..(r + 1) * hd], &top[k]))
                            }),
                        );
                        logits.clear();
                        logits.extend(raw.iter().map(|&x| self.shape_logit(x)));
                        log_softmax(&mut logits);
                        probs.clear();
                        probs.extend(logits.iter().map(|l| l.exp()));
                        let token = draw(&probs, rng);
                        s.tokens.push(token);
                        s.log_prob += logits[token];
                        s.entropy -= probs.iter().zip(&logits).map(|(p, l)| p * l).sum::<f64>();
                        rows[k] = w.head_rows[head] + token;
                        if let Some(t) = tape.as_deref_mut() {
                            t.choice(head, token, &raw, &logits);
                        }
                    }
                }
                PlanStep::Anchor { layer, .. } => {
                    // logit(j, k) = v · tanh(W_prev h_j + W_curr h_now), per sequence k.
                    let mut scores = vec![0f64; layer * n];
                    let mut queries: Vec<f32> = Vec::new();
                    for (k, t) in top.iter().enumerate() {
                        matvec(&w.w_curr, t, &mut query);
                        if tape.is_some() {
                            queries.extend_from_slice(&query);
                        }
                        for (j, key) in keys.iter().enumerate() {
                            let e: f32 = key[k]
                                .iter()
                                .zip(&query)
                                .zip(&w.v)
                                .map(|((a, b), v)| tanh(a + b) * v)
                                .sum();
                            scores[j * n + k] = f64::from(e);
                        }
                    }
                    let mut skips = vec![0usize; layer * n];
                    for j in 0..layer {
                        for (k, s) in out.iter_mut().enumerate() {
                            let x = self.shape_logit(scores[j * n + k]);
                            let (lp1, lp0) = (log_sigmoid(x), log_sigmoid(-x));
                            let p1 = lp1.exp();
                            let token = usize::from(rng.random::<f64>() < p1);
                            skips[j * n + k] = token;
                            s.tokens.push(token);
                            s.log_prob += if token == 1 { lp1 } else { lp0 };
                            s.entropy -= p1 * lp1 + (1.0 - p1) * lp0;
                        }
                    }
                    let anchor_keys = top
                        .iter()
                        .map(|t| {
                            let mut key = vec![0f32; hd];
                            matvec(&w.w_prev, t, &mut key);
                            key
                        })
                        .collect();
                    keys.push(anchor_keys);
                    if let Some(t) = tape.as_deref_mut() {
                        t.anchor(layer, queries, scores, skips);
                    }
                    rows.iter_mut().for_each(|r| *r = ANCHOR_ROW as usize);
                }
            }
        }
        if let Some(t) = tape {
            t.end(keys, w);
        }
        Ok(())
    }
}

/// `n` samples with no tokens yet.
fn empty_samples(plan: &Plan, n: usize) -> Vec<Sampled> {
    (0..n)
        .map(|_| Sampled {
            tokens: Vec::with_capacity(plan.num_tokens),
            log_prob: 0.0,
            entropy: 0.0,
        })
        .collect()
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
