//! Tests of the search strategies beside REINFORCE and of early stopping,
//! end to end with synthetic children: regularized evolution finds the
//! landscape's optimum, is deterministic with one slot, and keeps its
//! population across a stop and resume; the median rule stops children
//! (recorded `stopped`, with their epochs; synthetic children and trial
//! commands), keeps its state across a resume, and the summary and the
//! report show the compute it saved; the preset and the new keys in config.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use nas_actor::actors::recorder::Summary;
use nas_actor::actors::{run, RunError, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::Config;
use nas_actor::search::MedianRule;
use nas_actor::store::ChildRecord;
use nas_actor::task::Metric;

use crate::orchestrator::{read_jsonl, synthetic_config};

/// The synthetic cell search of the orchestrator's tests under evolution,
/// with `slots` trainer slots.
fn evolution_config(dir: &Path, budget: usize, slots: usize, extra: &str) -> Config {
    let mut c = synthetic_config(
        dir,
        budget,
        &format!("{extra}\n[search.evolution]\npopulation = 10\nsample = 3\n"),
    );
    c.search.strategy = nas_actor::config::Strategy::Evolution;
    c.devices.cpu_workers = slots;
    c
}

/// The declared space of `configs/declared_synthetic.toml` (2 global
/// decisions, 6 layers of 3 choices and skip inputs; reward 1.0 at a known
/// optimum) under evolution, writing into `dir`.
pub fn declared_config(dir: &Path, budget: usize, slots: usize) -> Config {
    let path = crate::common::root().join("configs/declared_synthetic.toml");
    let mut c = Config::load(&path).expect("configs/declared_synthetic.toml");
    c.experiment.output_dir = dir.to_path_buf();
    c.experiment.budget = budget;
    c.child.synthetic.delay_ms = 0.0;
    c.devices.cpu_workers = slots;
    c.search.strategy = nas_actor::config::Strategy::Evolution;
    c
}

pub fn records(dir: &Path) -> Vec<ChildRecord> {
    read_jsonl(&dir.join("children.jsonl"))
}

pub fn tokens_by_id(records: &[ChildRecord]) -> HashMap<u64, Vec<usize>> {
    records
        .iter()
        .map(|r| (r.spec.id, r.spec.tokens.clone()))
        .collect()
}

pub fn assert_ids(records: &[ChildRecord], budget: u64) {
    let ids: Vec<u64> = records.iter().map(|r| r.spec.id).collect();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no child id twice");
    assert_eq!(
        unique,
        (0..budget).collect::<HashSet<u64>>(),
        "no child lost"
    );
}

/// Run `config` once whole, and once stopped (Ctrl-C) after `stop_after`
/// children and resumed: the whole run's records, how many the stopped run
/// had recorded, and the resumed run's records.
pub fn whole_and_resumed(
    config: impl Fn(&Path) -> Config,
    stop_after: usize,
) -> (Vec<ChildRecord>, usize, Vec<ChildRecord>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (whole, parts) = (tmp.path().join("whole"), tmp.path().join("parts"));
    run(config(&whole), &RunOptions::default()).expect("whole run");
    let stopped = run(
        config(&parts),
        &RunOptions {
            stop_after: Some(stop_after),
            ..RunOptions::default()
        },
    );
    assert!(
        matches!(stopped, Err(RunError::Interrupted(_))),
        "{stopped:?}"
    );
    let at_stop = records(&parts).len();
    let resume = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    run(config(&parts), &resume).expect("resume");
    (records(&whole), at_stop, records(&parts))
}

/// Tokens that differ in exactly one position.
fn one_apart(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).filter(|(x, y)| x != y).count() == 1
}

#[test]
fn evolution_reaches_the_declared_spaces_optimum_within_500_children() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    // One slot: deterministic; P = 20, S = 5 (the defaults).
    let config = declared_config(&dir, 500, 1);
    assert_eq!(
        (
            config.search.evolution.population,
            config.search.evolution.sample
        ),
        (20, 5)
    );
    let summary = run(config, &RunOptions::default()).expect("run");
    assert_eq!(summary.children, 500);
    assert_eq!(summary.updates, 0, "evolution pushes no controller update");
    let recs = records(&dir);
    assert_ids(&recs, 500);
    let best = best_reward(&recs);
    // Uniform sampling reaches about 0.5 in 500 children on this landscape.
    assert!(best >= 0.9, "best reward {best:.3} after 500 children");
}

