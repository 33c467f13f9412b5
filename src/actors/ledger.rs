//! The Recorder's bookkeeping of recorded children, free of actors and I/O:
//! the architecture cache (a repeated architecture is answered with the
//! reward it got), the counts (with the repeats that spent no budget under
//! `search.repeats = "free"`: the first `free_limit` in record order), the
//! top list that best.json is written from, and the compute the children
//! cost. The Recorder owns one; a resumed run replays its log into it.

use std::collections::HashMap;

use super::messages::Tally;
use crate::child::{ChildOutcome, ChildStatus};
use crate::search::Compute;
use crate::store::ChildRecord;

/// What the cache keeps of a trained architecture.
#[derive(Debug, Clone, PartialEq)]
struct Cached {
    reward: f64,
    metric: Option<f64>,
    params: usize,
}

/// Counts, cache, top list and compute of the recorded children.
#[derive(Debug)]
pub struct Ledger {
    cache: HashMap<String, Cached>,
    done: usize,
    failures: usize,
    diverged: usize,
    cached: usize,
    /// Of the cached, those that spent no budget (`search.repeats = "free"`).
    free: usize,
    /// At most this many repeats are free.
    free_limit: usize,
    /// The best children, highest reward first, at most `top` of them.
    best: Vec<ChildRecord>,
    top: usize,
    compute: Compute,
    /// Epochs of a child that nothing stops (None: children report no epochs).
    epochs_per_child: Option<usize>,
}

impl Ledger {
    /// An empty ledger keeping the `top` best children.
    pub fn new(top: usize, epochs_per_child: Option<usize>) -> Ledger {
        Ledger {
            cache: HashMap::new(),
            done: 0,
            failures: 0,
            diverged: 0,
            cached: 0,
            free: 0,
            free_limit: 0,
            best: Vec::new(),
            top,
            compute: Compute::default(),
            epochs_per_child,
        }
    }

    /// The first `limit` repeats (cached children) in record order spend no
    /// budget (`search.repeats = "free"`; 0: none does).
    pub fn with_free_repeats(mut self, limit: usize) -> Ledger {
        self.free_limit = limit;
        self
    }

    /// Count a recorded child; true if the top list changed.
    pub fn count(&mut self, rec: &ChildRecord) -> bool {
        self.done += 1;
        self.compute.add(rec, self.epochs_per_child);
        match rec.status {
            ChildStatus::Ok | ChildStatus::Diverged => {
                self.cache.entry(rec.spec.hash.clone()).or_insert(Cached {
                    reward: rec.reward,
                    metric: rec.metric,
                    params: rec.params,
                });
            }
            ChildStatus::Cached => {
                self.cached += 1;
                if self.free < self.free_limit {
                    self.free += 1;
                }
            }
            // A stopped architecture that comes up again is trained again: its
            // reward is a partial one, and the median it was judged by moves.
            ChildStatus::Failed | ChildStatus::Stopped => {}
        }
        match rec.status {
            ChildStatus::Failed => self.failures += 1,
            ChildStatus::Diverged => self.diverged += 1,
            _ => {}
        }
        if rec.status != ChildStatus::Ok {
            return false;
        }
        let worst = self.best.last().map(|b| b.reward);
        if self.best.len() >= self.top && worst.is_some_and(|w| rec.reward <= w) {
            return false;
        }
        self.best.push(rec.clone());
        self.best.sort_by(|a, b| b.reward.total_cmp(&a.reward));
        self.best.truncate(self.top);
        true
    }

    /// The outcome of an architecture (by hash) trained before: status
    /// cached, with the reward, metric and size it got; None if it is new.
    pub fn cached_outcome(&self, hash: &str) -> Option<ChildOutcome> {
        self.cache.get(hash).map(|c| ChildOutcome {
            status: ChildStatus::Cached,
            reward: c.reward,
            metric: c.metric,
            epochs: Vec::new(),
            params: c.params,
            seconds: 0.0,
            message: None,
        })
    }

    /// Children recorded.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Of those, failed (an error, a panic, a timeout; not a divergence).
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Of those, diverged (a NaN or infinite loss).
    pub fn diverged(&self) -> usize {
        self.diverged
    }

