//! The median stopping rule (Golovin et al., 2017; as in Katib and Optuna's
//! `MedianPruner`). Every child reports its validation metric after each
//! epoch. At epoch e past `grace_epochs`, once at least `min_children`
//! *other* children have reported epoch e, the child is stopped when its
//! best metric up to e is worse than the median of theirs (best up to e as
//! well), in the metric's direction. Children still running count as soon as
//! they report; a stopped child counts with the epochs it ran.
//!
//! The rule's state is the reported curves; a resumed run rebuilds it from
//! the epochs recorded in `children.jsonl` ([`MedianRule::from_records`]).

use std::collections::HashMap;

use super::config::EarlyStopConfig;
use crate::store::ChildRecord;
use crate::task::Metric;

/// The median stopping rule and the curves it has seen.
#[derive(Debug, Clone)]
pub struct MedianRule {
    grace_epochs: usize,
    min_children: usize,
    metric: Metric,
    /// Per child: its best metric up to each epoch (index e − 1).
    curves: HashMap<u64, Vec<f64>>,
}

impl MedianRule {
    /// A rule with no curves yet.
    pub fn new(cfg: &EarlyStopConfig, metric: Metric) -> MedianRule {
        MedianRule {
            grace_epochs: cfg.grace_epochs,
            min_children: cfg.min_children.max(1),
            metric,
            curves: HashMap::new(),
        }
    }

    /// The rule of a resumed run: every recorded child's epochs, reported again.
    pub fn from_records(cfg: &EarlyStopConfig, metric: Metric, records: &[ChildRecord]) -> Self {
        let mut rule = MedianRule::new(cfg, metric);
        for r in records {
            for e in &r.epochs {
                rule.add(r.spec.id, e.epoch, e.val_metric);
            }
        }
        rule
    }

    /// Children with at least one reported epoch.
    pub fn children(&self) -> usize {
        self.curves.len()
    }

    /// Child `id`'s best metric up to each epoch it reported.
    pub fn curve(&self, id: u64) -> Option<&[f64]> {
        self.curves.get(&id).map(Vec::as_slice)
    }

    /// Note child `id`'s metric at 1-based `epoch`; its best so far.
    fn add(&mut self, id: u64, epoch: usize, value: f64) -> Option<f64> {
        if epoch == 0 {
            return None;
        }
        let metric = self.metric.clone();
        let curve = self.curves.entry(id).or_default();
        curve.truncate(epoch - 1);
        let previous = curve.last().copied();
        let best = match previous {
            Some(p) if !value.is_finite() || !metric.better(value, p) => p,
            _ => value,
        };
        // Epochs the child skipped reporting repeat its best so far.
        while curve.len() < epoch - 1 {
            curve.push(previous.unwrap_or(best));
        }
        curve.push(best);
        Some(best)
    }

    /// Child `id` reports `value` at 1-based `epoch`: true when it should stop.
    pub fn report(&mut self, id: u64, epoch: usize, value: f64) -> bool {
        let Some(best) = self.add(id, epoch, value) else {
            return false;
        };
        if epoch <= self.grace_epochs || !best.is_finite() {
            return false;
        }
        let mut others: Vec<f64> = self
            .curves
            .iter()
            .filter(|(&other, _)| other != id)
            .filter_map(|(_, c)| c.get(epoch - 1).copied())
            .filter(|v| v.is_finite())
            .collect();
        if others.len() < self.min_children {
            return false;
        }
        self.metric.better(median(&mut others), best)
    }
}

/// What the children of a run cost, and what early stopping saved.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Compute {
    /// Children trained (not answered from the cache).
    pub trained: usize,
    /// Of those, stopped by the median rule.
    pub stopped: usize,
    /// Epochs every trained child ran, summed.
    pub child_epochs: usize,
    /// What they would have cost had no child been stopped: a stopped
    /// child counted with the full `epochs_per_child`.
    pub child_epochs_full: usize,
    /// Training wall time of the trained children, summed, in seconds.
    pub child_seconds: f64,
}

impl Compute {
    /// The cost of `records`, children training `epochs_per_child` epochs
    /// when not stopped (None: children report no epochs).
    pub fn of<'a>(
        records: impl IntoIterator<Item = &'a ChildRecord>,
        epochs_per_child: Option<usize>,
    ) -> Compute {
        let mut c = Compute::default();
        for r in records {
            c.add(r, epochs_per_child);
        }
        c
    }

    /// Count one record.
    pub fn add(&mut self, r: &ChildRecord, epochs_per_child: Option<usize>) {
        use crate::child::ChildStatus;
        if r.status == ChildStatus::Cached {
            return;
        }
        self.trained += 1;
        let ran = r.epochs.len();
        self.child_epochs += ran;
        self.child_epochs_full += if r.status == ChildStatus::Stopped {
            self.stopped += 1;
            epochs_per_child.unwrap_or(ran).max(ran)
        } else {
            ran
        };
        if r.seconds.is_finite() {
            self.child_seconds += r.seconds;
        }
    }

    /// The share of `child_epochs_full` that early stopping saved, in [0, 1].
    pub fn saved_share(&self) -> f64 {
        if self.child_epochs_full == 0 {
            0.0
        } else {
            1.0 - self.child_epochs as f64 / self.child_epochs_full as f64
        }
    }
}

