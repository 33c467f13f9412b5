//! The tape of a sampled batch: what the forward pass of sampling computed
//! (LSTM inputs, states and gate activations, logits, attention queries and
//! keys) and the weights it used, so that the REINFORCE gradient of these
//! samples is one backward pass over plain arrays — no second forward pass,
//! no autograd. The teacher-forced, tensor-based
//! [`Controller::reinforce_gradient`] computes the same gradient and is the
//! reference it is tested against.

use super::dense::{dot, tanh, Dense};
use super::{ControllerError, Sampled};
use crate::controller::Controller;

/// The decision taken at one step, for every sequence.
enum Decision {
    /// For sequence k, `values[2·size·k ..]` holds the unshaped logits, then
    /// the log-softmax of the shaped ones.
    Choice {
        head: usize,
        size: usize,
        tokens: Vec<usize>,
        values: Vec<f64>,
    },
    /// The anchor of `layer`: `queries[k·H ..]` = W_curr h; `scores[j·n + k]`
    /// the unshaped skip logits against anchor j; `skips[j·n + k]` the tokens.
    Anchor {
        layer: usize,
        queries: Vec<f32>,
        scores: Vec<f64>,
        skips: Vec<usize>,
    },
}

struct Step {
    /// Input-table row of each sequence.
    rows: Vec<usize>,
    decision: Option<Decision>,
}

/// Values kept per LSTM cell application: activations i, f, g, o, then c, then h.
const CELL: usize = 6;

/// See the module documentation.
pub struct Tape {
    n: usize,
    hidden: usize,
    depth: usize,
    steps: Vec<Step>,
    /// Cell (step t, sequence k, layer l) at `((t·n + k)·depth + l)·6H`.
    cells: Vec<f32>,
    /// W_prev h of each anchor: `keys[j][k]`.
    keys: Vec<Vec<Vec<f32>>>,
    weights: Option<Dense>,
    log_prob: Vec<f64>,
    entropy: Vec<f64>,
}

impl Tape {
    pub(crate) fn new(n: usize, hidden: usize, depth: usize, steps: usize) -> Tape {
        Tape {
            n,
            hidden,
            depth,
            steps: Vec::with_capacity(steps),
            cells: Vec::with_capacity(steps * n * depth * CELL * hidden),
            keys: Vec::new(),
            weights: None,
            log_prob: Vec::new(),
            entropy: Vec::new(),
        }
    }

    pub(crate) fn begin_step(&mut self, rows: &[usize]) {
        self.steps.push(Step {
            rows: rows.to_vec(),
            decision: None,
        });
    }

    /// The next cell application (steps, then sequences, then layers in order).
    pub(crate) fn cell(&mut self, gates: &[f32], c: &[f32], h: &[f32]) {
        self.cells.extend_from_slice(gates);
        self.cells.extend_from_slice(c);
        self.cells.extend_from_slice(h);
    }

    /// Sequence by sequence, the choice of one step.
    pub(crate) fn choice(&mut self, head: usize, token: usize, raw: &[f64], lp: &[f64]) {
        let Some(s) = self.steps.last_mut() else {
            return;
        };
        let d = s.decision.get_or_insert_with(|| Decision::Choice {
            head,
            size: raw.len(),
            tokens: Vec::new(),
            values: Vec::new(),
        });
        if let Decision::Choice { tokens, values, .. } = d {
            tokens.push(token);
            values.extend_from_slice(raw);
            values.extend_from_slice(lp);
        }
    }

    pub(crate) fn anchor(
        &mut self,
        layer: usize,
        queries: Vec<f32>,
        scores: Vec<f64>,
        skips: Vec<usize>,
    ) {
        if let Some(s) = self.steps.last_mut() {
            s.decision = Some(Decision::Anchor {
                layer,
                queries,
                scores,
                skips,
            });
        }
    }

    pub(crate) fn end(&mut self, keys: Vec<Vec<Vec<f32>>>, weights: Dense) {
        self.keys = keys;
        self.weights = Some(weights);
    }

