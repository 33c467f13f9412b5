//! Failing children: each failure kind injected, recorded with its status and
//! message and the failure reward, while the run meets its budget and the slot
//! that saw the failure trains more children.

use nas_actor::actors::{run, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::SyntheticFailure;
use nas_actor::synthetic::CUDA_OOM_MESSAGE;

use super::*;

/// Run `config` to its end; check the budget, the failures (status, message,
/// reward) and that a slot trained a child after one of its failures.
/// Returns the number of failed children.
fn run_with_failures(
    config: Config,
    status: ChildStatus,
    message: &str,
    expect_all: bool,
) -> usize {
    let dir = config.experiment.output_dir.clone();
    let budget = config.experiment.budget;
    let failure = config.reward.failure;
    let m = config.search.children_per_replica;
    let summary = run(config.clone(), &RunOptions::default()).expect("the run completes");
    assert_eq!(summary.children, budget);
    let facts = check_run(&dir, &config, m);
    let mut by_time = facts.records.clone();
    by_time.sort_by(|a, b| a.started.total_cmp(&b.started));
    let failed: Vec<&ChildRecord> = by_time.iter().filter(|r| r.status == status).collect();
    assert!(!failed.is_empty(), "no {status:?} child");
    if expect_all {
        let trained = by_time.iter().filter(|r| r.status != ChildStatus::Cached);
        let other: Vec<_> = trained
            .filter(|r| r.status != status)
            .map(|r| (r.spec.id, r.status, r.message.clone()))
            .collect();
        assert!(other.is_empty(), "children not {status:?}: {other:?}");
    }
    for r in &failed {
        assert_eq!(r.reward, failure, "child {}: failure reward", r.spec.id);
        let msg = r.message.as_deref().unwrap_or("");
        assert!(msg.contains(message), "child {}: {msg:?}", r.spec.id);
        // libtorch's C++ backtrace is cut off: the message is the error alone.
        assert!(
            !msg.contains("Exception raised from") && !msg.contains("frame #"),
            "child {}: {msg:?}",
            r.spec.id
        );
    }
    // The slot went on: a later child on the same device after a failure.
    let went_on = failed.iter().any(|f| {
        by_time
            .iter()
            .any(|r| r.device == f.device && r.started > f.started)
    });
    assert!(went_on, "no slot trained a child after a failure");
    // A divergence is counted apart from a failure.
    let count = |s: ChildStatus| facts.records.iter().filter(|r| r.status == s).count();
    assert_eq!(summary.failures, count(ChildStatus::Failed));
    assert_eq!(summary.diverged, count(ChildStatus::Diverged));
    failed.len()
}

#[test]
fn injected_failures_of_every_kind_are_recorded_and_the_search_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The out-of-memory child fails with libtorch's whole message, which the
    // injected error follows with a C++ backtrace that must not be recorded.
    let oom = format!("torch error: {CUDA_OOM_MESSAGE}");
    let cases = [
        (
            SyntheticFailure::Failed,
            ChildStatus::Failed,
            "synthetic failure",
        ),
        (
            SyntheticFailure::Panic,
            ChildStatus::Failed,
            "panic in training: synthetic panic",
        ),
        (
            SyntheticFailure::Diverged,
            ChildStatus::Diverged,
            "the training loss became NaN",
        ),
        (SyntheticFailure::Oom, ChildStatus::Failed, oom.as_str()),
    ];
    let mut lines = Vec::new();
    for (kind, status, message) in cases {
        let mut cfg = synthetic_config(&tmp.path().join(format!("{kind:?}")), 60, "");
        cfg.child.synthetic.failure_rate = 0.2;
        cfg.child.synthetic.failure_kind = kind;
        cfg.reward.failure = -0.25;
        let n = run_with_failures(cfg, status, message, false);
        lines.push(format!(
            "injected {kind:?}: {n} of 60 children {status:?}, budget met"
        ));
    }
    figures("failures_injected", &lines);
}

#[test]
fn real_tch_children_that_diverge_or_time_out_are_recorded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    // Weights of 1e30: the products overflow f32, and inf − inf makes the loss NaN.
    let mut cfg = tiny_lm_config(&tmp.path().join("nan"), &data, 6);
    cfg.devices.cpu_workers = 1;
    cfg.search.children_per_replica = 1;
    cfg.child.lm.init_range = 1e30;
    cfg.reward.failure = -1.0;
    // Not every sampled cell overflows (a saturating cell can keep a finite loss),
    // so at least one must diverge and every diverged child must be recorded right.
    let diverged = run_with_failures(cfg, ChildStatus::Diverged, "loss became", false);
    // A learning rate past f32: tch's optimizer panics inside training (a real panic, caught).
    let mut cfg = tiny_lm_config(&tmp.path().join("panic"), &data, 4);
    cfg.devices.cpu_workers = 1;
    cfg.search.children_per_replica = 1;
    cfg.child.lm.learning_rate = 1e300;
    cfg.reward.failure = -1.0;
    let panicked = run_with_failures(cfg, ChildStatus::Failed, "panic", true);
    // A tiny child.timeout_s: every child fails between batches, the slot goes on.
    let mut cfg = tiny_lm_config(&tmp.path().join("timeout"), &data, 4);
    cfg.devices.cpu_workers = 1;
    cfg.search.children_per_replica = 1;
    cfg.child.timeout_s = Some(1e-6);
    cfg.reward.failure = -1.0;
    let timed_out = run_with_failures(cfg, ChildStatus::Failed, "timed out", true);
    figures(
        "failures_tch",
        &[
            format!("real tch, init_range 1e30: {diverged} of 6 children diverged (NaN loss)"),
            format!("real tch, lr 1e300: {panicked} of 4 children failed with a panic inside tch"),
            format!(
                "real tch, child.timeout_s = 1e-6: {timed_out} of 4 children timed out, budget met"
            ),
        ],
    );
}