#[test]
fn evolution_with_four_slots_records_every_child_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let summary = run(evolution_config(&dir, 120, 4, ""), &RunOptions::default()).expect("run");
    assert_eq!(summary.children, 120);
    assert_ids(&records(&dir), 120);
}

#[test]
fn evolution_with_one_slot_is_deterministic_and_mutates_members_of_the_population() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(evolution_config(&a, 60, 1, ""), &RunOptions::default()).expect("run a");
    run(evolution_config(&b, 60, 1, ""), &RunOptions::default()).expect("run b");
    let (ra, rb) = (records(&a), records(&b));
    assert_eq!(
        tokens_by_id(&ra),
        tokens_by_id(&rb),
        "same seed, same children"
    );
    // One slot: the log is in id order, and every child after the first P = 10
    // is one decision away from one of the 10 children recorded before it.
    let ids: Vec<u64> = ra.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids, (0..60).collect::<Vec<u64>>());
    for i in 10..ra.len() {
        let window = &ra[i - 10..i];
        assert!(
            window
                .iter()
                .any(|p| one_apart(&p.spec.tokens, &ra[i].spec.tokens)),
            "child {i} is no mutation of the population"
        );
    }
}

#[test]
fn a_stopped_and_resumed_evolution_keeps_its_population() {
    let (whole, at_stop, recs) = whole_and_resumed(|d| evolution_config(d, 50, 1, ""), 23);
    assert_eq!(at_stop, 23);
    assert_ids(&recs, 50);
    // The population is rebuilt from the log: the resumed run proposes
    // exactly the children the uninterrupted one did.
    assert_eq!(tokens_by_id(&recs), tokens_by_id(&whole));
}

/// Benchmark 5 (a): the paper's base-8 cell space and the synthetic
/// landscape, one slot and one replica of m = 4 (a seed gives the same
/// children every time), under `strategy` with the small-budget preset and
/// `controller` (more `[controller]` keys).
fn landscape_config(
    dir: &Path,
    budget: usize,
    seed: u64,
    strategy: &str,
    controller: &str,
) -> Config {
    let text = format!(
        r#"
[experiment]
name = "landscape"
output_dir = "{}"
seed = {seed}
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 1

[search]
space = "cell"
strategy = "{strategy}"
replicas = 1
children_per_replica = 4

[controller]
preset = "small-budget"
{controller}

[space.cell]
base = 8

[child]
backend = "synthetic"

[child.synthetic]
epochs = 10
"#,
        dir.display()
    );
    Config::from_toml(&text, Path::new("landscape.toml")).expect("landscape config")
}

pub fn best_reward(records: &[ChildRecord]) -> f64 {
    records.iter().map(|r| r.reward).fold(0.0, f64::max)
}

#[test]
fn the_replay_of_the_best_puts_reinforce_ahead_of_random_search_on_the_landscape() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for seed in [1, 2] {
        let best = |strategy: &str, controller: &str| {
            let dir = tmp
                .path()
                .join(format!("{strategy}-{seed}-{}", controller.len()));
            run(
                landscape_config(&dir, 500, seed, strategy, controller),
                &RunOptions::default(),
            )
            .expect("run");
            let recs = records(&dir);
            assert_ids(&recs, 500);
            recs
        };
        let preset = best("reinforce", "");
        let without_replay = best("reinforce", "replay_top = 0");
        let random = best("random", "");
        let (p, w, r) = (
            best_reward(&preset),
            best_reward(&without_replay),
            best_reward(&random),
        );
        assert!(p > r, "seed {seed}: preset {p:.4}, random search {r:.4}");
        assert!(
            p > w,
            "seed {seed}: preset {p:.4}, without the replay {w:.4}"
        );
        // The policy itself moves: the last 100 children score higher on average than the first 100.
        let mut by_id = preset.clone();
        by_id.sort_by_key(|c| c.spec.id);
        let mean = |cs: &[ChildRecord]| cs.iter().map(|c| c.reward).sum::<f64>() / cs.len() as f64;
        let (first, last) = (mean(&by_id[..100]), mean(&by_id[400..]));
        assert!(
            last > first + 0.05,
            "seed {seed}: mean reward {first:.3} → {last:.3}"
        );
    }
}

/// A list of the best: (tokens, reward).
type Best = Vec<(Vec<usize>, f64)>;

