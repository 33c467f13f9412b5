//! How fast children train on a trainer slot, and what the rest of a
//! budget will take at that pace: the reporter's one-time estimate.
//!
//! [`Pace`] watches the batch progress of each slot's child; the first slot
//! that has trained one child for [`PACE_SAMPLE`] gives a rate in batches
//! per second, once. [`Estimate`] turns it into the time of a child and of
//! the children left, spread over the slots (every slot taken to be as fast
//! as the measured one; validation is not counted).

use std::time::{Duration, Instant};

use crate::format;

/// Training time a slot is watched before its rate counts.
pub const PACE_SAMPLE: Duration = Duration::from_secs(3);

/// A budget estimate above this many seconds comes with a suggestion.
pub const LONG_BUDGET_S: f64 = 3600.0;

/// How fast children train: the first slot to train one child for
/// [`PACE_SAMPLE`] gives batches per second, once.
#[derive(Debug, Default)]
pub struct Pace {
    /// Epochs each child trains, when known.
    epochs: Option<usize>,
    /// The slots' labels.
    labels: Vec<String>,
    /// Per slot: (child, when first seen, batches done then).
    first: Vec<Option<(u64, Instant, usize)>>,
    said: bool,
}

/// What children will take, from one slot's measured rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The slot whose rate was measured.
    pub slot: String,
    pub batches_per_epoch: usize,
    pub batches_per_s: f64,
    /// Epochs per child; `None` when unknown (then a child counts one epoch).
    pub epochs: Option<usize>,
    /// Children still to train, and the slots they share.
    pub children_left: usize,
    pub slots: usize,
}

impl Estimate {
    /// Seconds of one child (at least one epoch when the epochs are unknown).
    pub fn child_s(&self) -> f64 {
        let epoch = self.batches_per_epoch as f64 / self.batches_per_s.max(1e-12);
        epoch * self.epochs.unwrap_or(1) as f64
    }

    /// Seconds of the children left, spread over the slots.
    pub fn budget_s(&self) -> f64 {
        self.child_s() * self.children_left as f64 / self.slots.max(1) as f64
    }

    /// Whether the budget needs more than an hour.
    pub fn is_long(&self) -> bool {
        self.budget_s() > LONG_BUDGET_S
    }

    /// The one line the user reads.
    pub fn line(&self) -> String {
        let (what, at_least) = match self.epochs {
            Some(e) => (format!("a child ({e} epochs)"), ""),
            None => ("an epoch of a child".to_string(), "at least "),
        };
        let mut s = format!(
            "estimate: {what} takes about {} on {} ({} batches per epoch at {:.2} batches/s); the {} children left need {at_least}about {} on {} slot(s)",
            format::duration(self.child_s()),
            self.slot,
            self.batches_per_epoch,
            self.batches_per_s,
            self.children_left,
            format::duration(self.budget_s()),
            self.slots
        );
        if self.is_long() {
            s += ". For a first look, run the quick start (`make run`, configs/quickstart.toml); \
                  for this config, a machine with NVIDIA GPUs (`nas-actor devices` shows what is found)";
        }
        s
    }
}

impl Pace {
    /// A pace for slots labelled `labels` (`cpu#0`, `cuda:1#0`); `epochs` per child when known.
    pub fn new(labels: Vec<String>, epochs: Option<usize>) -> Pace {
        Pace {
            epochs,
            first: vec![None; labels.len()],
            labels,
            said: false,
        }
    }

    /// The epochs each child trains, when known.
    pub fn set_epochs(&mut self, epochs: usize) {
        self.epochs = Some(epochs);
    }

    /// Slot `slot` is at `batch` of `batches` in epoch `epoch` (1-based) of
    /// `child` at `now`, with `children_left` children still to train. The
    /// first time a slot has trained one child for [`PACE_SAMPLE`], returns
    /// the estimate; never again after that.
    pub fn batch(
        &mut self,
        slot: usize,
        child: u64,
        (epoch, batch, batches): (usize, usize, usize),
        children_left: usize,
        now: Instant,
    ) -> Option<Estimate> {
        let done = epoch.saturating_sub(1) * batches + batch;
        let first = self.first.get_mut(slot)?;
        match *first {
            Some((c, t0, d0)) if c == child => {
                let secs = now.saturating_duration_since(t0);
                if self.said || secs < PACE_SAMPLE || done <= d0 {
                    return None;
                }
                self.said = true;
                Some(Estimate {
                    slot: self.labels[slot].clone(),
                    batches_per_epoch: batches,
                    batches_per_s: (done - d0) as f64 / secs.as_secs_f64(),
                    epochs: self.epochs,
                    children_left,
                    slots: self.labels.len(),
                })
            }
            _ => {
                *first = Some((child, now, done));
                None
            }
        }
    }
}