    pub(crate) fn finish(&mut self, sampled: &[Sampled]) {
        self.log_prob = sampled.iter().map(|s| s.log_prob).collect();
        self.entropy = sampled.iter().map(|s| s.entropy).collect();
    }

    /// Number of sequences on the tape.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the tape holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The kept values of cell (t, k, l): (gates, c, h).
    fn at(&self, t: usize, k: usize, l: usize) -> (&[f32], &[f32], &[f32]) {
        let hd = self.hidden;
        let start = ((t * self.n + k) * self.depth + l) * CELL * hd;
        let v = &self.cells[start..start + CELL * hd];
        (&v[..4 * hd], &v[4 * hd..5 * hd], &v[5 * hd..])
    }
}

/// Gradients in the controller's own layout (torch's shapes, row-major).
struct Grads {
    w_ih: Vec<Vec<f32>>,
    w_hh: Vec<Vec<f32>>,
    /// Shared by `b_ih` and `b_hh`.
    b: Vec<Vec<f32>>,
    /// The input table `[V, H]`: `start`, `anchor`, each head's embeddings.
    table: Vec<f32>,
    head_w: Vec<Vec<f32>>,
    head_b: Vec<Vec<f32>>,
    w_prev: Vec<f32>,
    w_curr: Vec<f32>,
    v: Vec<f32>,
}

/// `acc += a ⊗ b` for row-major `acc` `[a.len(), b.len()]`, scaled by nothing.
fn outer_add(acc: &mut [f32], a: &[f32], b: &[f32]) {
    for (row, &ai) in acc.chunks_exact_mut(b.len()).zip(a) {
        if ai != 0.0 {
            for (r, &bj) in row.iter_mut().zip(b) {
                *r += ai * bj;
            }
        }
    }
}

/// `out += mᵀ · g` for row-major `m` `[g.len(), out.len()]`.
fn matvec_t_add(m: &[f32], g: &[f32], out: &mut [f32]) {
    for (row, &gi) in m.chunks_exact(out.len()).zip(g) {
        if gi != 0.0 {
            for (o, &w) in out.iter_mut().zip(row) {
                *o += gi * w;
            }
        }
    }
}

/// The rows of one LSTM layer's backward pass, for its weight gradients
/// `dW_ih = Σ dgates ⊗ x` and `dW_hh = Σ dgates ⊗ h_prev` as two matrix
/// products (libtorch's GEMM) instead of hundreds of small outer products.
struct LstmRows {
    dgates: Vec<f32>,
    x: Vec<f32>,
    h_prev: Vec<f32>,
}

impl LstmRows {
    fn with_capacity(rows: usize, hd: usize) -> LstmRows {
        LstmRows {
            dgates: Vec::with_capacity(rows * 4 * hd),
            x: Vec::with_capacity(rows * hd),
            h_prev: Vec::with_capacity(rows * hd),
        }
    }

    /// `dgatesᵀ · inputs`, `[4H, H]` row-major.
    fn weight_grad(&self, inputs: &[f32], hd: usize) -> Result<Vec<f32>, ControllerError> {
        let rows = (inputs.len() / hd) as i64;
        let h = hd as i64;
        let dg = tch::Tensor::from_slice(&self.dgates).view([rows, 4 * h]);
        let x = tch::Tensor::from_slice(inputs).view([rows, h]);
        let w = dg.tr().f_matmul(&x)?.f_contiguous()?;
        let mut out = vec![0f32; 4 * hd * hd];
        w.f_copy_data(&mut out, 4 * hd * hd)?;
        Ok(out)
    }
}

impl Controller {
    /// d shaped / d raw of a logit (temperature, then tanh squashing).
    fn shape_slope(&self, raw: f64) -> f64 {
        let mut slope = 1.0;
        let mut x = raw;
        if let Some(t) = self.temperature {
            x /= t;
            slope /= t;
        }
        if let Some(c) = self.tanh_constant {
            let th = x.tanh();
            slope *= c * (1.0 - th * th);
        }
        slope
    }

