//! What the overview and the children table need from every record, kept
//! up to date one record at a time as the log grows (so a request costs
//! what is new, not the whole run): counts per status and failure kind,
//! compute, the best child, and each child's table row as JSON text.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::child::ChildStatus;
use crate::search::Compute;
use crate::store::ChildRecord;

/// The status of a record as the dashboard names it.
pub fn status_name(s: ChildStatus) -> &'static str {
    match s {
        ChildStatus::Ok => "ok",
        ChildStatus::Diverged => "diverged",
        ChildStatus::Failed => "failed",
        ChildStatus::Cached => "cached",
        ChildStatus::Stopped => "stopped",
    }
}

/// What kind of failure a failed or diverged child had: `diverged`,
/// `out of memory`, `timeout`, `panic`, `exit status`, `cancelled`, or `other`.
pub fn failure_kind(r: &ChildRecord) -> Option<&'static str> {
    match r.status {
        ChildStatus::Diverged => return Some("diverged"),
        ChildStatus::Failed => {}
        _ => return None,
    }
    let m = r.message.as_deref().unwrap_or("").to_lowercase();
    let kind = if m.contains("out of memory") || m.contains("oom") {
        "out of memory"
    } else if m.contains("timed out") || m.contains("timeout") || m.contains("time limit") {
        "timeout"
    } else if m.contains("panic") {
        "panic"
    } else if m.contains("exit") || m.contains("signal") || m.contains("killed") {
        "exit status"
    } else if m == crate::child::CANCELLED {
        "cancelled"
    } else {
        "other"
    };
    Some(kind)
}

/// One row of the children table (and a point of every chart).
pub fn row(r: &ChildRecord) -> Value {
    json!({
        "id": r.spec.id,
        "status": status_name(r.status),
        "reward": r.reward,
        "metric": r.metric,
        "slot": r.device,
        "replica": r.spec.replica,
        "version": r.spec.version,
        "started": r.started,
        "seconds": r.seconds,
        "params": r.params,
        "arch": r.spec.arch.describe(),
        "curve": r.epochs.iter().map(|e| e.val_metric).collect::<Vec<_>>(),
        "kind": failure_kind(r),
    })
}

/// The running totals over a run's records.
#[derive(Debug, Default)]
pub struct Tally {
    pub statuses: BTreeMap<&'static str, usize>,
    pub failures: BTreeMap<&'static str, usize>,
    pub compute: Compute,
    /// Index of the best record (status ok or cached, the highest finite
    /// reward, the lower id on a tie: `store::top_records`' first).
    pub best: Option<usize>,
    /// Each record's [`row`], as JSON text.
    pub rows: Vec<String>,
    /// Epochs a child trains when not stopped, for `compute`.
    epochs: Option<usize>,
}

impl Tally {
    /// Totals for children of `epochs` epochs (None: they report none).
    pub fn new(epochs: Option<usize>) -> Tally {
        Tally {
            epochs,
            ..Tally::default()
        }
    }

    /// Count `records[i]`, the next record (`records` holds it and those before).
    pub fn add(&mut self, records: &[ChildRecord], i: usize) {
        let Some(r) = records.get(i) else {
            return;
        };
        *self.statuses.entry(status_name(r.status)).or_default() += 1;
        if let Some(k) = failure_kind(r) {
            *self.failures.entry(k).or_default() += 1;
        }
        self.compute.add(r, self.epochs);
        let good =
            matches!(r.status, ChildStatus::Ok | ChildStatus::Cached) && r.reward.is_finite();
        if good {
            let better = match self.best.and_then(|b| records.get(b)) {
                None => true,
                Some(b) => r.reward > b.reward || (r.reward == b.reward && r.spec.id < b.spec.id),
            };
            if better {
                self.best = Some(i);
            }
        }
        self.rows.push(row(r).to_string());
    }
}
