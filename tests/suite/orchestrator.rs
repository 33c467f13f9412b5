//! Tests of `actors` (the orchestrator): a synthetic search's bookkeeping,
//! stop and resume, failing children, the real quickstart on PTB, and
//! plain progress lines without a terminal.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;

use nas_actor::actors::{run, Interrupter, RunError, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::{Config, ControllerPreset};
use nas_actor::store::ChildRecord;
use nas_actor::store::UpdateRecord;

use crate::common::{require_ptb, root};

/// A synthetic-search config writing into `dir`.
pub fn synthetic_config(dir: &Path, budget: usize, extra: &str) -> Config {
    let text = format!(
        r#"
[experiment]
name = "synthetic"
output_dir = "{}"
seed = 7
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 4

[search]
space = "cell"
replicas = 3
children_per_replica = 4

[controller]
learning_rate = 0.05
entropy_weight = 0.03

[space.cell]
base = 2

[child]
backend = "synthetic"

[data]
dataset = "ptb"
dir = "data/ptb"
{extra}
"#,
        dir.display()
    );
    Config::from_toml(&text, Path::new("synthetic.toml")).expect("synthetic config")
}

pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a valid JSON line"))
        .collect()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// The θ version child `i` of update `u` was sampled with.
pub fn sampled_at(u: &UpdateRecord, i: usize) -> u64 {
    u.sampled_versions
        .get(i)
        .copied()
        .unwrap_or(u.sampled_version)
}

/// Each update's versions: one per child, the oldest is `sampled_version`,
/// none newer than the θ the update was applied to, and the staleness is
/// counted from the oldest (its mean over the children in `staleness_mean`).
pub fn check_sampling_versions(updates: &[UpdateRecord]) {
    for u in updates {
        assert_eq!(
            u.sampled_versions.len(),
            u.children.len(),
            "a version per child"
        );
        let oldest = u.sampled_versions.iter().copied().min().unwrap_or(0);
        assert_eq!(u.sampled_version, oldest, "update {}", u.version);
        assert!(u.sampled_versions.iter().all(|&v| v < u.version));
        assert_eq!(u.staleness, u.version - 1 - oldest, "update {}", u.version);
        let mean = u
            .sampled_versions
            .iter()
            .map(|&v| (u.version - 1 - v) as f64)
            .sum::<f64>()
            / u.children.len() as f64;
        assert!(
            (u.staleness_mean - mean).abs() < 1e-9,
            "update {}",
            u.version
        );
    }
}

/// Every update has exactly m rewards, but for at most one short update
/// per replica at the budget's end: its last, using children of the last
/// ids (under refill each replica may be left with fewer than m).
pub fn check_short_updates(updates: &[UpdateRecord], m: usize) {
    let mut last: BTreeMap<usize, u64> = BTreeMap::new();
    for u in updates {
        last.insert(u.replica, u.version);
    }
    for u in updates {
        assert!(!u.children.is_empty() && u.children.len() <= m);
        if u.children.len() < m {
            assert_eq!(
                last.get(&u.replica),
                Some(&u.version),
                "update {} of replica {} has {} rewards but is not its last",
                u.version,
                u.replica,
                u.children.len()
            );
        }
    }
}

/// Every update used exactly m rewards of its own replica's children, each
/// child at most once; only the batch that took the budget's last ids may be smaller.
fn check_updates(records: &[ChildRecord], updates: &[UpdateRecord], m: usize) {
    check_sampling_versions(updates);
    let by_id: BTreeMap<u64, &ChildRecord> = records.iter().map(|r| (r.spec.id, r)).collect();
    let mut used = HashSet::new();
    check_short_updates(updates, m);
    for u in updates {
        for (i, (id, reward)) in u.children.iter().zip(&u.rewards).enumerate() {
            let r = by_id
                .get(id)
                .unwrap_or_else(|| panic!("update {} used unrecorded child {id}", u.version));
            assert_eq!(
                r.spec.replica, u.replica,
                "child {id} belongs to another replica"
            );
            assert_eq!(
                r.spec.version,
                sampled_at(u, i),
                "child {id} was sampled with another θ"
            );
            assert_eq!(r.reward, *reward);
            assert!(used.insert(*id), "child {id} used twice");
        }
    }
}

#[test]
fn synthetic_search_records_everything_once_and_learns() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    // The small-budget preset: the config's own learning rate (0.05) and
    // bonus (0.03) settle on a mediocre cell in some runs (the order of the
    // 4 slots' rewards differs from run to run).
    let mut config = synthetic_config(&dir, 200, "");
    config.controller.preset = Some(ControllerPreset::SmallBudget);
    config.controller.apply_preset(|_| false);
    let summary = run(config, &RunOptions::default()).expect("run");
    assert_eq!(summary.children, 200);
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    let ids: HashSet<u64> = records.iter().map(|r| r.spec.id).collect();
    assert_eq!(records.len(), 200);
    assert_eq!(
        ids,
        (0..200).collect::<HashSet<u64>>(),
        "every child exactly once"
    );
    let updates: Vec<UpdateRecord> = read_jsonl(&dir.join("updates.jsonl"));
    // 50 full updates, and at most one short one per replica at the end.
    let full = updates.iter().filter(|u| u.children.len() == 4).count();
    assert!(
        (200 / 4 - 3..=200 / 4).contains(&full) && updates.len() <= full + 3,
        "{full} full updates of {}",
        updates.len()
    );
    assert_eq!(summary.updates, updates.len() as u64);
    check_updates(&records, &updates, 4);
    let mut sorted = records.clone();
    sorted.sort_by_key(|r| r.spec.id);
    let rewards: Vec<f64> = sorted.iter().map(|r| r.reward).collect();
    let (first, last) = (mean(&rewards[..50]), mean(&rewards[150..]));
    assert!(
        last > first + 0.1,
        "mean reward rose only from {first:.3} to {last:.3}"
    );
    for f in [
        "config.toml",
        "children.jsonl",
        "updates.jsonl",
        "best.json",
        "summary.json",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    assert!(dir.join("checkpoint").exists());
}

#[test]
fn a_stopped_run_resumes_to_its_budget() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let stopped = run(
        synthetic_config(&dir, 120, ""),
        &RunOptions {
            resume: false,
            stop_after: Some(50),
            ..RunOptions::default()
        },
    );
    let Err(RunError::Interrupted(s)) = stopped else {
        panic!("expected an interrupted run, got {stopped:?}")
    };
    assert!(s.children >= 50 && s.children < 120);
    let before: Vec<UpdateRecord> = read_jsonl(&dir.join("updates.jsonl"));
    let last_version = before.last().map_or(0, |u| u.version);
    assert!(last_version > 0);
    // A fresh run refuses the non-empty directory.
    let refused = run(synthetic_config(&dir, 120, ""), &RunOptions::default());
    assert!(
        matches!(refused, Err(RunError::RunDir(ref e)) if e.to_string().contains("--resume")),
        "{refused:?}"
    );
    let summary = run(
        synthetic_config(&dir, 120, ""),
        &RunOptions {
            resume: true,
            stop_after: None,
            ..RunOptions::default()
        },
    )
    .expect("resume");
    assert_eq!(summary.children, 120);
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    assert_eq!(records.len(), 120);
    let ids: HashSet<u64> = records.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids.len(), 120, "no child id twice");
    let updates: Vec<UpdateRecord> = read_jsonl(&dir.join("updates.jsonl"));
    // θ continues from the checkpoint: versions keep counting up without a gap or restart.
    for (i, u) in updates.iter().enumerate() {
        assert_eq!(u.version, i as u64 + 1, "update versions continue");
    }
    assert!(updates.len() > before.len());
    check_updates(&records, &updates, 4);
}