    /// The tally of `records` (a resumed run's log), as the Recorder that
    /// replays them will count them.
    pub fn tally_of(records: &[ChildRecord]) -> Tally {
        let mut l = Ledger::new(1, None);
        for r in records {
            l.count(r);
        }
        l.tally()
    }

    /// The counts and the best reward so far, as the status line shows them.
    pub fn tally(&self) -> Tally {
        let best = self.best();
        Tally {
            done: self.done,
            failures: self.failures,
            diverged: self.diverged,
            cached: self.cached,
            best_reward: best.map_or(0.0, |b| b.reward),
            best_metric: best.and_then(|b| b.metric),
        }
    }

    /// Of those, answered from the cache.
    pub fn cached(&self) -> usize {
        self.cached
    }

    /// Of those, repeats that spent no budget.
    pub fn free(&self) -> usize {
        self.free
    }

    /// The best child so far.
    pub fn best(&self) -> Option<&ChildRecord> {
        self.best.first()
    }

    /// The top list, best first (what best.json is written from).
    pub fn top(&self) -> &[ChildRecord] {
        &self.best
    }

    /// How many the top list keeps.
    pub fn top_len(&self) -> usize {
        self.top
    }

    /// What the recorded children cost.
    pub fn compute(&self) -> &Compute {
        &self.compute
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::ChildSpec;
    use crate::space::{Architecture, CnnArch};

    fn rec(id: u64, hash: &str, status: ChildStatus, reward: f64) -> ChildRecord {
        let spec = ChildSpec {
            id,
            replica: 0,
            version: 0,
            tokens: vec![],
            arch: Architecture::Cnn(CnnArch { layers: vec![] }),
            hash: hash.into(),
            seed: 0,
        };
        let outcome = ChildOutcome {
            status,
            reward,
            metric: Some(reward),
            epochs: vec![],
            params: 7,
            seconds: 1.0,
            message: None,
        };
        ChildRecord::new(spec, outcome, "cpu#0".into(), 0.0, 1.0)
    }

    #[test]
    fn counts_caches_and_keeps_the_top() {
        let mut l = Ledger::new(2, None);
        assert!(l.count(&rec(0, "a", ChildStatus::Ok, 0.5)));
        assert!(!l.count(&rec(1, "b", ChildStatus::Failed, 0.0)));
        assert!(!l.count(&rec(2, "c", ChildStatus::Stopped, 0.3)));
        assert!(l.count(&rec(3, "d", ChildStatus::Ok, 0.9)));
        assert!(
            !l.count(&rec(4, "e", ChildStatus::Ok, 0.1)),
            "below a full top list"
        );
        assert!(!l.count(&rec(5, "a", ChildStatus::Cached, 0.5)));
        assert!(!l.count(&rec(6, "f", ChildStatus::Diverged, 0.0)));
        assert_eq!(
            (l.done(), l.failures(), l.diverged(), l.cached()),
            (7, 1, 1, 1),
            "a divergence is not a failure"
        );
        let t = l.tally();
        assert_eq!((t.best_reward, t.best_metric), (0.9, Some(0.9)));
        let top: Vec<u64> = l.top().iter().map(|r| r.spec.id).collect();
        assert_eq!(top, [3, 0]);
        assert_eq!(l.best().map(|r| r.spec.id), Some(3));
        // Trained architectures are answered from the cache; failed and
        // stopped ones are trained again.
        let hit = l.cached_outcome("a").expect("cached");
        assert_eq!(
            (hit.status, hit.reward, hit.params),
            (ChildStatus::Cached, 0.5, 7)
        );
        assert!(l.cached_outcome("b").is_none() && l.cached_outcome("c").is_none());
        assert_eq!(l.compute().trained, 6, "the cache hit trained nothing");
        assert_eq!(l.free(), 0, "repeats spend by default");
    }

    #[test]
    fn the_first_repeats_up_to_the_limit_are_free() {
        let mut l = Ledger::new(2, None).with_free_repeats(2);
        l.count(&rec(0, "a", ChildStatus::Ok, 0.5));
        for id in 1..5 {
            l.count(&rec(id, "a", ChildStatus::Cached, 0.5));
        }
        assert_eq!((l.done(), l.cached(), l.free()), (5, 4, 2));
    }
}
