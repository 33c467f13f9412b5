//! Tests of `search.strategy = "tpe"` end to end with synthetic children:
//! it learns the declared space's landscape (ahead of uniform draws), one
//! slot and one seed give the same children, a stopped and resumed run
//! rebuilds its state from the log, and its keys are checked.

use std::path::Path;

use nas_actor::actors::{run, RunOptions};
use nas_actor::config::{Config, Strategy};

use crate::strategies::{
    assert_ids, best_reward, declared_config, records, tokens_by_id, whole_and_resumed,
};

/// The declared space of `configs/declared_synthetic.toml` under TPE, `slots` slots.
fn tpe_config(dir: &Path, budget: usize, slots: usize) -> Config {
    let mut c = declared_config(dir, budget, slots);
    c.search.strategy = Strategy::Tpe;
    c
}

#[test]
fn tpe_reaches_the_declared_spaces_optimum_within_500_children() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let summary = run(tpe_config(&dir, 500, 1), &RunOptions::default()).expect("run");
    assert_eq!(summary.children, 500);
    assert_eq!(summary.updates, 0, "TPE pushes no controller update");
    let recs = records(&dir);
    assert_ids(&recs, 500);
    let best = best_reward(&recs);
    // Uniform sampling reaches about 0.5 in 500 children on this landscape.
    assert!(best >= 0.9, "best reward {best:.3} after 500 children");
    // The last 100 children are far better than the uniform start-up.
    let mean = |r: &[nas_actor::store::ChildRecord]| {
        r.iter().map(|c| c.reward).sum::<f64>() / r.len() as f64
    };
    let (first, last) = (mean(&recs[..10]), mean(&recs[400..]));
    assert!(last > first + 0.2, "mean reward {first:.3} → {last:.3}");
}

#[test]
fn tpe_with_one_slot_gives_the_same_children_for_the_same_seed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(tpe_config(&a, 40, 1), &RunOptions::default()).expect("run a");
    run(tpe_config(&b, 40, 1), &RunOptions::default()).expect("run b");
    assert_eq!(tokens_by_id(&records(&a)), tokens_by_id(&records(&b)));
    let ids: Vec<u64> = records(&a).iter().map(|r| r.spec.id).collect();
    assert_eq!(
        ids,
        (0..40).collect::<Vec<u64>>(),
        "one slot: one child at a time"
    );
}

#[test]
fn a_stopped_and_resumed_tpe_rebuilds_its_state_from_the_log() {
    let (whole, at_stop, recs) = whole_and_resumed(|d| tpe_config(d, 40, 1), 17);
    assert_eq!(at_stop, 17);
    assert_ids(&recs, 40);
    assert_eq!(tokens_by_id(&recs), tokens_by_id(&whole));
}

#[test]
fn tpe_with_four_slots_records_every_child_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let summary = run(tpe_config(&dir, 80, 4), &RunOptions::default()).expect("run");
    assert_eq!(summary.children, 80);
    assert_ids(&records(&dir), 80);
}

#[test]
fn tpe_settings_are_checked_naming_the_key() {
    let base =
        std::fs::read_to_string(crate::common::root().join("configs/declared_synthetic.toml"))
            .expect("configs/declared_synthetic.toml");
    for (key, value) in [
        ("gamma", "0.0"),
        ("gamma", "1.5"),
        ("n_candidates", "0"),
        ("max_good", "0"),
        ("prior_weight", "-1.0"),
    ] {
        let text = format!("{base}\n[search.tpe]\n{key} = {value}\n");
        let e = Config::from_toml(&text, Path::new("tpe.toml")).expect_err(key);
        assert!(
            e.to_string().contains(&format!("search.tpe.{key}")),
            "{key} = {value}: {e}"
        );
    }
    let text = format!("{base}\n[search.tpe]\nn_startup = 5\ngamma = 0.2\n");
    let c = Config::from_toml(&text, Path::new("tpe.toml")).expect("valid keys");
    assert_eq!((c.search.tpe.n_startup, c.search.tpe.gamma), (5, 0.2));
    let text = format!("{base}\n[search.tpe]\nwhat = 1\n");
    let e = Config::from_toml(&text, Path::new("tpe.toml")).expect_err("unknown key");
    assert!(e.to_string().contains("what"), "{e}");
}
