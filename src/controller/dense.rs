//! The controller's weights as plain row-major `f32` arrays, for sampling.
//! Sampling runs one small step at a time (a few matrix-vector products of
//! the hidden size), where a tensor library spends most of its time in
//! dispatch and allocation; plain loops over these arrays do the same `f32`
//! arithmetic several times faster.

use tch::{Kind, Tensor};

use super::ControllerError;
use crate::controller::Controller;

/// A snapshot of a controller's weights.
pub(crate) struct Dense {
    pub hidden: usize,
    pub layers: Vec<DenseLayer>,
    /// The input table (`start`, `anchor`, each head's embeddings), `[V, H]`.
    table: Vec<f32>,
    /// Per head: `[size, H]` and `[size]`.
    pub head_w: Vec<Vec<f32>>,
    pub head_b: Vec<Vec<f32>>,
    /// Row of each head's first embedding in the table.
    pub head_rows: Vec<usize>,
    /// Attention, `[H, H]`, `[H, H]` and `[H]`.
    pub w_prev: Vec<f32>,
    pub w_curr: Vec<f32>,
    pub v: Vec<f32>,
}

/// One LSTM layer: `wt` is `[2H, 4H]`, the transpose of `[w_ih | w_hh]`
/// (row j: what input j adds to every gate), `b` is `b_ih + b_hh`; torch's
/// gate order i, f, g, o.
pub(crate) struct DenseLayer {
    pub wt: Vec<f32>,
    b: Vec<f32>,
}

/// A tensor's values as `f32`, row-major.
fn values(t: &Tensor) -> Result<Vec<f32>, ControllerError> {
    let t = t.f_to_kind(Kind::Float)?.f_contiguous()?;
    let len = t.numel();
    let mut v = vec![0f32; len];
    t.f_copy_data(&mut v, len)?;
    Ok(v)
}

impl Dense {
    /// Copy the controller's current weights.
    pub fn from_controller(c: &Controller) -> Result<Dense, ControllerError> {
        let hd = c.hidden as usize;
        let mut layers = Vec::with_capacity(c.layers as usize);
        for l in c.w.lstm.chunks(4) {
            let [w_ih, w_hh, b_ih, b_hh] = [&l[0], &l[1], &l[2], &l[3]].map(values);
            let (w_ih, w_hh, b_ih, b_hh) = (w_ih?, w_hh?, b_ih?, b_hh?);
            let mut wt = vec![0f32; 8 * hd * hd];
            for r in 0..4 * hd {
                for j in 0..hd {
                    wt[j * 4 * hd + r] = w_ih[r * hd + j];
                    wt[(hd + j) * 4 * hd + r] = w_hh[r * hd + j];
                }
            }
            let b = b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect();
            layers.push(DenseLayer { wt, b });
        }
        Ok(Dense {
            hidden: hd,
            layers,
            table: values(&c.input_table())?,
            head_w: c.w.head_w.iter().map(values).collect::<Result<_, _>>()?,
            head_b: c.w.head_b.iter().map(values).collect::<Result<_, _>>()?,
            head_rows: c.w.head_rows.iter().map(|&r| r as usize).collect(),
            w_prev: values(&c.w.w_prev)?,
            w_curr: values(&c.w.w_curr)?,
            v: values(&c.w.v)?,
        })
    }

    /// Number of values in the input table (`V · H`).
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Row `r` of the input table.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.table[r * self.hidden..(r + 1) * self.hidden]
    }
}

impl DenseLayer {
    /// One LSTM step of one sequence: input `x`; state `h`, `c` updated in
    /// place; `gates` (`4H`) ends holding the gate activations i, f, g, o.
    pub fn step(&self, x: &[f32], h: &mut [f32], c: &mut [f32], gates: &mut [f32]) {
        let hd = h.len();
        gates.copy_from_slice(&self.b);
        // Column by column: each step a whole-vector multiply-add, no reductions.
        for (xj, col) in x.iter().chain(h.iter()).zip(self.wt.chunks_exact(4 * hd)) {
            for (g, w) in gates.iter_mut().zip(col) {
                *g += xj * w;
            }
        }
        for u in 0..hd {
            let i = sigmoid(gates[u]);
            let f = sigmoid(gates[hd + u]);
            let g = tanh(gates[2 * hd + u]);
            let o = sigmoid(gates[3 * hd + u]);
            c[u] = f * c[u] + i * g;
            h[u] = o * tanh(c[u]);
            // The activations stay in `gates` for a backward pass.
            [
                gates[u],
                gates[hd + u],
                gates[2 * hd + u],
                gates[3 * hd + u],
            ] = [i, f, g, o];
        }
    }
}

/// `a · b`, with eight partial sums (so the compiler can vectorise it).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out = m · x` for a row-major `[out.len(), x.len()]` matrix `m`.
pub(crate) fn matvec(m: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len();
    for (r, o) in out.iter_mut().enumerate() {
        *o = dot(&m[r * n..(r + 1) * n], x);
    }
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// tanh through one `exp` (libm's `tanhf` is several times slower); exact
/// at ±∞, absolute error ~1e-7 near 0.
#[inline]
pub(crate) fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / ((2.0 * x).exp() + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_matvec_match_the_definition() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.25).collect();
        let direct: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - direct).abs() < 1e-4);
        let m: Vec<f32> = a.iter().chain(&b).copied().collect(); // [2, 19]
        let mut out = [0f32; 2];
        matvec(&m, &b, &mut out);
        assert!((out[0] - direct).abs() < 1e-4);
        assert!((out[1] - b.iter().map(|x| x * x).sum::<f32>()).abs() < 1e-4);
    }

    #[test]
    fn tanh_matches_libm() {
        for x in [-100.0f32, -9.0, -1.5, -1e-3, 0.0, 1e-6, 0.3, 2.0, 40.0, 1e4] {
            assert!((tanh(x) - x.tanh()).abs() < 3e-7, "x={x}");
        }
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
    }
}