/// The replica's list of the best in the run's checkpoint, and what it
/// should be: the 10 best distinct architectures among the children whose
/// rewards made the checkpointed updates (from `children.jsonl` and
/// `updates.jsonl`). Both as (tokens, reward), sorted.
fn checkpointed_and_expected_best(dir: &Path) -> (Best, Best) {
    use nas_actor::search::Checkpoint;
    use nas_actor::store::UpdateRecord;
    let ck: Checkpoint = nas_actor::store::RunDir::open_read_only(dir)
        .expect("run directory")
        .read_checkpoint()
        .expect("checkpoint readable")
        .expect("a checkpoint");
    let updates: Vec<UpdateRecord> = read_jsonl(&dir.join("updates.jsonl"));
    assert_eq!(
        updates.len() as u64,
        ck.version,
        "updates.jsonl matches θ's version"
    );
    let tokens = tokens_by_id(&records(dir));
    let mut seen: HashMap<Vec<usize>, f64> = HashMap::new();
    for u in &updates {
        for (id, reward) in u.children.iter().zip(&u.rewards) {
            let t = tokens.get(id).cloned().expect("updated child recorded");
            let e = seen.entry(t).or_insert(*reward);
            *e = e.max(*reward);
        }
    }
    let mut expected: Vec<(Vec<usize>, f64)> = seen.into_iter().collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Ties at the 10th place may keep either: compare the rewards there, the tokens above.
    let mut got = ck.replicas[&0].best.clone();
    got.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    expected.truncate(got.len().max(10));
    (got, expected)
}

#[test]
fn a_stopped_and_resumed_reinforce_keeps_the_replay_of_the_best() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let config = || landscape_config(&dir, 80, 3, "reinforce", "");
    let stop = RunOptions {
        stop_after: Some(40),
        ..RunOptions::default()
    };
    let stopped = run(config(), &stop);
    assert!(
        matches!(stopped, Err(RunError::Interrupted(_))),
        "{stopped:?}"
    );
    let (before, expected) = checkpointed_and_expected_best(&dir);
    assert_eq!(before.len(), 10);
    assert_eq!(
        before.iter().map(|b| b.1).collect::<Vec<_>>(),
        expected.iter().map(|e| e.1).collect::<Vec<_>>(),
        "the checkpoint holds the 10 best rewards of the updated children"
    );
    let resume = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    run(config(), &resume).expect("resume");
    assert_ids(&records(&dir), 80);
    let (after, expected) = checkpointed_and_expected_best(&dir);
    assert_eq!(
        after.iter().map(|b| b.1).collect::<Vec<_>>(),
        expected.iter().map(|e| e.1).collect::<Vec<_>>(),
        "after the resume: the 10 best over the whole run, before and after the stop"
    );
    // The list carried over the stop: some of its entries are from before it.
    let kept = after
        .iter()
        .filter(|a| before.iter().any(|b| b.0 == a.0))
        .count();
    assert!(
        kept > 0,
        "no architecture from before the stop among the best after it"
    );
}

/// Synthetic children with 8-epoch learning curves, early stopping on.
fn stopping_config(dir: &Path, budget: usize, extra: &str) -> Config {
    let mut c = synthetic_config(
        dir,
        budget,
        &format!(
            "[child.synthetic]\nepochs = 8\n\n[search.early_stop]\nenabled = true\ngrace_epochs = 2\nmin_children = 4\n{extra}"
        ),
    );
    // One slot, one proposer: the order of the reports is the order of the log.
    c.search.strategy = nas_actor::config::Strategy::Evolution;
    c.devices.cpu_workers = 1;
    c
}

