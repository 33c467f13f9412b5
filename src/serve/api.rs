//! The JSON each view of the dashboard draws, built from a [`Run`] (pure:
//! no HTTP here). Numbers that are not finite (a diverged child's loss)
//! become `null`.
//!
//! | endpoint | function |
//! |---|---|
//! | `/api/runs` | [`runs`] |
//! | `/api/runs/N/overview` | [`overview`] |
//! | `/api/runs/N/children?from=K` | [`children`] |
//! | `/api/runs/N/children/ID` | [`child`] |
//! | `/api/runs/N/choices` | [`choices`] |
//! | `/api/compare` | [`compare`] |

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::guard::tail_inside;
use super::runs::Run;
use super::tally::row;
use crate::post::compare::{best_so_far, strategy_label};
use crate::post::report::ChoicePicture;
use crate::store::ChildRecord;

/// Children over which the rate (and so the ETA) is measured.
const RATE_WINDOW: usize = 50;
/// Bytes of a child's `trial.log` shown.
pub const LOG_TAIL: u64 = 16 * 1024;
/// Children sent in one `children` answer at most (the client asks for the rest).
pub const PAGE: usize = 20_000;

pub use super::tally::{failure_kind, status_name};

fn metric_json(run: &Run) -> Value {
    let m = run.metric();
    json!({ "name": m.name, "higher_is_better": m.higher_is_better })
}

/// One line per served run: `[{run, name, dir, strategy, done, budget}]`.
pub fn runs(runs: &[&Run]) -> Value {
    Value::Array(
        runs.iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "run": i,
                    "name": r.name(),
                    "dir": r.shown.display().to_string(),
                    "strategy": r.config.as_ref().map(strategy_label),
                    "done": r.records.len(),
                    "budget": r.config.as_ref().map(|c| c.experiment.budget),
                })
            })
            .collect(),
    )
}

/// Finish times (unix seconds) of the last [`RATE_WINDOW`] children, sorted.
fn recent_finishes(records: &[ChildRecord]) -> Vec<f64> {
    let from = records.len().saturating_sub(RATE_WINDOW);
    let mut t: Vec<f64> = records[from..]
        .iter()
        .map(|r| r.started + r.seconds)
        .filter(|t| t.is_finite())
        .collect();
    t.sort_by(f64::total_cmp);
    t
}

/// The overview: budget, done, rate and ETA, best, strategy, failures by
/// kind, statuses, controller updates, slots, compute and notices.
pub fn overview(run: &Run, now: f64) -> Value {
    let metric = run.metric();
    let done = run.records.len();
    let budget = run.config.as_ref().map(|c| c.experiment.budget);
    let ended = run.summary.as_ref().is_some_and(|(_, e)| *e);
    let state = match (&run.config, &run.summary) {
        (None, _) => "waiting",
        (Some(_), Some((s, true))) if s.interrupted => "interrupted",
        (Some(_), Some((_, true))) => "finished",
        (Some(c), _) if done >= c.experiment.budget => "finished",
        _ => "going",
    };
    let finishes = recent_finishes(&run.records);
    let rate = match (finishes.first(), finishes.last()) {
        (Some(a), Some(b)) if b > a && finishes.len() > 1 => {
            Some((finishes.len() - 1) as f64 / (b - a))
        }
        _ => None,
    };
    let left = budget.map(|b| b.saturating_sub(done));
    let eta = match (state, rate, left) {
        ("going", Some(r), Some(l)) if r > 0.0 => Some(l as f64 / r),
        ("going", _, _) => None,
        _ => Some(0.0),
    };
    let best = run.tally.best.and_then(|i| run.records.get(i)).map(|r| {
        json!({
            "id": r.spec.id,
            "metric": r.metric,
            "metric_text": r.metric.and_then(|m| metric.show(m)),
            "reward": r.reward,
            "arch": r.spec.arch.describe(),
        })
    });
    let epochs = run.config.as_ref().and_then(|c| c.child_epochs());
    let compute = &run.tally.compute;
    let slots = slots(run, now);
    json!({
        "name": run.name(),
        "dir": run.shown.display().to_string(),
        "state": state,
        "ended": ended,
        "generation": run.generation,
        "strategy": run.config.as_ref().map(strategy_label),
        "space": run.config.as_ref().map(|c| format!("{:?}", c.search.space).to_lowercase()),
        "metric": metric_json(run),
        "budget": budget,
        "done": done,
        "left": left,
        "rate": rate,
        "eta_seconds": eta,
        "last_child_age": finishes.last().map(|t| (now - t).max(0.0)),
        "best": best,
        "statuses": run.tally.statuses,
        "failures": run.tally.failures,
        "updates": run.updates.len(),
        "baseline": run.updates.last().and_then(|u| u.baseline),
        "child_epochs": epochs,
        "compute": {
            "trained": compute.trained,
            "stopped": compute.stopped,
            "child_epochs": compute.child_epochs,
            "child_epochs_full": compute.child_epochs_full,
            "child_seconds": compute.child_seconds,
        },
        "summary": run.summary.as_ref().map(|(s, _)| json!({
            "interrupted": s.interrupted,
            "wall_seconds": s.wall_seconds,
            "slot_utilisation": s.slot_utilisation,
            "forced_end": s.forced_end,
        })),
        "slots": slots,
        "notices": run.notices,
    })
}