/// The median (the mean of the two middle values for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(grace: usize, min: usize, metric: Metric) -> MedianRule {
        MedianRule::new(
            &EarlyStopConfig {
                enabled: true,
                grace_epochs: grace,
                min_children: min,
            },
            metric,
        )
    }

    /// Runs children one after another over their scripted curves, as one
    /// slot would; returns for each child the epoch it was stopped at, if any.
    fn play(rule: &mut MedianRule, curves: &[&[f64]]) -> Vec<Option<usize>> {
        curves
            .iter()
            .enumerate()
            .map(|(id, c)| {
                (0..c.len())
                    .find(|&e| rule.report(id as u64, e + 1, c[e]))
                    .map(|e| e + 1)
            })
            .collect()
    }

    #[test]
    fn scripted_curves_stop_exactly_the_children_below_the_median() {
        // Accuracy: higher is better; grace 1 epoch, 3 others needed.
        let mut r = rule(1, 3, Metric::accuracy());
        let curves: [&[f64]; 7] = [
            &[0.5, 0.6, 0.7],    // 0: too early to judge (no others)
            &[0.4, 0.5, 0.6],    // 1: too early
            &[0.6, 0.7, 0.8],    // 2: too early
            &[0.9, 0.3, 0.3],    // 3: best-so-far 0.9 keeps it above every median
            &[0.2, 0.55, 0.9],   // 4: epoch 2: 0.55 < median(0.6, 0.5, 0.7, 0.9) = 0.65 → stopped
            &[0.65, 0.65, 0.65], // 5: epoch 2: median 0.6 → goes on; epoch 3: median(0.7, 0.6, 0.8, 0.9) = 0.75 → stopped
            &[0.1, 0.9, 0.95],   // 6: epoch 1 is in the grace period; later above the median
        ];
        let stopped = play(&mut r, &curves);
        assert_eq!(
            stopped,
            vec![None, None, None, None, Some(2), Some(3), None]
        );
    }

    #[test]
    fn perplexity_is_judged_lower_is_better() {
        let mut r = rule(0, 2, Metric::perplexity());
        assert!(!r.report(0, 1, 100.0));
        assert!(!r.report(1, 1, 120.0));
        // Median of 100 and 120 is 110: 130 is worse, 105 better.
        assert!(r.report(2, 1, 130.0));
        assert!(!r.report(3, 1, 105.0));
    }

    #[test]
    fn the_rule_rebuilt_from_records_judges_as_the_live_one() {
        use crate::child::{ChildOutcome, ChildSpec, ChildStatus, EpochMetrics};
        use crate::space::{Architecture, DeclaredArch};
        let curves: [&[f64]; 4] = [&[0.5, 0.6], &[0.4, 0.7], &[0.6, 0.65], &[0.3, 0.35]];
        let records: Vec<ChildRecord> = curves
            .iter()
            .enumerate()
            .map(|(id, c)| {
                let spec = ChildSpec::new(
                    0,
                    id as u64,
                    0,
                    0,
                    vec![],
                    Architecture::Custom {
                        decisions: DeclaredArch(Default::default()),
                    },
                    String::new(),
                );
                let mut out = ChildOutcome::failure(ChildStatus::Ok, 0.0, "");
                out.epochs = c
                    .iter()
                    .enumerate()
                    .map(|(e, v)| EpochMetrics {
                        epoch: e + 1,
                        train_loss: Some(0.0),
                        val_loss: Some(0.0),
                        val_metric: *v,
                        seconds: 0.0,
                    })
                    .collect();
                ChildRecord::new(spec, out, "cpu".into(), 0.0, 0.0)
            })
            .collect();
        let cfg = EarlyStopConfig {
            enabled: true,
            grace_epochs: 1,
            min_children: 3,
        };
        let mut live = rule(1, 3, Metric::accuracy());
        play(&mut live, &curves);
        let mut rebuilt = MedianRule::from_records(&cfg, Metric::accuracy(), &records);
        assert_eq!(rebuilt.children(), 4);
        for id in 0..4 {
            assert_eq!(rebuilt.curve(id), live.curve(id));
        }
        // A new child at epoch 2 with 0.6: median of 0.6, 0.7, 0.65, 0.35 is 0.625 → stop.
        assert!(!rebuilt.report(9, 1, 0.6));
        assert!(rebuilt.report(9, 2, 0.6));
        assert!(!live.report(9, 1, 0.6));
        assert!(live.report(9, 2, 0.6));
    }
}
