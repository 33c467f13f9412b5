//! The benchmarks (`examples/bench_*.rs`) run in their tiny size so they cannot
//! rot: each must finish and produce sane numbers. No timing assertions.
// Each example is its own crate with its own copy of `bench_common`; here they
// are modules of one crate, so that file is loaded once per example.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../../examples/bench_orchestration.rs"]
mod orchestration;

#[allow(dead_code)]
#[path = "../../examples/bench_children.rs"]
mod children;

#[allow(dead_code)]
#[path = "../../examples/bench_controller.rs"]
mod controller;

#[allow(dead_code)]
#[path = "../../examples/bench_memory.rs"]
mod memory;

#[allow(dead_code)]
#[path = "../../examples/bench_search.rs"]
mod search;

#[allow(dead_code)]
#[path = "../../examples/bench_trials.rs"]
mod trials;

use crate::common::{require_ptb_part, require_python};

#[test]
fn orchestration_bench_measures_utilisation_and_scaling() {
    let r = orchestration::bench(
        orchestration::bench_common::Size::Tiny,
        20.0,
        32,
        Some((40.0, 16)),
    )
    .expect("the orchestration benchmark");
    let strategies: Vec<&str> = r.scale.iter().map(|s| s.setup.strategy).collect();
    assert_eq!(strategies, vec!["reinforce", "random", "reinforce"]);
    for s in &r.scale {
        assert_eq!(s.children, s.setup.budget, "{s:?}");
        assert!(s.utilisation > 0.0 && s.utilisation <= 1.0, "{s:?}");
        assert!(s.idle_ms >= 0.0 && s.idle_ms.is_finite(), "{s:?}");
        let reinforce = s.setup.strategy == "reinforce";
        // CPU time is read in 10 ms ticks: the controller's math alone is more than that.
        assert!(s.cpu_ms >= 0.0 && s.cpu_ms.is_finite(), "{s:?}");
        assert!(!reinforce || s.cpu_ms > 0.0, "{s:?}");
        // Random search pushes no gradient.
        assert_eq!(s.updates_per_s > 0.0, reinforce, "{s:?}");
        assert!(s.peak_rss_mib > 0.0, "{s:?}");
    }
    let slots: Vec<usize> = r.curve.iter().map(|c| c.setup.slots).collect();
    assert_eq!(slots, vec![1, 8]);
    for c in &r.curve {
        assert!(
            c.children >= 2 && c.children_per_s > 0.0 && c.ideal_per_s > 0.0,
            "{c:?}"
        );
        assert!(c.utilisation > 0.0 && c.utilisation <= 1.0, "{c:?}");
    }
}

#[test]
fn orchestration_bench_runs_every_strategy_on_heterogeneous_children() {
    let rows = orchestration::hetero(&[(2, 4, 5.0, 10.0)], 2).expect("--hetero");
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.setup.strategy, r.setup.sampling))
        .collect();
    assert_eq!(
        names,
        vec![
            ("reinforce", "batch"),
            ("reinforce", "refill"),
            ("random", "refill"),
            ("evolution", "refill"),
            ("tpe", "refill")
        ]
    );
    for r in &rows {
        assert_eq!(r.children, 16, "{r:?}");
        assert!(r.utilisation > 0.0 && r.utilisation <= 1.0, "{r:?}");
        assert!(r.child_staleness >= 0.0 && r.child_staleness.is_finite());
        // Children take 5–50 ms by architecture.
        assert!(r.child_s > 0.004 && r.child_s < 0.06, "{r:?}");
    }
}

#[test]
fn children_bench_times_tch_and_the_pytorch_reference() {
    let Some(_) = require_python() else { return };
    let spec = children::Spec::new(children::bench_common::Size::Tiny, 1).expect("spec");
    let rows = children::bench(&spec).expect("the children benchmark (needs .venv with torch)");
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let ratio = r.tch / r.torch;
        assert!(ratio > 0.0 && ratio.is_finite(), "{r:?}");
    }
}

#[test]
fn controller_bench_measures_sampling_and_updates() {
    let r =
        controller::bench(controller::bench_common::Size::Tiny).expect("the controller benchmark");
    assert_eq!(r.rows.len(), 2);
    for row in &r.rows {
        assert!(row.archs_per_s > 0.0 && row.update_s > 0.0, "{row:?}");
        assert!(row.per_child_s > 0.0 && row.tokens > 0, "{row:?}");
    }
    if require_ptb_part("the controller benchmark's PTB child time is") {
        assert!(r.child_s.is_some_and(|s| s > 0.0));
    }
}

#[test]
fn memory_bench_reads_rss_after_real_children() {
    let rows = memory::bench(memory::bench_common::Size::Tiny).expect("the memory benchmark");
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.failures, 0, "{r:?}");
        let counts: Vec<usize> = r.readings.iter().map(|(n, _)| *n).collect();
        assert_eq!(counts, vec![2, 4]);
        assert!(r.readings.iter().all(|(_, mib)| *mib > 0.0), "{r:?}");
        assert!(r.growth().is_finite());
    }
}

#[test]
fn search_bench_compares_reinforce_and_random() {
    let knobs = search::Knobs {
        budget: 64,
        learning_rate: 0.02,
        entropy_weight: 0.01,
        baseline_decay: 0.95,
    };
    let rows =
        search::bench(search::bench_common::Size::Tiny, &knobs, 2).expect("the search benchmark");
    let expected = if require_ptb_part("the search benchmark's PTB rows are") {
        4
    } else {
        2
    };
    assert_eq!(rows.len(), expected);
    for r in &rows {
        assert!(r.best_reward >= r.last_quarter_mean, "{r:?}");
        if r.task.starts_with("PTB") {
            assert_eq!(r.children, 2);
            assert!(r.best_ppl.is_some_and(|p| p > 1.0), "{r:?}");
        } else {
            assert_eq!(r.children, 64);
            assert!((0.1..=1.0).contains(&r.best_reward), "{r:?}");
        }
    }
}

#[test]
fn trials_bench_measures_the_command_runners_overhead() {
    let r = trials::bench(trials::bench_common::Size::Tiny, 40).expect("the trials benchmark");
    assert!(r.direct_ms > 0.0 && r.direct_ms.is_finite());
    let setups: Vec<(&str, usize)> = r.rows.iter().map(|row| (row.strategy, row.slots)).collect();
    assert_eq!(
        setups,
        [
            ("random", 1),
            ("reinforce", 1),
            ("random", 2),
            ("reinforce", 2)
        ]
    );
    for row in &r.rows {
        assert_eq!(row.children, 40, "{row:?}");
        assert!(row.trained > 0 && row.trained <= 40, "{row:?}");
        assert!(
            row.slot_ms_per_child > 0.0 && row.overhead_ms.is_finite(),
            "{row:?}"
        );
    }
}

/// The persistent-trial comparison in its tiny size, with the system's
/// `python3` (no torch needed: only the trial that imports nothing).
#[test]
fn trials_bench_compares_persistent_trials_with_a_process_per_child() {
    let rows = trials::persistent_bench(std::path::Path::new("python3"), 6, false)
        .expect("the persistent trials benchmark");
    let setups: Vec<(&str, bool)> = rows.iter().map(|r| (r.imports, r.persistent)).collect();
    assert_eq!(setups, [("nothing", false), ("nothing", true)]);
    for r in &rows {
        assert_eq!(r.children, 6, "{r:?}");
        assert!(r.trained > 0 && r.ms_per_child > 0.0, "{r:?}");
    }
}