    /// The REINFORCE loss and flat gradient of the samples on `tape`, exactly
    /// as [`Controller::reinforce_gradient`] defines them
    /// (`loss = −1/m Σ_k adv_k · log P_k − entropy_weight · mean_k H_k`),
    /// against the weights the samples were drawn with.
    pub fn reinforce_gradient_taped(
        &self,
        tape: &Tape,
        advantages: &[f64],
    ) -> Result<(Vec<f32>, f64), ControllerError> {
        super::check_values(tape.n, advantages)?;
        let rows: Vec<Option<f64>> = advantages.iter().copied().map(Some).collect();
        self.reinforce_gradient_rows(tape, &rows, tape.n)
    }

    /// The share of some of a tape's samples in an update of `m` children:
    /// `advantages[k]` is sequence k's advantage, or None for a sequence
    /// that is not part of this update. The loss and gradient are the
    /// terms of the included sequences in
    /// `−1/m Σ_k adv_k · log P_k − entropy_weight · 1/m Σ_k H_k`, against the
    /// weights the tape's samples were drawn with, so that the shares of
    /// several tapes (children sampled at different θ versions) add up to
    /// the update's loss and gradient.
    pub fn reinforce_gradient_rows(
        &self,
        tape: &Tape,
        advantages: &[Option<f64>],
        m: usize,
    ) -> Result<(Vec<f32>, f64), ControllerError> {
        let n = tape.n;
        if n == 0 || m == 0 || advantages.iter().all(Option::is_none) {
            return Err(ControllerError::EmptyBatch);
        }
        if advantages.len() != n {
            return Err(ControllerError::BatchMismatch {
                tokens: n,
                values: advantages.len(),
            });
        }
        if let Some((index, value)) = advantages
            .iter()
            .enumerate()
            .find_map(|(i, a)| a.filter(|v| !v.is_finite()).map(|v| (i, v)))
        {
            return Err(ControllerError::NonFinite { index, value });
        }
        let w = tape.weights.as_ref().ok_or(ControllerError::EmptyBatch)?;
        let hd = w.hidden;
        let depth = w.layers.len();
        let m = m as f64;
        let ew = self.entropy_weight;
        let loss = advantages
            .iter()
            .zip(tape.log_prob.iter().zip(&tape.entropy))
            .filter_map(|(a, (l, h))| a.map(|a| -a * l / m - ew * h / m))
            .sum::<f64>();

        let mut g = Grads {
            w_ih: vec![vec![0f32; 4 * hd * hd]; depth],
            w_hh: vec![vec![0f32; 4 * hd * hd]; depth],
            b: vec![vec![0f32; 4 * hd]; depth],
            table: vec![0f32; w.table_len()],
            head_w: w.head_w.iter().map(|x| vec![0f32; x.len()]).collect(),
            head_b: w.head_b.iter().map(|x| vec![0f32; x.len()]).collect(),
            w_prev: vec![0f32; hd * hd],
            w_curr: vec![0f32; hd * hd],
            v: vec![0f32; hd],
        };
        let steps = tape.steps.len();
        let mut lstm_rows: Vec<LstmRows> = (0..depth)
            .map(|_| LstmRows::with_capacity(n * steps, hd))
            .collect();
        for (k, advantage) in advantages.iter().enumerate() {
            let Some(advantage) = advantage else {
                continue;
            };
            // dL/dlog P_k and dL/dH_k.
            let gl = -advantage / m;
            let ge = -ew / m;
            // Gradient into the top layer's output at every step.
            let mut dtop = vec![vec![0f32; hd]; steps];
            // Gradient into each anchor's key W_prev h.
            let mut dkeys = vec![vec![0f32; hd]; tape.keys.len()];
            let mut anchor_step = vec![0usize; tape.keys.len()];
            for (t, step) in tape.steps.iter().enumerate() {
                let top = tape.at(t, k, depth - 1).2;
                match &step.decision {
                    Some(Decision::Choice {
                        head,
                        size,
                        tokens,
                        values,
                    }) => {
                        let v = &values[2 * size * k..2 * size * (k + 1)];
                        let (raw, lp) = v.split_at(*size);
                        let h_step: f64 = -lp.iter().map(|l| l.exp() * l).sum::<f64>();
                        let dl: Vec<f32> = lp
                            .iter()
                            .zip(raw)
                            .enumerate()
                            .map(|(j, (&l, &r))| {
                                let p = l.exp();
                                let onehot = if j == tokens[k] { 1.0 } else { 0.0 };
                                let dz = gl * (onehot - p) + ge * (-p * (l + h_step));
                                (dz * self.shape_slope(r)) as f32
                            })
                            .collect();
                        outer_add(&mut g.head_w[*head], &dl, top);
                        for (b, d) in g.head_b[*head].iter_mut().zip(&dl) {
                            *b += d;
                        }
                        matvec_t_add(&w.head_w[*head], &dl, &mut dtop[t]);
                    }
                    Some(Decision::Anchor {
                        layer,
                        queries,
                        scores,
                        skips,
                    }) => {
                        anchor_step[*layer] = t;
                        let query = &queries[k * hd..(k + 1) * hd];
                        let mut dquery = vec![0f32; hd];
                        for j in 0..*layer {
                            let raw = scores[j * n + k];
                            let x = self.shape_logit(raw);
                            let p = 1.0 / (1.0 + (-x).exp());
                            let s = if skips[j * n + k] == 1 { 1.0 } else { -1.0 };
                            // d log σ(s·x)/dx and d H_bernoulli/dx.
                            let dlog = s / (1.0 + (s * x).exp());
                            let dent = -x * p * (1.0 - p);
                            let de = ((gl * dlog + ge * dent) * self.shape_slope(raw)) as f32;
                            let key = &tape.keys[j][k];
                            for u in 0..hd {
                                let th = tanh(key[u] + query[u]);
                                g.v[u] += de * th;
                                let du = de * w.v[u] * (1.0 - th * th);
                                dkeys[j][u] += du;
                                dquery[u] += du;
                            }
                        }
                        outer_add(&mut g.w_curr, &dquery, top);
                        matvec_t_add(&w.w_curr, &dquery, &mut dtop[t]);
                    }
                    None => {}
                }
            }
            // Keys: key_j = W_prev h(anchor j).
            for (j, dk) in dkeys.iter().enumerate() {
                let t = anchor_step[j];
                let top = tape.at(t, k, depth - 1).2;
                outer_add(&mut g.w_prev, dk, top);
                matvec_t_add(&w.w_prev, dk, &mut dtop[t]);
            }
            // Back through time.
            let mut dh_next = vec![vec![0f32; hd]; depth];
            let mut dc_next = vec![vec![0f32; hd]; depth];
            let mut dgates = vec![0f32; 4 * hd];
            let mut dxh = vec![0f32; 2 * hd];
            let zeros = vec![0f32; hd];
            for t in (0..steps).rev() {
                let step = &tape.steps[t];
                let mut from_above = dtop[t].clone();
                for l in (0..depth).rev() {
                    let (gates, c, _) = tape.at(t, k, l);
                    let (h_prev, c_prev) = if t == 0 {
                        (&zeros[..], &zeros[..])
                    } else {
                        let (_, c, h) = tape.at(t - 1, k, l);
                        (h, c)
                    };
                    let x = if l == 0 {
                        w.row(step.rows[k])
                    } else {
                        tape.at(t, k, l - 1).2
                    };
                    let (gi, gf, gg, go) = (
                        &gates[..hd],
                        &gates[hd..2 * hd],
                        &gates[2 * hd..3 * hd],
                        &gates[3 * hd..],
                    );
                    for u in 0..hd {
                        let dh = from_above[u] + dh_next[l][u];
                        let tc = tanh(c[u]);
                        let dc = dc_next[l][u] + dh * go[u] * (1.0 - tc * tc);
                        dgates[u] = dc * gg[u] * gi[u] * (1.0 - gi[u]);
                        dgates[hd + u] = dc * c_prev[u] * gf[u] * (1.0 - gf[u]);
                        dgates[2 * hd + u] = dc * gi[u] * (1.0 - gg[u] * gg[u]);
                        dgates[3 * hd + u] = dh * tc * go[u] * (1.0 - go[u]);
                        dc_next[l][u] = dc * gf[u];
                    }
                    // dW += dgates ⊗ input: gathered, one matrix product per layer at the end.
                    lstm_rows[l].dgates.extend_from_slice(&dgates);
                    lstm_rows[l].x.extend_from_slice(x);
                    lstm_rows[l].h_prev.extend_from_slice(h_prev);
                    for (b, d) in g.b[l].iter_mut().zip(&dgates) {
                        *b += d;
                    }
                    // [dx; dh_prev] = [w_ih | w_hh]ᵀ dgates, from the transposed copy.
                    for (o, col) in dxh.iter_mut().zip(w.layers[l].wt.chunks_exact(4 * hd)) {
                        *o = dot(col, &dgates);
                    }
                    dh_next[l].copy_from_slice(&dxh[hd..]);
                    from_above.copy_from_slice(&dxh[..hd]);
                }
                let row = step.rows[k];
                for (e, d) in g.table[row * hd..(row + 1) * hd]
                    .iter_mut()
                    .zip(&from_above)
                {
                    *e += d;
                }
            }
        }
        for (l, rows) in lstm_rows.iter().enumerate() {
            g.w_ih[l] = rows.weight_grad(&rows.x, hd)?;
            g.w_hh[l] = rows.weight_grad(&rows.h_prev, hd)?;
        }
        Ok((self.flatten_grads(&g)?, loss))
    }