#[test]
fn failing_children_are_recorded_and_the_run_completes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let cfg = synthetic_config(&dir, 60, "");
    let mut cfg = cfg;
    cfg.child.synthetic.failure_rate = 0.25;
    cfg.reward.failure = -0.5;
    let summary = run(cfg, &RunOptions::default()).expect("run");
    assert_eq!(summary.children, 60);
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    let failed: Vec<&ChildRecord> = records
        .iter()
        .filter(|r| r.status == ChildStatus::Failed)
        .collect();
    assert!(!failed.is_empty());
    assert_eq!(summary.failures, failed.len());
    for r in failed {
        assert_eq!(r.reward, -0.5);
        assert!(r
            .message
            .as_deref()
            .is_some_and(|m| m.contains("synthetic failure")));
    }
}

#[test]
fn repeated_architectures_are_cached() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    // Base-2 cells with one combination and one activation: only 9 distinct cells exist.
    let mut cfg = synthetic_config(&dir, 40, "");
    cfg.space.cell.combinations.truncate(1);
    cfg.space.cell.activations.truncate(1);
    let summary = run(cfg, &RunOptions::default()).expect("run");
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    let cached: Vec<&ChildRecord> = records
        .iter()
        .filter(|r| r.status == ChildStatus::Cached)
        .collect();
    assert!(cached.len() >= 20, "only {} cached", cached.len());
    assert_eq!(summary.cached, cached.len());
    for c in cached {
        let first = records
            .iter()
            .find(|r| r.spec.hash == c.spec.hash && r.status == ChildStatus::Ok)
            .expect("a trained original");
        assert_eq!(first.reward, c.reward);
    }
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nas-actor"))
}

#[test]
fn without_a_terminal_progress_is_plain_lines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let cfg = synthetic_config(&dir, 24, "");
    let path = tmp.path().join("c.toml");
    std::fs::write(&path, cfg.to_toml().expect("serialise config")).expect("write config");
    let out = binary()
        .args(["run"])
        .arg(&path)
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("[synthetic]") && l.contains("children")),
        "{stdout}"
    );
    // Every plain line says where each slot is.
    assert!(
        stdout
            .lines()
            .filter(|l| l.starts_with("[synthetic]"))
            .all(|l| l.contains("| slots: cpu#0 ") && l.contains(", cpu#3 ")),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "no terminal escapes in plain output"
    );
    assert!(stdout.contains("done: 24 children"), "{stdout}");
}

