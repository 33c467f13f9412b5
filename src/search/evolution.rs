//! Regularized (aging) evolution (Real et al., 2019) over token sequences.
//!
//! The population is the last P children in record order, failed ones
//! included with their failure reward (the oldest leaves as a new one joins:
//! *aging*). While it holds fewer than P, a proposal is drawn uniformly.
//! Otherwise S members are drawn uniformly without replacement, the one with
//! the highest reward wins (the first drawn among equals), and the child is
//! the winner with one decision mutated ([`mutate`]).
//!
//! Every decision is a token of the space's [`Schema`], so one mutation
//! works for every space, built-in or declared: skip-connection tokens are
//! decisions too. A mutation keeps the parent's schema (its layer count):
//! under a CNN growth schedule, only the drawn children follow the schedule.

use std::collections::VecDeque;

use rand::seq::index;
use rand::{Rng, SeedableRng};

use super::config::EvolutionConfig;
use crate::space::{sample_uniform, Schema};

/// One member of the population: a recorded child.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: u64,
    pub tokens: Vec<usize>,
    pub reward: f64,
}

/// What [`Evolution::propose`] proposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub tokens: Vec<usize>,
    /// The tournament winner it was mutated from; None for a drawn child.
    pub parent: Option<u64>,
}

/// The population and the tournament.
#[derive(Debug, Clone)]
pub struct Evolution {
    population: usize,
    sample: usize,
    members: VecDeque<Member>,
}

impl Evolution {
    /// An empty population of at most `cfg.population` members.
    pub fn new(cfg: &EvolutionConfig) -> Evolution {
        Evolution {
            population: cfg.population.max(1),
            sample: cfg.sample.clamp(1, cfg.population.max(1)),
            members: VecDeque::with_capacity(cfg.population),
        }
    }

    /// The population of a resumed run: the last P of `members`, in record order.
    pub fn with_members(cfg: &EvolutionConfig, members: impl IntoIterator<Item = Member>) -> Self {
        let mut e = Evolution::new(cfg);
        for m in members {
            e.add(m);
        }
        e
    }

    /// A recorded child joins; the oldest member leaves once there are more than P.
    pub fn add(&mut self, member: Member) {
        self.members.push_back(member);
        while self.members.len() > self.population {
            self.members.pop_front();
        }
    }

    /// The members, oldest first.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    /// Whether the population is full (proposals are mutations from now on).
    pub fn is_full(&self) -> bool {
        self.members.len() >= self.population
    }

    /// The next child: drawn uniformly from `fresh` (the schema a new
    /// architecture has now) until the population is full, then the
    /// tournament's winner mutated within its own schema (`schema_of`).
    /// Draws come only from `rng`.
    pub fn propose(
        &self,
        fresh: &Schema,
        schema_of: impl Fn(&[usize]) -> Option<Schema>,
        rng: &mut impl Rng,
    ) -> Proposal {
        if !self.is_full() {
            return Proposal {
                tokens: sample_uniform(fresh, rng),
                parent: None,
            };
        }
        let picks = index::sample(rng, self.members.len(), self.sample);
        let mut winner: Option<&Member> = None;
        for i in picks.iter() {
            let m = &self.members[i];
            if winner.is_none_or(|w| m.reward.total_cmp(&w.reward).is_gt()) {
                winner = Some(m);
            }
        }
        let Some(parent) = winner else {
            return Proposal {
                tokens: sample_uniform(fresh, rng),
                parent: None,
            };
        };
        let tokens = match schema_of(&parent.tokens) {
            Some(schema) => mutate(&schema, &parent.tokens, rng),
            // The parent fits no schema of the space (impossible for a recorded child).
            None => sample_uniform(fresh, rng),
        };
        Proposal {
            tokens,
            parent: Some(parent.id),
        }
    }
}

/// `tokens` with one decision changed: a position drawn uniformly among
/// those with at least two options, set to one of its *other* options,
/// drawn uniformly. Tokens with no decision to change come back as they are.
pub fn mutate(schema: &Schema, tokens: &[usize], rng: &mut impl Rng) -> Vec<usize> {
    let sizes = super::options(schema);
    let mutable: Vec<usize> = (0..tokens.len().min(sizes.len()))
        .filter(|&i| sizes[i] >= 2)
        .collect();
    let mut out = tokens.to_vec();
    if mutable.is_empty() {
        return out;
    }
    let pos = mutable[rng.random_range(0..mutable.len())];
    let other = rng.random_range(0..sizes[pos] - 1);
    // Skip over the current value: uniform over the other options.
    out[pos] = if other >= tokens[pos] {
        other + 1
    } else {
        other
    };
    out
}