    /// The gradients in the order of [`Controller::flat_params`]; an error
    /// when a parameter tensor has no gradient of its size (the tape and the
    /// controller's tensors disagree — a bug, never filled in with zeros).
    fn flatten_grads(&self, g: &Grads) -> Result<Vec<f32>, ControllerError> {
        let hd = self.hidden as usize;
        let mut parts: Vec<(usize, &[f32])> = Vec::new();
        let ptr = |t: &tch::Tensor| t.data_ptr() as usize;
        for (l, chunk) in self.w.lstm.chunks(4).enumerate() {
            parts.push((ptr(&chunk[0]), &g.w_ih[l]));
            parts.push((ptr(&chunk[1]), &g.w_hh[l]));
            parts.push((ptr(&chunk[2]), &g.b[l]));
            parts.push((ptr(&chunk[3]), &g.b[l]));
        }
        parts.push((ptr(&self.w.start), &g.table[..hd]));
        parts.push((ptr(&self.w.anchor), &g.table[hd..2 * hd]));
        for (i, e) in self.w.embed.iter().enumerate() {
            let r = self.w.head_rows[i] as usize;
            let size = self.heads[i].size;
            parts.push((ptr(e), &g.table[r * hd..(r + size) * hd]));
            parts.push((ptr(&self.w.head_w[i]), &g.head_w[i]));
            parts.push((ptr(&self.w.head_b[i]), &g.head_b[i]));
        }
        parts.push((ptr(&self.w.w_prev), &g.w_prev));
        parts.push((ptr(&self.w.w_curr), &g.w_curr));
        parts.push((ptr(&self.w.v), &g.v));
        let mut flat = Vec::with_capacity(self.num_params());
        for (index, t) in self.param_tensors().into_iter().enumerate() {
            match parts.iter().find(|(p, _)| *p == ptr(t)) {
                Some((_, values)) if values.len() == t.numel() => flat.extend_from_slice(values),
                found => {
                    return Err(ControllerError::GradientLayout {
                        index,
                        numel: t.numel(),
                        got: found.map(|(_, v)| v.len()),
                    })
                }
            }
        }
        Ok(flat)
    }
}
