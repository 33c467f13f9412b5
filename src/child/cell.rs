//! The searched recurrent cell ([`CellArch`]), evaluated fast: the input
//! projections of all leaves for all time steps are one matrix product per
//! sequence (`[T·B, in] × [in, base·H]`), the recurrent projections of all
//! leaves one product per step (`[B, H] × [H, base·H]`); the tree is then
//! evaluated on slices of those products.
//!
//! Semantics (see [`crate::space::cell`]): leaf k: `pre_k = W_k x_t ⊕ U_k h_{t-1}`;
//! inner node: `pre_k = left ⊕ right`; `out_k = act_k(pre_k)`; at the inject
//! node `out_k ← act_inj(out_k ⊕_inj c_{t-1})`; `c_t = pre_{cell_node}`;
//! `h_t = out_root`. Leaf k's `W_k` is columns `k·H..(k+1)·H` of the input
//! weight, `U_k` the same columns of the recurrent weight. No biases.

use tch::{nn, TchError, Tensor};

use crate::space::cell::{children, num_nodes};
use crate::space::{cell::Activation, cell::Combination, CellArch};

/// The recurrent state of one cell layer: `h` and `c`, each `[B, H]`.
#[derive(Debug)]
pub struct CellState {
    pub h: Tensor,
    pub c: Tensor,
}

impl CellState {
    /// Both tensors cut from the autograd graph (truncated BPTT).
    pub fn detach(&self) -> CellState {
        CellState {
            h: self.h.detach(),
            c: self.c.detach(),
        }
    }
}

/// `a ⊕ b` for a node's combination.
pub fn combine(c: Combination, a: &Tensor, b: &Tensor) -> Result<Tensor, TchError> {
    match c {
        Combination::Add => a.f_add(b),
        Combination::ElemMult => a.f_mul(b),
        Combination::Max => a.f_maximum(b),
    }
}

/// A node's activation.
pub fn activate(a: Activation, x: &Tensor) -> Result<Tensor, TchError> {
    match a {
        Activation::Identity => Ok(x.shallow_clone()),
        Activation::Tanh => x.f_tanh(),
        Activation::Sigmoid => x.f_sigmoid(),
        Activation::Relu => x.f_relu(),
        Activation::Sin => x.f_sin(),
    }
}

/// Why a cell architecture cannot be built, or cannot take a cell's weights.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    /// The base (leaves of the tree) is not a power of two of at least 2.
    #[error("cell base {base} is not a power of two ≥ 2")]
    Base { base: usize },
    /// The node list does not have the base's node count.
    #[error("a base-{base} cell has {expected} nodes, the architecture lists {got}")]
    NodeCount {
        base: usize,
        expected: usize,
        got: usize,
    },
    /// The inject node or the cell-state node is not a node of the tree.
    #[error("inject_node {inject_node} / cell_node {cell_node} outside the nodes 0..{last}")]
    NodeOutOfRange {
        inject_node: usize,
        cell_node: usize,
        last: usize,
    },
    /// Weight sharing asked across bases: the leaves' projections differ in shape.
    #[error("a base-{base} cell cannot take the weights of a base-{weights} cell")]
    OtherBase { base: usize, weights: usize },
}

/// Why a cell architecture cannot be built.
pub fn check(arch: &CellArch) -> Result<(), CellError> {
    if arch.base < 2 || !arch.base.is_power_of_two() {
        return Err(CellError::Base { base: arch.base });
    }
    let n = num_nodes(arch.base);
    if arch.nodes.len() != n {
        return Err(CellError::NodeCount {
            base: arch.base,
            expected: n,
            got: arch.nodes.len(),
        });
    }
    if arch.inject_node >= n || arch.cell_node >= n {
        return Err(CellError::NodeOutOfRange {
            inject_node: arch.inject_node,
            cell_node: arch.cell_node,
            last: n - 1,
        });
    }
    Ok(())
}

/// One layer of the searched cell.
#[derive(Debug)]
pub struct FastCell {
    arch: CellArch,
    hidden: i64,
    /// `[in, base·H]`: the input weights of all leaves side by side.
    w_x: Tensor,
    /// `[H, base·H]`: the recurrent weights of all leaves side by side.
    w_h: Tensor,
}

