//! The synthetic reward of a declared space: a deterministic function of the
//! architecture with a known optimum of 1.0, for the synthetic child runner,
//! the controller's learning tests and regret in benchmarks.
//!
//! From a seed, every decision of the schema gets a hidden preferred result
//! ([`DeclaredSpace::preferred`]): each choice token uniform over its head's
//! options, each skip token 0 or 1 with probability ½ (a `ChaCha8Rng`, in
//! token order). The reward is the mean score over the scored decisions:
//! - a choice decision (one per global decision, one per repeat of a group's
//!   choice decision) scores 1 when it equals its preferred choice, else 0;
//! - an inputs decision of repeat `r ≥ 1` scores the fraction of the `r`
//!   earlier repeats on which it agrees with its preferred input set; repeat
//!   0 has nothing to decide and is not scored.
//!
//! So the reward lies in [0, 1]; it is 1.0 exactly at
//! [`DeclaredSpace::optimum`], and `1 − reward` is the regret. Uniform
//! random sampling scores `mean(1/size)` over the choice decisions and ½
//! over the inputs decisions on average.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{DeclaredArch, DeclaredSpace};
use crate::space::{SpaceError, Step};

/// Mixed into the seed so the preferred architecture differs from other draws of the same seed.
const SALT: u64 = 0xDEC1_A2ED_5EED_0001;

impl DeclaredSpace {
    /// The hidden preferred tokens of the synthetic reward for `seed`.
    pub fn preferred(&self, seed: u64) -> Vec<usize> {
        // A uniform draw from the salted seed: every decision's preference equally likely.
        crate::space::sample_uniform(&self.schema(), &mut ChaCha8Rng::seed_from_u64(seed ^ SALT))
    }

    /// The architecture with reward 1.0 for `seed`.
    pub fn optimum(&self, seed: u64) -> Result<DeclaredArch, SpaceError> {
        self.decode(&self.preferred(seed))
    }

    /// The synthetic reward of `arch` for `seed`, in [0, 1]: the mean score of
    /// its decisions against [`DeclaredSpace::preferred`] (see the module doc).
    pub fn synthetic_reward(&self, arch: &DeclaredArch, seed: u64) -> Result<f64, SpaceError> {
        self.synthetic_reward_of_tokens(&self.encode(arch)?, seed)
    }

    /// The synthetic reward of a token sequence of [`DeclaredSpace::schema`].
    pub fn synthetic_reward_of_tokens(
        &self,
        tokens: &[usize],
        seed: u64,
    ) -> Result<f64, SpaceError> {
        let schema = self.schema();
        schema.check(tokens)?;
        let preferred = self.preferred(seed);
        let (mut score, mut scored, mut pos) = (0.0, 0usize, 0);
        for step in &schema.steps {
            match *step {
                Step::Choice { .. } => {
                    score += f64::from(u8::from(tokens[pos] == preferred[pos]));
                    scored += 1;
                    pos += 1;
                }
                Step::Anchor { layer: 0 } => {}
                Step::Anchor { layer } => {
                    let span = pos..pos + layer;
                    let agree = tokens[span.clone()]
                        .iter()
                        .zip(&preferred[span])
                        .filter(|(a, b)| a == b)
                        .count();
                    score += agree as f64 / layer as f64;
                    scored += 1;
                    pos += layer;
                }
            }
        }
        // Validation guarantees at least one token, hence one scored decision.
        Ok(score / scored.max(1) as f64)
    }
}