/// Regularized evolution as a proposer: one child in flight per trainer
/// slot; each recorded child joins the population and the next one goes
/// out at once (asynchronous, as in Real et al.). Its state is the log: a
/// resumed run rebuilds the population from `children.jsonl`; the draws
/// that propose child `id` come from an RNG seeded by the experiment seed
/// and `id` ([`crate::seed::evolution`]). With one slot, the same seed gives
/// the same children.
pub struct Evolver {
    evolution: Evolution,
    seed: u64,
    width: usize,
}

impl Evolver {
    /// Evolution over a run's slots, its population the resumed log's last P children.
    pub fn new(config: &crate::config::Config, cx: &super::BuildContext<'_>) -> Evolver {
        let evolution = Evolution::with_members(
            &config.search.evolution,
            cx.records.iter().map(|r| Member {
                id: r.spec.id,
                tokens: r.spec.tokens.clone(),
                reward: r.reward,
            }),
        );
        Evolver {
            evolution,
            seed: config.experiment.seed,
            width: cx.slots.max(1),
        }
    }

    /// One proposal, its draws seeded with `seed`.
    fn draw(
        &self,
        seed: u64,
        schema: &Schema,
        space: &crate::space::SearchSpace,
    ) -> super::Proposal {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let p = self
            .evolution
            .propose(schema, |t| space.schema_for_len(t.len()).ok(), &mut rng);
        super::Proposal {
            tokens: p.tokens,
            version: 0,
        }
    }
}

impl super::Proposer for Evolver {
    fn wanted(&self, in_flight: usize) -> usize {
        self.width.saturating_sub(in_flight)
    }

    fn propose(
        &mut self,
        ids: &[u64],
        schema: &Schema,
        space: &crate::space::SearchSpace,
    ) -> Result<Vec<super::Proposal>, super::SearchError> {
        Ok(ids
            .iter()
            .map(|&id| self.draw(crate::seed::evolution(self.seed, id), schema, space))
            .collect())
    }

    fn redraw(
        &mut self,
        id: u64,
        attempt: usize,
        schema: &Schema,
        space: &crate::space::SearchSpace,
    ) -> Result<super::Proposal, super::SearchError> {
        let seed = crate::seed::redraw(crate::seed::evolution(self.seed, id), attempt);
        Ok(self.draw(seed, schema, space))
    }

    fn observe(
        &mut self,
        id: u64,
        tokens: &[usize],
        reward: f64,
        _schema: &Schema,
    ) -> Result<Option<super::Update>, super::SearchError> {
        self.evolution.add(Member {
            id,
            tokens: tokens.to_vec(),
            reward,
        });
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Head, Step};
    use rand_chacha::ChaCha8Rng;

    fn schema() -> Schema {
        Schema {
            heads: vec![
                Head {
                    name: "a".into(),
                    size: 3,
                },
                Head {
                    name: "one".into(),
                    size: 1,
                },
            ],
            steps: vec![
                Step::Choice { head: 0 },
                Step::Choice { head: 1 },
                Step::Anchor { layer: 2 },
            ],
        }
    }

    #[test]
    fn a_mutation_changes_exactly_one_decision_to_another_option() {
        let s = schema();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let parent = vec![2, 0, 1, 0];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let child = mutate(&s, &parent, &mut rng);
            s.check(&child).expect("fits the schema");
            let changed: Vec<usize> = (0..4).filter(|&i| child[i] != parent[i]).collect();
            assert_eq!(changed.len(), 1, "{child:?}");
            assert_ne!(changed[0], 1, "a one-option head is never mutated");
            seen.insert(child);
        }
        // Position 0: two other options; each skip token: one. Every one occurs.
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn the_tournament_mutates_its_best_member_once_the_population_is_full() {
        let cfg = EvolutionConfig {
            population: 3,
            sample: 3,
        };
        let s = schema();
        let mut e = Evolution::new(&cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert_eq!(e.propose(&s, |_| Some(s.clone()), &mut rng).parent, None);
        for (id, r) in [(0, 0.2), (1, 0.9), (2, 0.5)] {
            e.add(Member {
                id,
                tokens: vec![0, 0, 0, 0],
                reward: r,
            });
        }
        // S = P: the whole population competes; the best (id 1) always wins.
        for _ in 0..20 {
            assert_eq!(e.propose(&s, |_| Some(s.clone()), &mut rng).parent, Some(1));
        }
        // Aging: the oldest leaves, even though it is the best.
        e.add(Member {
            id: 3,
            tokens: vec![0, 0, 0, 0],
            reward: 0.1,
        });
        e.add(Member {
            id: 4,
            tokens: vec![0, 0, 0, 0],
            reward: 0.1,
        });
        let ids: Vec<u64> = e.members().map(|m| m.id).collect();
        assert_eq!(ids, vec![2, 3, 4]);
        assert_eq!(e.propose(&s, |_| Some(s.clone()), &mut rng).parent, Some(2));
    }
}