impl FastCell {
    /// Variables `w_x` `[input_size, base·hidden_size]` and `w_h`
    /// `[hidden_size, base·hidden_size]` under `p`. Errors name what is wrong with `arch`.
    pub fn new(
        p: &nn::Path,
        arch: &CellArch,
        input_size: usize,
        hidden_size: usize,
    ) -> Result<FastCell, CellError> {
        check(arch)?;
        let width = (arch.base * hidden_size) as i64;
        let init = nn::Init::Uniform { lo: -0.1, up: 0.1 };
        Ok(FastCell {
            arch: arch.clone(),
            hidden: hidden_size as i64,
            w_x: p.var("w_x", &[input_size as i64, width], init),
            w_h: p.var("w_h", &[hidden_size as i64, width], init),
        })
    }

    /// The cell's architecture.
    pub fn arch(&self) -> &CellArch {
        &self.arch
    }

    /// Evaluate another architecture of the same base with the same weights
    /// (in the cell space every cell of a base has the same variables: the
    /// leaves' projections; the tree's nodes have none). Weight sharing.
    pub fn set_arch(&mut self, arch: &CellArch) -> Result<(), CellError> {
        check(arch)?;
        if arch.base != self.arch.base {
            return Err(CellError::OtherBase {
                base: arch.base,
                weights: self.arch.base,
            });
        }
        self.arch = arch.clone();
        Ok(())
    }

    /// The input weight `[in, base·H]` (leaf k: columns `k·H..(k+1)·H`).
    pub fn input_weight(&self) -> &Tensor {
        &self.w_x
    }

    /// The recurrent weight `[H, base·H]` (leaf k: columns `k·H..(k+1)·H`).
    pub fn recurrent_weight(&self) -> &Tensor {
        &self.w_h
    }

    /// Zeros `[batch, H]` for `h` and `c`, on the weights' device.
    pub fn zero_state(&self, batch: i64) -> CellState {
        let opts = (self.w_h.kind(), self.w_h.device());
        CellState {
            h: Tensor::zeros([batch, self.hidden], opts),
            c: Tensor::zeros([batch, self.hidden], opts),
        }
    }

    /// Run a sequence. `xs`: `[T, B, in]`; returns the outputs `h_1..h_T`
    /// `[T, B, H]` and the final state.
    pub fn seq(&self, xs: &Tensor, state: &CellState) -> Result<(Tensor, CellState), TchError> {
        let s = xs.size();
        let (steps, batch) = (s[0], s[1]);
        let width = self.w_x.size()[1];
        let projected = xs
            .f_reshape([steps * batch, s[2]])?
            .f_matmul(&self.w_x)?
            .f_view([steps, batch, width])?;
        let mut state = CellState {
            h: state.h.shallow_clone(),
            c: state.c.shallow_clone(),
        };
        let mut outputs = Vec::with_capacity(steps as usize);
        for t in 0..steps {
            state = self.step(&projected.f_select(0, t)?, &state)?;
            outputs.push(state.h.shallow_clone());
        }
        Ok((Tensor::f_stack(&outputs, 0)?, state))
    }

    /// One step from the projected input `[B, base·H]` and the previous state.
    fn step(&self, x_proj: &Tensor, prev: &CellState) -> Result<CellState, TchError> {
        let a = &self.arch;
        let h = self.hidden;
        let h_proj = prev.h.f_matmul(&self.w_h)?;
        let n = num_nodes(a.base);
        let mut pre: Vec<Tensor> = Vec::with_capacity(n);
        let mut out: Vec<Tensor> = Vec::with_capacity(n);
        for (k, node) in a.nodes.iter().enumerate() {
            let p = match children(a.base, k) {
                None => {
                    let start = k as i64 * h;
                    combine(
                        node.combination,
                        &x_proj.f_narrow(1, start, h)?,
                        &h_proj.f_narrow(1, start, h)?,
                    )?
                }
                Some((l, r)) => combine(node.combination, &out[l], &out[r])?,
            };
            let mut o = activate(node.activation, &p)?;
            if k == a.inject_node {
                o = activate(
                    a.inject.activation,
                    &combine(a.inject.combination, &o, &prev.c)?,
                )?;
            }
            pre.push(p);
            out.push(o);
        }
        Ok(CellState {
            h: out[n - 1].shallow_clone(),
            c: pre[a.cell_node].shallow_clone(),
        })
    }
}

/// Trainable parameters of one cell layer: `(in + H)·base·H`.
pub fn param_count(arch: &CellArch, input_size: usize, hidden_size: usize) -> usize {
    (input_size + hidden_size) * arch.base * hidden_size
}
