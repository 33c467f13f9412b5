//! The Tree-structured Parzen Estimator (Bergstra et al., 2011) over the
//! token decisions of any space, skip inputs included.
//!
//! Every token position is a categorical decision (a skip token has two
//! options). After `n_startup` children drawn uniformly, the observed
//! children are split by reward: the best `min(⌈γ·n⌉, max_good)` are
//! "good", the rest "bad". For each position, smoothed counts give
//! `l(x) = (good(x) + w/k) / (n_good + w)` and `g(x)` likewise over the bad
//! ones (k options, w = `prior_weight`: a uniform prior worth w
//! observations). `n_candidates` candidates are drawn from `l`, position by
//! position, and the one with the highest `Σ log l(x) − log g(x)` is
//! proposed (the first drawn among equals). Positions are independent, as
//! in Optuna's default TPE. A candidate already tried (or in flight) is
//! passed over for the best new one: once l(x) has narrowed, most draws
//! repeat the good children, so the draws go on, up to 8 × `n_candidates`,
//! until one is new; only when none is does a repeat go out (a space
//! smaller than the budget).
//!
//! It never waits: one child in flight per trainer slot. Its state is the
//! log: a resumed run rebuilds the observations from `children.jsonl`, and
//! the draws that propose child `id` come from an RNG seeded by the
//! experiment seed and `id` ([`crate::seed::proposal`]). With one slot, the
//! same seed gives the same children. Under a CNN growth schedule a
//! position means the same decision in every layer count (layers are
//! appended), so observations of fewer layers count where they have a token.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::TpeConfig;
use super::{options, BuildContext, Proposal, Proposer, SearchError, Update};
use crate::config::Config;
use crate::space::{sample_uniform, Schema, SearchSpace};

/// How many rounds of `n_candidates` draws may be spent looking for an
/// architecture not tried yet.
const UNSEEN_DRAWS: usize = 8;

/// The TPE proposer.
pub struct Tpe {
    cfg: TpeConfig,
    seed: u64,
    width: usize,
    /// Observed (tokens, reward), in observation order.
    observed: Vec<(Vec<usize>, f64)>,
    /// Indices into `observed`, best reward first (earlier first among equals).
    ranked: Vec<usize>,
    /// Counts of every option at every position over all observations.
    totals: Vec<Vec<u32>>,
    /// Token sequences observed or proposed and not yet observed: a
    /// candidate among them is passed over while an unseen one is drawn.
    seen: HashSet<Vec<usize>>,
}

impl Tpe {
    /// TPE over a run's slots; a resumed run's log gives its observations.
    pub fn new(config: &Config, cx: &BuildContext<'_>) -> Tpe {
        let mut t = Tpe::with_config(config.search.tpe.clone(), config.experiment.seed, cx.slots);
        for r in cx.records {
            t.add(&r.spec.tokens, r.reward);
        }
        t
    }

