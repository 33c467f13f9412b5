//! `kill -9` of the real binary at random (seeded) moments, `--resume` after each.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Lines in the child log (0 when there is none).
fn logged(dir: &Path) -> usize {
    std::fs::read(dir.join("children.jsonl"))
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Start `nas-actor run CONFIG` (with `--resume` once the run directory
/// holds a run), stderr into `stderr`.
fn start(config: &Path, dir: &Path, stderr: &Path) -> Child {
    let mut cmd = binary();
    cmd.arg("run").arg(config);
    if dir.exists() {
        cmd.arg("--resume");
    }
    cmd.stdout(Stdio::null())
        .stderr(File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("start nas-actor")
}

/// Wait until the log has `target` lines, or `limit` passes, or the process ends.
fn wait_for_progress(child: &mut Child, dir: &Path, target: usize, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit && logged(dir) < target {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGKILL `child` and reap it; false when it had already exited (its code is then checked).
fn kill(child: &mut Child, stderr: &Path) -> bool {
    if let Ok(Some(status)) = child.try_wait() {
        let err = std::fs::read_to_string(stderr).unwrap_or_default();
        assert!(status.success(), "the run failed: {status}\n{err}");
        return false;
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(9) || {
        let err = std::fs::read_to_string(stderr).unwrap_or_default();
        assert!(status.success(), "the run failed: {status}\n{err}");
        false
    }
}

/// Finish the run with `--resume`; returns its stderr.
fn finish(config: &Path) -> String {
    let o = binary()
        .args(["run", "--resume"])
        .arg(config)
        .output()
        .expect("run nas-actor");
    let (code, out, err) = outcome(&o);
    assert_eq!(code, Some(0), "{out}\n{err}");
    err
}

#[test]
fn kill_9_at_random_moments_loses_and_repeats_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    // 12 kills of at most 24 children each leave room for the children a
    // loaded machine runs between reaching a target and the kill landing.
    let budget = 800;
    let mut cfg = synthetic_config(&dir, budget, "");
    cfg.child.synthetic.delay_ms = 30.0;
    let path = write_config(tmp.path(), "kill", &cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(20170424);
    let (mut kills, mut in_startup, mut torn_notices, mut starts) = (0, 0, 0, 0);
    let mut progress = Vec::new();
    let mut startup = Duration::from_millis(500);
    let mut updates_dropped = 0;
    while kills < 12 {
        let stderr = tmp.path().join(format!("stderr-{starts}.txt"));
        let before = logged(&dir);
        let mut child = start(&path, &dir, &stderr);
        let t0 = Instant::now();
        starts += 1;
        if kills % 5 == 1 {
            // A moment during start-up or resume, before the first new child.
            std::thread::sleep(startup.mul_f64(rng.random::<f64>()));
            in_startup += 1;
        } else {
            // A moment after 1 to 24 more children, anywhere in the next child's life.
            let target = before + rng.random_range(1..=24);
            if kills == 0 {
                // Start-up lasts until the first new child is logged; the
                // start-up kills sleep up to that long, so that they land
                // before any child (not up to 24 children later).
                wait_for_progress(&mut child, &dir, before + 1, Duration::from_secs(20));
                startup = t0.elapsed();
            }
            wait_for_progress(&mut child, &dir, target, Duration::from_secs(20));
            std::thread::sleep(Duration::from_micros(rng.random_range(0..30_000)));
        }
        if !kill(&mut child, &stderr) {
            break;
        }
        kills += 1;
        progress.push(logged(&dir));
        let err = std::fs::read_to_string(&stderr).unwrap_or_default();
        torn_notices += err.matches("dropped a last log line").count();
        updates_dropped += err.matches("newer than the checkpoint").count();
        if kills == 3 {
            // As a kill in the middle of an append and of a checkpoint write would leave it.
            let mut log = OpenOptions::new()
                .append(true)
                .open(dir.join("children.jsonl"))
                .expect("the log exists by now");
            log.write_all(br#"{"id":99999,"replica":0,"version":3,"tok"#)
                .expect("tear the log");
            std::fs::write(dir.join("checkpoint/.state.bin.1.0.tmp"), b"NASACK")
                .expect("leave a torn temp");
        }
    }
    assert!(
        kills >= 10,
        "only {kills} kills before the budget was spent"
    );
    let err = finish(&path);
    torn_notices += err.matches("dropped a last log line").count();
    assert!(
        torn_notices >= 1,
        "the torn last line was not reported on resume"
    );
    assert!(!dir.join("checkpoint/.state.bin.1.0.tmp").exists());
    let facts = check_run(&dir, &cfg, cfg.search.children_per_replica);
    assert_eq!(facts.records.len(), budget);
    figures(
        "kill",
        &[
            format!("kills survived: {kills} (SIGKILL; {in_startup} during start-up/resume), starts: {}", starts + 1),
            format!("children logged after each kill: {progress:?}"),
            format!("torn last lines dropped with a notice: {torn_notices}; resumes that dropped updates newer than the checkpoint: {updates_dropped}"),
            format!("children recorded: {} of budget {budget}; lost: 0; repeated ids: 0", facts.records.len()),
            format!("controller updates: {} (versions 1..={} without a gap)", facts.updates, facts.updates),
        ],
    );
}

#[test]
fn kill_9_during_real_tch_training_resumes_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let cfg = tiny_lm_config(&dir, &tmp.path().join("data"), 16);
    let path = write_config(tmp.path(), "tch", &cfg);
    let stderr = tmp.path().join("stderr.txt");
    let mut child = start(&path, &dir, &stderr);
    // The event: the 4th child is in the log. Its slot has just taken the next
    // job and the other slot is inside a child's training; the kill follows at
    // once (no sleep to race against), with 12 real children still to train.
    wait_for_progress(&mut child, &dir, 4, Duration::from_secs(60));
    assert!(logged(&dir) >= 4, "no 4th child within 60 s");
    assert!(kill(&mut child, &stderr), "the run ended before the kill");
    let at_kill = logged(&dir);
    assert!(at_kill < 16, "{at_kill} children before the kill");
    finish(&path);
    let facts = check_run(&dir, &cfg, cfg.search.children_per_replica);
    let trained = facts
        .records
        .iter()
        .filter(|r| r.status == nas_actor::child::ChildStatus::Ok)
        .count();
    assert!(trained > 0, "no child trained");
    for r in facts.records.iter().filter(|r| r.params > 0) {
        assert!(r.metric.is_some_and(f64::is_finite), "child {}", r.spec.id);
    }
    figures(
        "kill_tch",
        &[format!(
            "real tch children: killed after {at_kill} of 16, resumed: 16 recorded, {trained} trained ok, lost 0"
        )],
    );
}