#[test]
fn the_median_rule_stops_synthetic_children_and_the_summary_shows_the_compute_saved() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let config = stopping_config(&dir, 40, "");
    let rule_cfg = config.search.early_stop.clone();
    let summary = run(config, &RunOptions::default()).expect("run");
    let recs = records(&dir);
    assert_ids(&recs, 40);
    let stopped: Vec<&ChildRecord> = recs
        .iter()
        .filter(|r| r.status == ChildStatus::Stopped)
        .collect();
    assert!(!stopped.is_empty(), "some children are stopped");
    // Replaying the recorded curves in record order through the rule stops
    // exactly the recorded children, at the recorded epoch.
    let mut rule = MedianRule::new(&rule_cfg, Metric::synthetic());
    for r in &recs {
        if r.status == ChildStatus::Cached {
            continue;
        }
        let at = r
            .epochs
            .iter()
            .find(|e| rule.report(r.spec.id, e.epoch, e.val_metric))
            .map(|e| e.epoch);
        if r.status == ChildStatus::Stopped {
            assert_eq!(at, Some(r.epochs.len()), "child {}", r.spec.id);
            assert!(r.epochs.len() > 2 && r.epochs.len() < 8);
            let best = r.epochs.iter().map(|e| e.val_metric).fold(0.0, f64::max);
            assert_eq!(r.metric, Some(best));
            assert_eq!(r.reward, best, "the synthetic reward rule is the identity");
        } else {
            assert_eq!(r.status, ChildStatus::Ok);
            assert!(
                at.is_none() || at == Some(8),
                "child {} at {at:?}",
                r.spec.id
            );
            assert_eq!(r.epochs.len(), 8);
        }
    }
    // A cached child copies a trained one that finished, never a stopped one.
    for (i, r) in recs.iter().enumerate() {
        if r.status == ChildStatus::Cached {
            assert!(
                recs[..i]
                    .iter()
                    .any(|p| p.spec.hash == r.spec.hash && p.status == ChildStatus::Ok),
                "child {} is cached from a stopped one",
                r.spec.id
            );
        }
    }
    check_compute(&summary, &dir, &recs);
    // The report says the same.
    let view = nas_actor::post::RunView::open(&dir).expect("view");
    let report = nas_actor::post::report::report(&view).expect("report");
    let c = &summary.compute;
    let line = format!(
        "{} child-epochs run for {} trained children, of {} without early stopping ({} stopped",
        c.child_epochs, c.trained, c.child_epochs_full, c.stopped
    );
    assert!(
        report.lines.iter().any(|l| l.contains(&line)),
        "{:?}",
        report.lines
    );
    let md = std::fs::read_to_string(dir.join("report/report.md")).expect("report.md");
    assert!(md.contains(&line), "{md}");
}

/// The summary's (and summary.json's) compute figures against the log.
fn check_compute(summary: &Summary, dir: &Path, recs: &[ChildRecord]) {
    let trained: Vec<&ChildRecord> = recs
        .iter()
        .filter(|r| r.status != ChildStatus::Cached)
        .collect();
    let run: usize = trained.iter().map(|r| r.epochs.len()).sum();
    let c = &summary.compute;
    assert_eq!(c.trained, trained.len());
    assert_eq!(c.child_epochs, run);
    assert_eq!(c.child_epochs_full, 8 * trained.len());
    assert_eq!(
        c.stopped,
        recs.iter()
            .filter(|r| r.status == ChildStatus::Stopped)
            .count()
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("summary.json")).expect("summary.json"),
    )
    .expect("json");
    assert_eq!(json["compute"]["child_epochs"], serde_json::json!(run));
}

#[test]
fn the_median_rule_keeps_its_state_across_a_resume() {
    let (whole, _, recs) = whole_and_resumed(|d| stopping_config(d, 40, ""), 17);
    assert_ids(&recs, 40);
    // The rule is rebuilt from the recorded epochs: the resumed run stops
    // exactly the children the uninterrupted one did, after the same epochs.
    let outcome = |rs: &[ChildRecord]| -> HashMap<u64, (ChildStatus, usize)> {
        rs.iter()
            .map(|r| (r.spec.id, (r.status, r.epochs.len())))
            .collect()
    };
    assert_eq!(outcome(&recs), outcome(&whole));
    assert_eq!(tokens_by_id(&recs), tokens_by_id(&whole));
    assert!(recs
        .iter()
        .any(|r| r.spec.id >= 17 && r.status == ChildStatus::Stopped));
}

#[test]
fn early_stopping_without_epochs_is_refused_naming_the_key() {
    let text = r#"
[experiment]
name = "x"
output_dir = "runs/x"
budget = 4

[search]
space = "cell"

[search.early_stop]
enabled = true

[child]
backend = "synthetic"
"#;
    let e = Config::from_toml(text, Path::new("x.toml")).expect_err("refused");
    let m = e.to_string();
    assert!(
        m.contains("search.early_stop.enabled") && m.contains("child.synthetic.epochs"),
        "{m}"
    );
    assert_eq!(e.line, Some(11));
}

const MINIMAL: &str = r#"
[experiment]
name = "x"
output_dir = "runs/x"
budget = 4

[search]
space = "cell"

[child]
backend = "synthetic"
"#;