    /// An empty TPE with `cfg`, seeded by `seed`, keeping `width` children out.
    pub fn with_config(cfg: TpeConfig, seed: u64, width: usize) -> Tpe {
        Tpe {
            cfg,
            seed,
            width: width.max(1),
            observed: Vec::new(),
            ranked: Vec::new(),
            totals: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// One observation.
    pub fn add(&mut self, tokens: &[usize], reward: f64) {
        self.seen.insert(tokens.to_vec());
        if !reward.is_finite() {
            return;
        }
        let i = self.observed.len();
        self.observed.push((tokens.to_vec(), reward));
        // After every equal or better reward: ties keep observation order.
        let at = self
            .ranked
            .partition_point(|&j| self.observed[j].1 >= reward);
        self.ranked.insert(at, i);
        for (pos, &x) in tokens.iter().enumerate() {
            if self.totals.len() <= pos {
                self.totals.push(Vec::new());
            }
            let row = &mut self.totals[pos];
            if row.len() <= x {
                row.resize(x + 1, 0);
            }
            row[x] += 1;
        }
    }

    /// How many observations count as good.
    fn n_good(&self) -> usize {
        let n = self.observed.len() as f64;
        ((self.cfg.gamma * n).ceil() as usize).clamp(1, self.cfg.max_good.max(1))
    }

    /// The proposal drawn with `seed`, remembered as tried.
    fn draw(&mut self, seed: u64, schema: &Schema) -> Proposal {
        let tokens = self.suggest(schema, &mut ChaCha8Rng::seed_from_u64(seed));
        self.seen.insert(tokens.clone());
        Proposal { tokens, version: 0 }
    }

    /// The next proposal for `schema`, from `rng`.
    pub fn suggest(&self, schema: &Schema, rng: &mut impl Rng) -> Vec<usize> {
        if self.observed.len() < self.cfg.n_startup.max(1) {
            let mut x = sample_uniform(schema, rng);
            for _ in 1..self.cfg.n_candidates.max(1) * UNSEEN_DRAWS {
                if !self.seen.contains(&x) {
                    break;
                }
                x = sample_uniform(schema, rng);
            }
            return x;
        }
        let sizes = options(schema);
        let good: Vec<&[usize]> = self.ranked[..self.n_good().min(self.ranked.len())]
            .iter()
            .map(|&j| self.observed[j].0.as_slice())
            .collect();
        let w = self.cfg.prior_weight;
        // Per position: log l(x) and log g(x) for every option x.
        let mut log_l: Vec<Vec<f64>> = Vec::with_capacity(sizes.len());
        let mut log_g: Vec<Vec<f64>> = Vec::with_capacity(sizes.len());
        let mut l_cdf: Vec<Vec<f64>> = Vec::with_capacity(sizes.len());
        for (pos, &k) in sizes.iter().enumerate() {
            let mut good_counts = vec![0f64; k];
            for t in &good {
                if let Some(&x) = t.get(pos).filter(|&&x| x < k) {
                    good_counts[x] += 1.0;
                }
            }
            let total = self.totals.get(pos);
            let all: Vec<f64> = (0..k)
                .map(|x| f64::from(total.and_then(|r| r.get(x)).copied().unwrap_or(0)))
                .collect();
            let bad: Vec<f64> = all
                .iter()
                .zip(&good_counts)
                .map(|(a, g)| (a - g).max(0.0))
                .collect();
            let (ng, nb) = (good_counts.iter().sum::<f64>(), bad.iter().sum::<f64>());
            let prior = w / k as f64;
            let l: Vec<f64> = good_counts.iter().map(|c| (c + prior) / (ng + w)).collect();
            let g: Vec<f64> = bad.iter().map(|c| (c + prior) / (nb + w)).collect();
            let mut acc = 0.0;
            l_cdf.push(
                l.iter()
                    .map(|p| {
                        acc += p;
                        acc
                    })
                    .collect(),
            );
            log_l.push(l.iter().map(|p| p.ln()).collect());
            log_g.push(g.iter().map(|p| p.ln()).collect());
        }
        // The best of `n_candidates` draws from l(x) by l(x)/g(x); once l(x)
        // has narrowed, most draws are architectures already tried, so draws
        // go on (up to 8 × n_candidates) until one of them is new.
        let mut best: Option<(f64, Vec<usize>)> = None;
        let mut best_new: Option<(f64, Vec<usize>)> = None;
        let draws = self.cfg.n_candidates.max(1);
        for i in 0..draws * UNSEEN_DRAWS {
            if i >= draws && best_new.is_some() {
                break;
            }
            let mut cand = Vec::with_capacity(sizes.len());
            let mut score = 0.0;
            for pos in 0..sizes.len() {
                let cdf = &l_cdf[pos];
                let u = rng.random::<f64>() * cdf.last().copied().unwrap_or(1.0);
                let x = cdf
                    .partition_point(|&c| c <= u)
                    .min(cdf.len().saturating_sub(1));
                score += log_l[pos][x] - log_g[pos][x];
                cand.push(x);
            }
            if !self.seen.contains(&cand) {
                if best_new.as_ref().is_none_or(|(s, _)| score > *s) {
                    best_new = Some((score, cand));
                }
            } else if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, cand));
            }
        }
        match best_new.or(best) {
            Some((_, t)) => t,
            None => sample_uniform(schema, rng),
        }
    }
}