#[test]
fn quickstart_runs_end_to_end_on_real_ptb() {
    let Some(_) = require_ptb() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("quick");
    let text = std::fs::read_to_string(root().join("configs/quickstart.toml")).expect("quickstart");
    let text = text
        .replace(
            "output_dir = \"runs/quickstart\"",
            &format!("output_dir = \"{}\"", dir.display()),
        )
        .replace(
            "dir = \"data/ptb\"",
            &format!("dir = \"{}\"", root().join("data/ptb").display()),
        );
    let path = tmp.path().join("quickstart.toml");
    std::fs::write(&path, text).expect("write");
    let out = binary().arg("run").arg(&path).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without a terminal, the log shows each slot's child, epoch and batch,
    // and the reporter says once what the children will take.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("| slots: cpu#") && l.contains(" epoch ") && l.contains(" batch ")),
        "{stdout}"
    );
    assert_eq!(stderr.matches("estimate: ").count(), 1, "{stderr}");
    assert!(stderr.contains("children left need"), "{stderr}");
    let config = Config::load(&path).expect("config");
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    assert_eq!(records.len(), config.experiment.budget);
    let ok: Vec<&ChildRecord> = records
        .iter()
        .filter(|r| r.status == ChildStatus::Ok)
        .collect();
    assert!(!ok.is_empty());
    for r in &ok {
        let ppl = r.metric.expect("a perplexity");
        assert!(
            ppl.is_finite() && ppl > 1.0,
            "child {} perplexity {ppl}",
            r.spec.id
        );
        assert!((r.reward - 80.0 / (ppl * ppl)).abs() < 1e-9);
        assert!(r.params > 0 && !r.epochs.is_empty());
    }
    // Real training on real text: the best child is far better than a uniform
    // guess over the 10,000-word vocabulary (perplexity 10,000).
    let best = ok
        .iter()
        .filter_map(|r| r.metric)
        .fold(f64::INFINITY, f64::min);
    assert!(best < 1500.0, "best perplexity {best}");
    for f in [
        "config.toml",
        "children.jsonl",
        "updates.jsonl",
        "best.json",
        "summary.json",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
}

#[test]
fn ctrl_c_checkpoints_and_the_run_resumes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let mut cfg = synthetic_config(&dir, 400, "");
    cfg.child.synthetic.delay_ms = 20.0;
    let path = tmp.path().join("c.toml");
    std::fs::write(&path, cfg.to_toml().expect("serialise config")).expect("write config");
    let child = binary()
        .arg("run")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    // Wait until some children are recorded, then press Ctrl-C.
    let log = dir.join("children.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) < 40 {
        assert!(t0.elapsed().as_secs() < 60, "the run recorded nothing");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    let before: Vec<ChildRecord> = read_jsonl(&log);
    assert!(before.len() < 400);
    assert!(dir
        .join("checkpoint")
        .read_dir()
        .expect("checkpoint dir")
        .next()
        .is_some());
    let o = binary()
        .arg("run")
        .arg(&path)
        .arg("--resume")
        .output()
        .expect("resume");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after: Vec<ChildRecord> = read_jsonl(&log);
    assert_eq!(after.len(), 400);
    let ids: HashSet<u64> = after.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids.len(), 400);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "nothing recorded was lost or changed"
    );
}

#[test]
fn an_interrupter_stops_a_run_in_this_process_and_it_resumes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let slow = "[child.synthetic]\ndelay_ms = 20\n";
    let interrupter = Interrupter::new();
    assert!(!interrupter.interrupt(), "no run is attached yet");
    let watcher = {
        let (interrupter, log) = (interrupter.clone(), dir.join("children.jsonl"));
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(60) {
                let n = std::fs::read_to_string(&log).map_or(0, |t| t.lines().count());
                if n >= 20 && interrupter.interrupt() {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            false
        })
    };
    let stopped = run(
        synthetic_config(&dir, 400, slow),
        &RunOptions {
            interrupter: Some(interrupter.clone()),
            ..RunOptions::default()
        },
    );
    assert!(
        watcher.join().expect("watcher"),
        "the run never reached 20 children"
    );
    let Err(RunError::Interrupted(s)) = stopped else {
        panic!("expected an interrupted run, got {stopped:?}")
    };
    assert!(s.children >= 20 && s.children < 400, "{}", s.children);
    assert!(!interrupter.interrupt(), "detached once the run is over");
    let summary = run(
        synthetic_config(&dir, 400, slow),
        &RunOptions {
            resume: true,
            ..RunOptions::default()
        },
    )
    .expect("resume");
    assert_eq!(summary.children, 400);
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    let ids: HashSet<u64> = records.iter().map(|r| r.spec.id).collect();
    assert_eq!(records.len(), 400);
    assert_eq!(ids, (0..400).collect::<HashSet<u64>>());
}
