//! Every way a trial can fail: the child is recorded failed with the reason
//! and its stderr's last lines, gets the failure reward, and the search
//! completes its budget. Commands that cannot start at all are config
//! errors, found before the search starts.

use nas_actor::child::ChildStatus;
use nas_actor::store::ChildRecord;

use super::{assert_every_id_once, bin, config, config_text, records, script, search, with_status};

const BUDGET: usize = 8;

/// Run a search whose even children run `failing` (a shell snippet) and
/// whose odd children succeed; return the failed records, after checking
/// the budget was completed and only even children failed.
fn failing_run(failing: &str, extra: &str) -> Vec<ChildRecord> {
    failing_run_in(&tempfile::tempdir().expect("tempdir"), failing, "", extra)
}

/// [`failing_run`] in `tmp`, with `child` TOML added to `[child]`.
fn failing_run_in(
    tmp: &tempfile::TempDir,
    failing: &str,
    child: &str,
    extra: &str,
) -> Vec<ChildRecord> {
    let dir = tmp.path();
    script(
        dir,
        "trial.sh",
        &format!(
            r#"if [ $(( NAS_CHILD_ID % 2 )) -eq 0 ]; then
{failing}
fi
echo '{{"epoch": 1, "metric": 0.5}}'
echo '{{"metric": 0.5}}'"#
        ),
    );
    // Random search without the cache's help: every child runs its trial.
    let text = config_text(dir, BUDGET, &["./trial.sh"], extra)
        .replace("backend = \"command\"\n", &format!("backend = \"command\"\n{child}\n"))
        .replace(
        "[[space.custom.decision]]\nname = \"optimizer\"",
        "[[space.custom.decision]]\nname = \"seed\"\nchoices = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]\n\n[[space.custom.decision]]\nname = \"optimizer\"",
    );
    let summary = search(config(dir, &text));
    assert_eq!(summary.children, BUDGET, "the budget is completed");
    let recs = records(dir);
    assert_every_id_once(&recs, BUDGET);
    let failed: Vec<ChildRecord> = with_status(&recs, ChildStatus::Failed)
        .into_iter()
        .cloned()
        .collect();
    for r in &recs {
        let trained = r.status != ChildStatus::Cached;
        if trained && r.spec.id % 2 == 1 {
            assert_eq!(
                r.status,
                ChildStatus::Ok,
                "odd child {} succeeds",
                r.spec.id
            );
            assert_eq!(r.reward, 0.5);
        }
    }
    assert!(!failed.is_empty(), "even children fail");
    for r in &failed {
        assert_eq!(r.spec.id % 2, 0, "only even children fail");
        assert_eq!(r.reward, 0.0, "the failure reward");
        assert_eq!(r.metric, None);
    }
    assert_eq!(summary.failures, failed.len());
    failed
}

fn message(r: &ChildRecord) -> &str {
    r.message.as_deref().unwrap_or("")
}

#[test]
fn a_non_zero_exit_fails_with_its_code_and_stderr() {
    for r in failing_run(
        "echo 'loading data' >&2\necho 'CUDA error: out of memory' >&2\nexit 3",
        "",
    ) {
        assert!(
            message(&r).contains("exited with code 3"),
            "{}",
            message(&r)
        );
        assert!(
            message(&r).contains("loading data | CUDA error: out of memory"),
            "{}",
            message(&r)
        );
    }
}

#[test]
fn death_by_a_signal_fails_naming_the_signal() {
    for r in failing_run("echo 'about to crash' >&2\nkill -SEGV $$", "") {
        assert!(
            message(&r).contains("killed by signal 11 (SIGSEGV)"),
            "{}",
            message(&r)
        );
        assert!(message(&r).contains("about to crash"), "{}", message(&r));
    }
}

