//! One run, one writer (the lock, through the binary), and disk trouble: a
//! run that cannot write stops with exit 1, says the checkpoint is intact,
//! and resumes once the cause is fixed.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::*;

/// Wait (up to 60 s) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_live_run_locks_its_directory_and_a_killed_one_does_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let mut slow = synthetic_config(&dir, 12, "");
    slow.child.synthetic.delay_ms = 60_000.0;
    let slow_path = write_config(tmp.path(), "slow", &slow);
    let mut first = binary()
        .arg("run")
        .arg(&slow_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the first run");
    let pid = first.id();
    wait_until("the first run's lock", || {
        std::fs::read_to_string(dir.join("run.lock")).is_ok_and(|t| t.trim() == pid.to_string())
    });
    let config_before = std::fs::read(dir.join("config.toml")).expect("config.toml");
    let mut fast = slow.clone();
    fast.child.synthetic.delay_ms = 0.0;
    let fast_path = write_config(tmp.path(), "fast", &fast);
    for resume in [false, true] {
        let mut cmd = binary();
        cmd.arg("run").arg(&fast_path);
        if resume {
            cmd.arg("--resume");
        }
        let (code, _, err) = outcome(&cmd.output().expect("second run"));
        assert_eq!(code, Some(2), "second run (resume {resume}): {err}");
        assert!(err.contains(&dir.display().to_string()), "{err}");
        assert!(err.contains(&format!("pid {pid}")), "{err}");
    }
    assert_eq!(
        std::fs::read(dir.join("config.toml")).expect("config.toml"),
        config_before,
        "a refused run must not touch the live run's files"
    );
    first.kill().expect("SIGKILL the first run");
    first.wait().expect("reap");
    let (code, out, err) = outcome(
        &binary()
            .args(["run", "--resume"])
            .arg(&fast_path)
            .output()
            .expect("resume"),
    );
    assert_eq!(code, Some(0), "a dead process holds no lock: {out}\n{err}");
    check_run(&dir, &fast, fast.search.children_per_replica);
    figures(
        "lock",
        &["second writer refused while live (run and --resume: exit 2, names dir and pid); after SIGKILL --resume completes".into()],
    );
}

/// Run `nas-actor run CONFIG` with files limited to `blocks` 512-byte blocks
/// (`ulimit -f`, SIGXFSZ ignored, so a write past the limit fails with EFBIG
/// as on a full disk).
fn run_with_file_limit(config: &Path, blocks: u64) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" run \"$1\""
        ))
        .arg(env!("CARGO_BIN_EXE_nas-actor"))
        .arg(config)
        .output()
        .expect("sh")
}

#[test]
fn a_full_disk_stops_the_run_with_exit_1_and_it_resumes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let mut cfg = synthetic_config(&dir, 400, "");
    cfg.controller.hidden_size = 8;
    cfg.controller.layers = 1;
    let path = write_config(tmp.path(), "full", &cfg);
    let limit_bytes = 96 * 512;
    let (code, out, err) = outcome(&run_with_file_limit(&path, 96));
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(
        err.contains("checkpoint") && err.contains("intact"),
        "{err}"
    );
    assert!(err.contains("--resume"), "{err}");
    // It stopped instead of training on without recording.
    let size = std::fs::metadata(dir.join("children.jsonl")).map_or(0, |m| m.len());
    assert!(size <= limit_bytes, "children.jsonl is {size} bytes");
    let recorded = logged_lines(&dir);
    assert!(
        recorded > 0 && recorded < 400,
        "{recorded} recorded before the stop"
    );
    // Space freed: resume finishes the budget with nothing lost or repeated.
    let (code, out, err) = outcome(
        &binary()
            .args(["run", "--resume"])
            .arg(&path)
            .output()
            .expect("resume"),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    check_run(&dir, &cfg, cfg.search.children_per_replica);

    // checkpoint/ turned into a file mid-run: the next checkpoint write fails.
    let dir2 = tmp.path().join("run2");
    let mut cfg2 = synthetic_config(&dir2, 200, "");
    cfg2.child.synthetic.delay_ms = 20.0;
    let path2 = write_config(tmp.path(), "ckfile", &cfg2);
    let child = binary()
        .arg("run")
        .arg(&path2)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    wait_until("a checkpoint", || {
        dir2.join("checkpoint/state.bin").exists()
    });
    std::fs::rename(dir2.join("checkpoint"), tmp.path().join("ck-aside")).expect("move aside");
    std::fs::write(dir2.join("checkpoint"), b"not a directory").expect("a file");
    let (code, out, err) = outcome(&child.wait_with_output().expect("wait"));
    assert_eq!(code, Some(1), "{out}\n{err}");
    // The failing step names the checkpoint: its temporary file (a failed
    // create or write) or the file itself (a failed rename), depending on
    // when the directory was moved aside.
    assert!(
        err.contains("checkpoint/.state.bin") || err.contains("checkpoint/state.bin"),
        "{err}"
    );
    assert!(err.contains("intact"), "{err}");
    std::fs::remove_file(dir2.join("checkpoint")).expect("fix: remove the file");
    std::fs::rename(tmp.path().join("ck-aside"), dir2.join("checkpoint")).expect("fix: restore");
    let (code, out, err) = outcome(
        &binary()
            .args(["run", "--resume"])
            .arg(&path2)
            .output()
            .expect("resume"),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    check_run(&dir2, &cfg2, cfg2.search.children_per_replica);
    figures(
        "disk",
        &[
            format!("file size limit {limit_bytes} bytes (EFBIG): stopped with exit 1 after {recorded} children, resumed to 400"),
            "checkpoint/ made a file mid-run: exit 1 naming checkpoint/.state.bin…, resumed after the fix".into(),
        ],
    );
}

/// Complete lines of the child log.
fn logged_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("children.jsonl"))
        .map(|t| {
            t.lines()
                .filter(|l| serde_json::from_str::<ChildRecord>(l).is_ok())
                .count()
        })
        .unwrap_or(0)
}
