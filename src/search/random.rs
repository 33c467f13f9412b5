//! Random search: every decision uniform over its options (the baseline
//! every strategy must beat). It never waits: one child in flight per
//! trainer slot, a replacement proposed as soon as one ends. The draws that
//! propose child `id` come from an RNG seeded by the experiment seed and
//! `id` ([`crate::seed::proposal`]), so a resumed run proposes what the
//! whole run would have, and the same seed gives the same children.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{BuildContext, Proposal, Proposer, SearchError, Update};
use crate::config::Config;
use crate::space::{sample_uniform, Schema, SearchSpace};

/// The random-search proposer.
pub struct Random {
    seed: u64,
    width: usize,
}

impl Random {
    /// Random search over a run's slots.
    pub fn new(config: &Config, cx: &BuildContext<'_>) -> Random {
        Random {
            seed: config.experiment.seed,
            width: cx.slots.max(1),
        }
    }
}

impl Proposer for Random {
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
            .map(|&id| draw(crate::seed::proposal(self.seed, id), schema))
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
        Ok(draw(seed, schema))
    }

    fn observe(
        &mut self,
        _id: u64,
        _tokens: &[usize],
        _reward: f64,
        _schema: &Schema,
    ) -> Result<Option<Update>, SearchError> {
        Ok(None)
    }
}

/// A uniform proposal drawn with `seed`.
fn draw(seed: u64, schema: &Schema) -> Proposal {
    Proposal {
        tokens: sample_uniform(schema, &mut ChaCha8Rng::seed_from_u64(seed)),
        version: 0,
    }
}
