//! Scoring given token sequences (teacher forcing): every LSTM input is known
//! from the tokens, so the whole batch runs through one fused `Tensor::lstm`
//! call, each head scores all its steps at once, and the skip attention
//! scores every (earlier layer, layer) pair at once. Differentiable; the
//! REINFORCE gradient is taken from here.

use tch::{Device, Kind, Tensor};

use super::plan::{Plan, PlanStep};
use super::ControllerError;
use crate::controller::Controller;
use crate::space::Schema;

impl Controller {
    /// log P(tokens) of each sequence under the controller, differentiable.
    ///
    /// # Shapes
    /// `tokens`: `n` sequences of `schema.num_tokens()` → `[n]` (f64).
    ///
    /// # Panics
    /// If the schema does not fit the controller or a sequence does not fit
    /// the schema (see [`Controller::try_log_prob`], which returns those as errors).
    pub fn log_prob(&self, schema: &Schema, tokens: &[Vec<usize>]) -> Tensor {
        match self.try_log_prob(schema, tokens) {
            Ok(t) => t,
            Err(e) => panic!("Controller::log_prob: {e}"),
        }
    }

    /// [`Controller::log_prob`], with sequences that do not fit as an error.
    pub fn try_log_prob(
        &self,
        schema: &Schema,
        tokens: &[Vec<usize>],
    ) -> Result<Tensor, ControllerError> {
        let plan = self.checked_plan(schema, tokens)?;
        Ok(self.score(&plan, tokens, false)?.0)
    }

    /// Summed entropy of every decision's distribution along each given sequence.
    ///
    /// # Shapes
    /// `tokens`: `n` sequences → `[n]` (f64).
    pub fn entropy(
        &self,
        schema: &Schema,
        tokens: &[Vec<usize>],
    ) -> Result<Tensor, ControllerError> {
        let plan = self.checked_plan(schema, tokens)?;
        let (_, entropy) = self.score(&plan, tokens, true)?;
        Ok(entropy
            .unwrap_or_else(|| Tensor::zeros([tokens.len() as i64], (Kind::Double, Device::Cpu))))
    }

    /// The REINFORCE loss of a batch and its flat gradient (order of
    /// [`Controller::flat_params`]):
    /// `loss = −1/m Σ_k adv_k · log P(tokens_k) − entropy_weight · mean_k H_k`.
    ///
    /// Returns `(gradient, loss)`.
    pub fn reinforce_gradient(
        &self,
        schema: &Schema,
        tokens: &[Vec<usize>],
        advantages: &[f64],
    ) -> Result<(Vec<f32>, f64), ControllerError> {
        self.weighted_gradient(schema, tokens, advantages, self.entropy_weight != 0.0)
    }

    /// The gradient that raises the likelihood of `tokens` (the replay of
    /// the best architectures seen, `controller.replay_top`):
    /// `loss = −weight/n Σ_k log P(tokens_k)`, no entropy term.
    ///
    /// Returns `(gradient, loss)`.
    pub fn imitation_gradient(
        &self,
        schema: &Schema,
        tokens: &[Vec<usize>],
        weight: f64,
    ) -> Result<(Vec<f32>, f64), ControllerError> {
        self.weighted_gradient(schema, tokens, &vec![weight; tokens.len()], false)
    }

    fn weighted_gradient(
        &self,
        schema: &Schema,
        tokens: &[Vec<usize>],
        advantages: &[f64],
        with_entropy: bool,
    ) -> Result<(Vec<f32>, f64), ControllerError> {
        super::check_values(tokens.len(), advantages)?;
        let plan = self.checked_plan(schema, tokens)?;
        let m = tokens.len() as f64;
        let (log_prob, entropy) = self.score(&plan, tokens, with_entropy)?;
        let adv = Tensor::from_slice(advantages);
        let mut loss = -(log_prob * adv).sum(Kind::Double) / m;
        if let Some(h) = entropy {
            loss -= h.mean(Kind::Double) * self.entropy_weight;
        }
        let params = self.param_tensors();
        let grads = Tensor::f_run_backward(&[&loss], &params, false, false)?;
        let mut flat = Vec::with_capacity(self.num_params());
        for (g, p) in grads.iter().zip(&params) {
            if g.defined() {
                flat.extend(super::policy::to_f32(g));
            } else {
                // A variable this schema never uses (e.g. attention without skips).
                flat.extend(std::iter::repeat_n(0f32, p.numel()));
            }
        }
        Ok((flat, loss.f_double_value(&[])?))
    }

    /// The plan of `schema`, after checking a non-empty batch against it.
    fn checked_plan(
        &self,
        schema: &Schema,
        tokens: &[Vec<usize>],
    ) -> Result<Plan, ControllerError> {
        if tokens.is_empty() {
            return Err(ControllerError::EmptyBatch);
        }
        let plan = Plan::new(schema, &self.heads)?;
        for (index, seq) in tokens.iter().enumerate() {
            schema
                .check(seq)
                .map_err(|source| ControllerError::Tokens { index, source })?;
        }
        Ok(plan)
    }