impl Proposer for Tpe {
    fn wanted(&self, in_flight: usize) -> usize {
        self.width.saturating_sub(in_flight)
    }

    fn propose(
        &mut self,
        ids: &[u64],
        schema: &Schema,
        _space: &SearchSpace,
    ) -> Result<Vec<Proposal>, SearchError> {
        Ok(ids
            .iter()
            .map(|&id| self.draw(crate::seed::proposal(self.seed, id), schema))
            .collect())
    }

    fn redraw(
        &mut self,
        id: u64,
        attempt: usize,
        schema: &Schema,
        _space: &SearchSpace,
    ) -> Result<Proposal, SearchError> {
        let seed = crate::seed::redraw(crate::seed::proposal(self.seed, id), attempt);
        Ok(self.draw(seed, schema))
    }

    fn observe(
        &mut self,
        _id: u64,
        tokens: &[usize],
        reward: f64,
        _schema: &Schema,
    ) -> Result<Option<Update>, SearchError> {
        self.add(tokens, reward);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Head, Step};

    fn schema() -> Schema {
        Schema {
            heads: vec![Head {
                name: "a".into(),
                size: 4,
            }],
            steps: vec![
                Step::Choice { head: 0 },
                Step::Choice { head: 0 },
                Step::Anchor { layer: 2 },
            ],
        }
    }

    fn cfg() -> TpeConfig {
        TpeConfig {
            n_startup: 5,
            ..TpeConfig::default()
        }
    }

    #[test]
    fn the_good_options_are_proposed_far_more_often_than_the_bad() {
        let s = schema();
        let mut t = Tpe::with_config(cfg(), 1, 1);
        // Reward: position 0 at 3 and skip token 3 at 1 are good.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..60 {
            let x = sample_uniform(&s, &mut rng);
            let r = f64::from(u8::from(x[0] == 3)) + 0.5 * f64::from(u8::from(x[3] == 1));
            t.add(&x, r);
        }
        let mut hits = 0;
        for i in 0..100 {
            let mut r = ChaCha8Rng::seed_from_u64(i);
            let x = t.suggest(&s, &mut r);
            s.check(&x).expect("fits the schema");
            if x[0] == 3 && x[3] == 1 {
                hits += 1;
            }
        }
        // Uniformly: 1/8 of the proposals.
        assert!(hits > 60, "{hits} of 100 proposals at the optimum");
    }

    #[test]
    fn no_architecture_is_proposed_twice_while_new_ones_are_drawn() {
        let s = schema();
        let mut t = Tpe::with_config(cfg(), 4, 1);
        let space_size: usize = options(&s).iter().product();
        let mut seen = HashSet::new();
        for id in 0..space_size.min(40) as u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(id);
            let x = t.suggest(&s, &mut rng);
            assert!(seen.insert(x.clone()), "child {id} repeats {x:?}");
            let r = if x.first() == Some(&0) { 1.0 } else { 0.1 };
            t.add(&x, r);
        }
    }

    #[test]
    fn startup_proposals_are_uniform_and_state_is_its_observations() {
        let s = schema();
        let mut a = Tpe::with_config(cfg(), 1, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let first = a.suggest(&s, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(first, sample_uniform(&s, &mut ChaCha8Rng::seed_from_u64(3)));
        let obs: Vec<(Vec<usize>, f64)> = (0..20)
            .map(|i| (sample_uniform(&s, &mut rng), f64::from(i % 7)))
            .collect();
        for (x, r) in &obs {
            a.add(x, *r);
        }
        let mut b = Tpe::with_config(cfg(), 1, 1);
        for (x, r) in &obs {
            b.add(x, *r);
        }
        for i in 0..10 {
            assert_eq!(
                a.suggest(&s, &mut ChaCha8Rng::seed_from_u64(i)),
                b.suggest(&s, &mut ChaCha8Rng::seed_from_u64(i))
            );
        }
    }
}