#[test]
fn the_small_budget_preset_sets_its_values_and_explicit_keys_win() {
    let with = |extra: &str| Config::from_toml(&format!("{MINIMAL}{extra}"), Path::new("x.toml"));
    let c = with("\n[controller]\npreset = \"small-budget\"\n").expect("preset");
    let k = &c.controller;
    assert_eq!(k.temperature, Some(5.0));
    assert_eq!(k.tanh_constant, Some(2.5));
    assert_eq!(k.entropy_weight, 0.01);
    assert_eq!(k.learning_rate, Some(0.03));
    assert_eq!(k.baseline_decay, 0.95);
    assert_eq!(k.grad_clip, Some(5.0));
    assert_eq!((k.replay_top, k.replay_weight), (10, 2.0));
    let c = with(
        "\n[controller]\npreset = \"small-budget\"\nlearning_rate = 0.01\ntemperature = 2.0\n",
    )
    .expect("preset with overrides");
    assert_eq!(c.controller.learning_rate, Some(0.01));
    assert_eq!(c.controller.temperature, Some(2.0));
    assert_eq!(c.controller.tanh_constant, Some(2.5));
    // The resolved config (as written into a run directory) reads back the same.
    let again = Config::from_toml(&c.to_toml().expect("toml"), Path::new("r.toml")).expect("again");
    assert_eq!(again, c);
    // Without a preset: the paper's values.
    let paper = with("").expect("paper");
    assert_eq!(paper.controller.temperature, None);
    assert_eq!(paper.controller.entropy_weight, 0.0);
    assert_eq!(
        paper.controller.replay_top, 0,
        "no replay in the paper's REINFORCE"
    );
    let e = with("\n[controller]\nreplay_weight = -1.0\n").expect_err("negative weight");
    assert!(e.to_string().contains("controller.replay_weight"), "{e}");
    let e = with("\n[controller]\npreset = \"tiny\"\n").expect_err("unknown preset");
    assert!(e.to_string().contains("controller.preset"), "{e}");
}

#[test]
fn evolution_settings_are_checked_naming_the_key_and_line() {
    let text = format!("{MINIMAL}\n[search.evolution]\npopulation = 4\nsample = 6\n");
    let e = Config::from_toml(&text, Path::new("x.toml")).expect_err("refused");
    assert!(e.to_string().contains("search.evolution.sample"), "{e}");
    assert_eq!(e.line, Some(15));
    let text = format!("{MINIMAL}\n[search.evolution]\npopulation = 0\n");
    let e = Config::from_toml(&text, Path::new("x.toml")).expect_err("refused");
    assert!(e.to_string().contains("search.evolution.population"), "{e}");
}

#[test]
fn a_trial_command_stopped_by_the_median_rule_is_recorded_stopped_with_its_epochs() {
    use crate::command::{config, config_text, records, script};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // Six epochs rising to an accuracy set by the architecture file.
    script(
        dir,
        "trial.sh",
        r#"sum=$(cksum < "$NAS_ARCH_FILE" | cut -d' ' -f1)
m=$(( sum % 90 + 10 ))
for e in 1 2 3 4 5 6; do
  printf '{"epoch": %d, "metric": 0.%03d}\n' $e $(( m * e * 1000 / 600 ))
  sleep 0.1
done
printf '{"metric": 0.%03d}\n' $(( m * 10 ))"#,
    );
    let text = config_text(
        dir,
        10,
        &["./trial.sh"],
        "epochs = 6\nkill_grace_s = 1\n\n[search.early_stop]\nenabled = true\ngrace_epochs = 1\nmin_children = 2\n",
    );
    let mut cfg = config(dir, &text);
    cfg.devices.cpu_workers = 1;
    let summary = run(cfg, &RunOptions::default()).expect("run");
    let recs = records(dir);
    assert_ids(&recs, 10);
    let stopped: Vec<&ChildRecord> = recs
        .iter()
        .filter(|r| r.status == ChildStatus::Stopped)
        .collect();
    assert!(!stopped.is_empty(), "some trials are stopped: {recs:#?}");
    for r in &stopped {
        assert!(
            r.epochs.len() >= 2 && r.epochs.len() < 6,
            "child {}: {} epochs",
            r.spec.id,
            r.epochs.len()
        );
        let best = r.epochs.iter().map(|e| e.val_metric).fold(0.0, f64::max);
        assert_eq!(r.metric, Some(best));
        assert_eq!(
            r.reward, best,
            "the trial's reward rule is the metric itself"
        );
        assert!(
            r.message
                .as_deref()
                .is_some_and(|m| m.contains("median rule")),
            "{:?}",
            r.message
        );
    }
    assert_eq!(summary.compute.stopped, stopped.len());
    assert!(summary.compute.child_epochs < summary.compute.child_epochs_full);
}