#[test]
fn no_final_metric_fails_and_keeps_the_epochs() {
    for r in failing_run("echo '{\"epoch\": 1, \"metric\": 0.25}'\nexit 0", "") {
        assert!(
            message(&r).contains("without a final report"),
            "{}",
            message(&r)
        );
        assert_eq!(r.epochs.len(), 1, "the epoch it reported is kept");
        assert_eq!(r.epochs[0].val_metric, 0.25);
    }
}

#[test]
fn a_nan_or_infinite_metric_fails() {
    for r in failing_run("echo '{\"metric\": NaN}'\nexit 0", "") {
        assert!(
            message(&r).contains("non-finite final metric (NaN)"),
            "{}",
            message(&r)
        );
    }
    for r in failing_run("echo '{\"metric\": -Infinity}'\nexit 0", "") {
        assert!(
            message(&r).contains("non-finite final metric (-inf)"),
            "{}",
            message(&r)
        );
    }
}

#[test]
fn an_unparseable_report_fails() {
    for r in failing_run("echo '{\"metric\": 0.9'\nexit 0", "") {
        assert!(
            message(&r).contains("is not a valid report (not valid JSON"),
            "{}",
            message(&r)
        );
        assert!(message(&r).contains("{\"metric\": 0.9"), "{}", message(&r));
    }
    for r in failing_run("echo '{\"metric\": \"high\"}'\nexit 0", "") {
        assert!(
            message(&r).contains("\\\"metric\\\" is \\\"high\\\", not a number")
                || message(&r).contains("\"metric\" is \"high\", not a number"),
            "{}",
            message(&r)
        );
    }
}

/// A trial past `child.timeout_s` is stopped, its whole process group:
/// SIGTERM first; one that ignores SIGTERM gets SIGKILL after the grace.
#[test]
fn a_trial_past_its_timeout_is_killed_with_its_group() {
    for body in [
        // Plain: SIGTERM ends it (and its background child).
        "echo $$ > \"$NAS_OUTPUT_DIR/pgid\"\nsleep 60 &\nsleep 60",
        // Ignores SIGTERM: SIGKILL after the grace.
        "echo $$ > \"$NAS_OUTPUT_DIR/pgid\"\ntrap '' TERM\nsleep 60 &\nsleep 60",
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let failed = failing_run_in(&tmp, body, "timeout_s = 1", "kill_grace_s = 0.5\n");
        for r in &failed {
            assert!(
                message(r).contains("timed out after 1 s (child.timeout_s)"),
                "{}",
                message(r)
            );
            let pgid = std::fs::read_to_string(
                tmp.path().join(format!("run/children/{}/pgid", r.spec.id)),
            )
            .expect("pgid file");
            let pgid: i32 = pgid.trim().parse().expect("pgid");
            assert_eq!(
                super::processes::group_members(pgid),
                Vec::<i32>::new(),
                "nothing of child {} is left",
                r.spec.id
            );
        }
    }
}

#[test]
fn commands_that_cannot_start_are_config_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::write(dir.join("not_executable.sh"), "#!/bin/sh\necho hi\n").expect("write");
    for (argv, extra, key, says) in [
        (
            vec!["no-such-program-xyz"],
            "",
            "child.command.argv",
            "is not on PATH",
        ),
        (
            vec!["./missing.sh"],
            "",
            "child.command.argv",
            "No such file",
        ),
        (
            vec!["./not_executable.sh"],
            "",
            "child.command.argv",
            "not executable",
        ),
        (vec!["sh"], "", "child.command.workdir", "No such file"),
    ] {
        let mut text = config_text(dir, 4, &argv, extra);
        if key.ends_with("workdir") {
            text = text.replace(
                &format!("workdir = \"{}\"", dir.display()),
                "workdir = \"/no/such/dir\"",
            );
        }
        std::fs::write(dir.join("config.toml"), &text).expect("write");
        let out = std::process::Command::new(bin())
            .arg("run")
            .arg(dir.join("config.toml"))
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(says),
            "{argv:?}: {stderr}"
        );
        assert!(!dir.join("run").exists(), "nothing is started: {argv:?}");
    }
}