    /// Log-probabilities `[n]` and, when asked, summed entropies `[n]`.
    fn score(
        &self,
        plan: &Plan,
        tokens: &[Vec<usize>],
        with_entropy: bool,
    ) -> Result<(Tensor, Option<Tensor>), ControllerError> {
        let n = tokens.len() as i64;
        let steps = plan.steps.len() as i64;
        let opts = (Kind::Double, Device::Cpu);
        let mut log_prob = Tensor::zeros([n], opts);
        let mut entropy = with_entropy.then(|| Tensor::zeros([n], opts));
        if steps == 0 {
            return Ok((log_prob, entropy));
        }
        let rows = plan.input_rows(&self.w.head_rows, tokens);
        let x = self
            .input_table()
            .f_index_select(0, &Tensor::from_slice(&rows))?
            .view([steps, n, self.hidden]); // [T, n, H]
        let h0 = self.zero_state(n);
        let lstm: Vec<&Tensor> = self.w.lstm.iter().collect();
        let (y, _, _) = x.f_lstm(
            &[&h0, &h0],
            &lstm,
            true,
            self.layers,
            0.0,
            false,
            false,
            false,
        )?; // [T, n, H]

        // Softmax decisions, one head at a time.
        for head in 0..self.heads.len() {
            let mut ts: Vec<i64> = Vec::new();
            let mut chosen: Vec<i64> = Vec::new();
            for (t, step) in plan.steps.iter().enumerate() {
                if let PlanStep::Choice { head: h, pos } = *step {
                    if h == head {
                        ts.push(t as i64);
                        chosen.extend(tokens.iter().map(|seq| seq[pos] as i64));
                    }
                }
            }
            if ts.is_empty() {
                continue;
            }
            let th = ts.len() as i64;
            let logits = y
                .f_index_select(0, &Tensor::from_slice(&ts))? // [Th, n, H]
                .f_linear(&self.w.head_w[head], Some(&self.w.head_b[head]))? // [Th, n, size]
                .f_to_kind(Kind::Double)?;
            let lp = self.shape_logits(logits).log_softmax(-1, Kind::Double);
            let idx = Tensor::from_slice(&chosen).view([th, n, 1]);
            log_prob += lp
                .f_gather(-1, &idx, false)?
                .squeeze_dim(-1)
                .sum_dim_intlist(0, false, Kind::Double);
            if let Some(h) = entropy.as_mut() {
                let e =
                    -(lp.exp() * &lp).sum_dim_intlist([0i64, 2].as_slice(), false, Kind::Double);
                *h = &*h + e;
            }
        }

        // Skip decisions: all pairs (j < i) of anchors at once.
        let mut anchor_steps: Vec<i64> = Vec::with_capacity(plan.anchors);
        let (mut is, mut js, mut signs) = (Vec::new(), Vec::new(), Vec::new());
        for (t, step) in plan.steps.iter().enumerate() {
            if let PlanStep::Anchor { layer, pos } = *step {
                anchor_steps.push(t as i64);
                for j in 0..layer {
                    is.push(layer as i64);
                    js.push(j as i64);
                    signs.extend(
                        tokens
                            .iter()
                            .map(|seq| if seq[pos + j] == 1 { 1.0 } else { -1.0 }),
                    );
                }
            }
        }
        if !is.is_empty() {
            let pairs = is.len() as i64;
            let anchors = y.f_index_select(0, &Tensor::from_slice(&anchor_steps))?; // [L, n, H]
            let keys = anchors.f_matmul(&self.w.w_prev.tr())?; // [L, n, H]
            let queries = anchors.f_matmul(&self.w.w_curr.tr())?; // [L, n, H]
            let logits = keys
                .f_index_select(0, &Tensor::from_slice(&js))? // [P, n, H]
                .f_add(&queries.f_index_select(0, &Tensor::from_slice(&is))?)?
                .tanh()
                .f_matmul(&self.w.v)? // [P, n, 1]
                .squeeze_dim(-1) // [P, n]
                .f_to_kind(Kind::Double)?;
            let x = self.shape_logits(logits);
            let sign = Tensor::from_slice(&signs).view([pairs, n]);
            log_prob += (&x * sign)
                .log_sigmoid()
                .sum_dim_intlist(0, false, Kind::Double);
            if let Some(h) = entropy.as_mut() {
                let (lp1, lp0) = (x.log_sigmoid(), (-&x).log_sigmoid());
                let e =
                    -(lp1.exp() * &lp1 + lp0.exp() * &lp0).sum_dim_intlist(0, false, Kind::Double);
                *h = &*h + e;
            }
        }
        Ok((log_prob, entropy))
    }
}
