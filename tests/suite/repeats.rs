//! What a repeated architecture costs (`search.repeats`: spend, free,
//! redraw) and where the REINFORCE baseline starts
//! (`controller.baseline_init`), end to end with synthetic children on tiny
//! declared spaces: every budget ends, a space smaller than the budget
//! included; free repeats give their budget back up to `free_limit`, also
//! across a resume; redrawn proposals leave no repeat while unseen
//! architectures are left; the first-batch baseline is checkpointed and
//! carries over a resume.

use std::collections::HashSet;
use std::path::Path;

use nas_actor::actors::{run, RunError, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::{BaselineInit, Config};
use nas_actor::store::ChildRecord;

use crate::strategies::records;

/// A declared space of `choices` architectures (one decision), synthetic
/// children, one slot; `extra` goes under `[search]`.
fn tiny_config(dir: &Path, budget: usize, choices: usize, strategy: &str, extra: &str) -> Config {
    tiny_config_with(dir, budget, choices, strategy, extra, "")
}

/// [`tiny_config`] with `controller` under `[controller]`.
fn tiny_config_with(
    dir: &Path,
    budget: usize,
    choices: usize,
    strategy: &str,
    extra: &str,
    controller: &str,
) -> Config {
    let list: Vec<String> = (0..choices).map(|i| i.to_string()).collect();
    let text = format!(
        r#"
[experiment]
name = "tiny"
output_dir = "{}"
seed = 3
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 1

[search]
space = "custom"
strategy = "{strategy}"
children_per_replica = 2
{extra}

[controller]
preset = "small-budget"
{controller}

[[space.custom.decision]]
name = "width"
choices = [{}]

[child]
backend = "synthetic"
"#,
        dir.display(),
        list.join(", ")
    );
    Config::from_toml(&text, Path::new("tiny.toml")).expect("tiny config")
}

fn cached(recs: &[ChildRecord]) -> usize {
    recs.iter()
        .filter(|r| r.status == ChildStatus::Cached)
        .count()
}

/// Ids are 0..n, each once.
fn assert_ids_0_to_n(recs: &[ChildRecord]) {
    let ids: HashSet<u64> = recs.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids.len(), recs.len(), "no id twice");
    assert_eq!(ids, (0..recs.len() as u64).collect::<HashSet<u64>>());
}

#[test]
fn every_repeat_rule_ends_on_a_space_smaller_than_the_budget() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for strategy in ["reinforce", "random", "evolution", "tpe"] {
        for (rule, extra) in [
            ("spend", "repeats = \"spend\""),
            ("free", "repeats = \"free\"\nfree_limit = 7"),
            ("redraw", "repeats = \"redraw\"\nredraw_limit = 3"),
        ] {
            let dir = tmp.path().join(format!("{strategy}-{rule}"));
            let summary = run(
                tiny_config(&dir, 12, 3, strategy, extra),
                &RunOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{strategy} {rule}: {e:#}"));
            let recs = records(&dir);
            assert_ids_0_to_n(&recs);
            let trained = recs.len() - cached(&recs);
            assert!(
                trained <= 3 + 1,
                "{strategy} {rule}: {trained} trained of 3 architectures"
            );
            let expected = match rule {
                // The first 7 repeats are free: 12 + 7 children in all.
                "free" => 12 + cached(&recs).min(7),
                _ => 12,
            };
            assert_eq!(recs.len(), expected, "{strategy} {rule}");
            assert_eq!(summary.children, expected, "{strategy} {rule}");
        }
    }
}

#[test]
fn free_repeats_spend_no_budget_and_their_rewards_still_reach_the_controller() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    // 4 architectures, a budget of 4 children, at most 100 free repeats.
    let config = tiny_config(
        &dir,
        4,
        4,
        "reinforce",
        "repeats = \"free\"\nfree_limit = 100",
    );
    run(config, &RunOptions::default()).expect("run");
    let recs = records(&dir);
    assert_ids_0_to_n(&recs);
    let c = cached(&recs);
    assert_eq!(
        recs.len(),
        4 + c.min(100),
        "the budget counts trained children"
    );
    if c < 100 {
        // The search did not end on its free repeats: it trained 4 children.
        assert_eq!(recs.len() - c, 4);
    }
    // Every recorded child, repeats included, is part of an update (m = 2).
    let updates: Vec<nas_actor::store::UpdateRecord> =
        crate::orchestrator::read_jsonl(&dir.join("updates.jsonl"));
    let updated: usize = updates.iter().map(|u| u.children.len()).sum();
    assert_eq!(updated, recs.len());
}