/// The slots: from `slots.json` when the run writes it (`source: "run"`),
/// else from the log: each slot label seen and the last child it finished
/// (`source: "log"`; what runs now is not known).
fn slots(run: &Run, now: f64) -> Value {
    if let Some(s) = &run.slots {
        return json!({
            "source": "run",
            "age": (now - s.written).max(0.0),
            "ended": s.ended,
            "child_epochs": s.child_epochs,
            "slots": s.slots,
        });
    }
    let mut last: BTreeMap<&str, &ChildRecord> = BTreeMap::new();
    for r in &run.records {
        last.insert(r.device.as_str(), r);
    }
    let slots: Vec<Value> = last
        .into_iter()
        .map(|(label, r)| {
            json!({
                "label": label,
                "state": "unknown",
                "child": null,
                "epoch": null,
                "text": format!("last finished child {}", r.spec.id),
            })
        })
        .collect();
    json!({ "source": "log", "age": null, "ended": false, "slots": slots })
}

/// Children from log position `from` on (at most [`PAGE`]), as JSON text:
/// `{generation, total, from, metric, children: [row]}`. A client keeps `from + children.len()`
/// and asks for what follows; a new `generation` means start again from 0.
pub fn children(run: &Run, from: usize) -> String {
    let total = run.records.len();
    let from = from.min(total);
    let to = (from + PAGE).min(total).min(run.tally.rows.len());
    // The rows are JSON text already.
    format!(
        "{{\"generation\":{},\"total\":{total},\"from\":{from},\"metric\":{},\"children\":[{}]}}",
        run.generation,
        metric_json(run),
        run.tally.rows[from.min(to)..to].join(",")
    )
}

/// The last record of child `id` (a child trained again after a resume
/// appears twice; the later record is the one its reward came from).
pub fn find(run: &Run, id: u64) -> Option<&ChildRecord> {
    run.records.iter().rev().find(|r| r.spec.id == id)
}

/// Child `id`: its record, per-epoch metrics, and the tail of `trial.log`
/// when the child was a trial command (None when there is no such child).
pub fn child(run: &Run, id: u64) -> Option<Value> {
    let r = find(run, id)?;
    let log_rel: PathBuf = ["children", &id.to_string(), "trial.log"].iter().collect();
    let log = tail_inside(&run.root, &log_rel, LOG_TAIL).ok().map(
        |(text, cut)| json!({ "path": log_rel.display().to_string(), "text": text, "cut": cut }),
    );
    let metric = run.metric();
    Some(json!({
        "id": id,
        "row": row(r),
        "metric_text": r.metric.and_then(|m| metric.show(m)),
        "record": serde_json::to_value(r).unwrap_or(Value::Null),
        "epochs": r.epochs.iter().map(|e| json!({
            "epoch": e.epoch,
            "train_loss": e.train_loss,
            "val_loss": e.val_loss,
            "val_metric": e.val_metric,
            "seconds": e.seconds,
        })).collect::<Vec<_>>(),
        "log": log,
    }))
}

/// The share of each option per decision type over the run (the report's
/// choices picture): `{centres, panels: [{head, options, shares}]}`.
pub fn choices(run: &Run) -> Value {
    let Some(config) = &run.config else {
        return json!({ "centres": [], "panels": [] });
    };
    let p = ChoicePicture::new(&run.records, config);
    json!({
        "centres": p.centres,
        "panels": p.panels.iter().map(|panel| json!({
            "head": panel.head,
            "options": panel.options,
            "shares": panel.shares,
        })).collect::<Vec<_>>(),
    })
}

/// Every served run's best metric so far after each child (the `compare`
/// curves): `{runs: [{run, name, label, metric, best}]}`.
pub fn compare(runs: &[&Run]) -> Value {
    let lines: Vec<Value> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let metric = r.metric();
            json!({
                "run": i,
                "name": r.name(),
                "dir": r.shown.display().to_string(),
                "label": r.config.as_ref().map(strategy_label),
                "metric": metric_json(r),
                "budget": r.config.as_ref().map(|c| c.experiment.budget),
                "best": best_so_far(&r.records, &metric),
            })
        })
        .collect();
    json!({ "runs": lines })
}
