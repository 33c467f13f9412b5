//! What a person reads after a resume and at the end: the first status line
//! of a resumed run already shows the resumed state (children, controller
//! updates, baseline, best reward, failed, diverged and cached children),
//! and divergence is counted apart from failure, with a word on why.

use super::*;

/// The `[synthetic]` plain status lines of `stdout`.
fn status_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("[synthetic]"))
        .collect()
}

/// The number after `word ` in `line`, e.g. `updates 12`.
fn number_after(line: &str, word: &str) -> Option<f64> {
    let at = line.find(&format!("{word} "))? + word.len() + 1;
    line[at..].split([' ', '|', '(']).next()?.parse().ok()
}

#[test]
fn the_first_status_line_after_a_resume_shows_the_resumed_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    let mut cfg = synthetic_config(&dir, 48, "");
    cfg.child.synthetic.failure_rate = 0.2;
    cfg.child.synthetic.failure_kind = nas_actor::config::SyntheticFailure::Diverged;
    let path = write_config(tmp.path(), "c", &cfg);
    let first = binary()
        .args(["run", "--stop-after", "24"])
        .arg(&path)
        .env("NAS_ACTOR_PLAIN", "1")
        .output()
        .expect("run the binary");
    let (code, _, stderr) = outcome(&first);
    assert_eq!(code, Some(130), "{stderr}");
    let records: Vec<ChildRecord> = read_jsonl(&dir.join("children.jsonl"));
    let updates: Vec<UpdateRecord> = read_jsonl(&dir.join("updates.jsonl"));
    let diverged = records
        .iter()
        .filter(|r| r.status == nas_actor::child::ChildStatus::Diverged)
        .count();
    assert!(!updates.is_empty() && diverged > 0, "{stderr}");

    let second = binary()
        .args(["run", "--resume"])
        .arg(&path)
        .env("NAS_ACTOR_PLAIN", "1")
        .output()
        .expect("resume with the binary");
    let (code, stdout, stderr) = outcome(&second);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let lines = status_lines(&stdout);
    let line = lines.first().expect("a status line");
    // The resumed numbers, before any new child has ended.
    assert!(
        line.contains(&format!("children {}/48", records.len())),
        "{line}"
    );
    let version = updates.last().map_or(0, |u| u.version);
    assert_eq!(
        number_after(line, "updates"),
        Some(version as f64),
        "{line}"
    );
    let baseline = number_after(line, "baseline").expect("baseline");
    let last = updates.last().map_or(0.0, |u| u.baseline);
    assert!(
        (baseline - last).abs() <= 1e-3 * last.abs().max(1.0),
        "{line}"
    );
    let best = records
        .iter()
        .filter(|r| r.status == nas_actor::child::ChildStatus::Ok)
        .map(|r| r.reward)
        .fold(f64::MIN, f64::max);
    let shown = number_after(line, "best reward").expect("best reward");
    assert!(
        (shown - best).abs() <= 1e-3 * best.abs().max(1.0),
        "{line}: best {best}"
    );
    assert!(line.contains(&format!("{diverged} diverged")), "{line}");

    // The end: divergence apart from failure, and why.
    let done = stdout
        .lines()
        .find(|l| l.starts_with("done: 48 children"))
        .expect("the done line");
    assert!(done.contains(" diverged, "), "{done}");
    assert!(
        done.contains("(0 failed, "),
        "diverged children did not fail: {done}"
    );
    let note = stdout
        .lines()
        .find(|l| l.starts_with("diverged: "))
        .expect("the divergence note");
    assert!(note.contains("NaN or infinite loss"), "{note}");
    figures(
        "resumed_status",
        &[format!(
            "first status line after --resume at {} children: {}",
            records.len(),
            line.split(" | slots:").next().unwrap_or(line)
        )],
    );
}