#[test]
fn free_repeats_are_counted_across_a_resume() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let config = || tiny_config(&dir, 10, 3, "random", "repeats = \"free\"\nfree_limit = 5");
    let stopped = run(
        config(),
        &RunOptions {
            stop_after: Some(8),
            ..RunOptions::default()
        },
    );
    assert!(
        matches!(stopped, Err(RunError::Interrupted(_))),
        "{stopped:?}"
    );
    let resume = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    run(config(), &resume).expect("resume");
    let recs = records(&dir);
    assert_ids_0_to_n(&recs);
    assert_eq!(recs.len(), 10 + cached(&recs).min(5));
}

#[test]
fn redrawn_proposals_leave_no_repeat_while_new_architectures_are_left() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for strategy in ["reinforce", "random", "evolution"] {
        let dir = tmp.path().join(strategy);
        // 9 architectures, 6 children: with 200 redraws each child is new.
        let config = tiny_config(
            &dir,
            6,
            9,
            strategy,
            "repeats = \"redraw\"\nredraw_limit = 200",
        );
        let summary = run(config, &RunOptions::default()).expect("run");
        let recs = records(&dir);
        assert_ids_0_to_n(&recs);
        let hashes: HashSet<&str> = recs.iter().map(|r| r.spec.hash.as_str()).collect();
        assert_eq!(
            hashes.len(),
            6,
            "{strategy}: every child a new architecture"
        );
        assert_eq!(cached(&recs), 0, "{strategy}");
        if strategy == "reinforce" {
            assert_eq!(summary.updates, 3, "m = 2: 3 updates of the 6 children");
        }
    }
}

#[test]
fn a_first_batch_baseline_is_checkpointed_and_survives_a_resume() {
    use nas_actor::search::Checkpoint;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let config = || {
        tiny_config_with(
            &dir,
            12,
            50,
            "reinforce",
            "",
            "baseline_init = \"first_batch\"",
        )
    };
    assert_eq!(config().controller.baseline_init, BaselineInit::FirstBatch);
    let stopped = run(
        config(),
        &RunOptions {
            stop_after: Some(6),
            ..RunOptions::default()
        },
    );
    assert!(
        matches!(stopped, Err(RunError::Interrupted(_))),
        "{stopped:?}"
    );
    let read = || -> Checkpoint {
        nas_actor::store::RunDir::open_read_only(&dir)
            .expect("run directory")
            .read_checkpoint()
            .expect("checkpoint readable")
            .expect("a checkpoint")
    };
    let before = read().replicas[&0].baseline.clone();
    // The first update (m = 2) starts from the mean of its 2 rewards.
    let recs = records(&dir);
    let updates: Vec<nas_actor::store::UpdateRecord> =
        crate::orchestrator::read_jsonl(&dir.join("updates.jsonl"));
    // The first update (m = 2) starts from the mean of its rewards; the
    // log has the baseline after the update: fold the rewards into it.
    let first = &updates[0];
    let mut b = first.rewards.iter().sum::<f64>() / first.rewards.len() as f64;
    for r in &first.rewards {
        b = 0.95 * b + 0.05 * r;
    }
    assert!(
        (first.baseline - b).abs() < 1e-9,
        "{} vs {b}",
        first.baseline
    );
    assert!(before.seen() >= 2 && recs.len() >= before.seen() as usize);
    run(
        config(),
        &RunOptions {
            resume: true,
            ..RunOptions::default()
        },
    )
    .expect("resume");
    let after = read().replicas[&0].baseline.clone();
    let updates: Vec<nas_actor::store::UpdateRecord> =
        crate::orchestrator::read_jsonl(&dir.join("updates.jsonl"));
    let rewards: usize = updates.iter().map(|u| u.rewards.len()).sum();
    assert_eq!(
        after.seen() as usize,
        rewards,
        "the resumed baseline goes on from the checkpoint"
    );
}
