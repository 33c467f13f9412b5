//! Persistent trials (`child.command.persistent = true`): one process per
//! slot serves every child of the slot through `nas_trial.requests()`;
//! children keep their ids, records and logs; a process that dies, times
//! out or breaks the protocol fails its child and is started again for the
//! next; no process outlives the run, Ctrl-C or a SIGKILL of nas-actor;
//! the Slurm launcher refuses the key.
//!
//! The trials are small Python programs (`python3`, no third-party
//! packages) written by the tests.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use nas_actor::actors::{run, Interrupter, RunError, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::Config;
use nas_actor::space::declared::DeclaredArch;
use nas_actor::space::Architecture;
use nas_actor::store::ChildRecord;

use super::processes::{group_members, wait_for};
use super::{assert_every_id_once, bin, config, config_text, records, search, with_status};

/// A persistent trial through the helper's loop: it counts its starts in
/// `RUN_DIR/starts`, writes its pid and the architecture it was sent into
/// the child's directory, logs a line on stdout and one on stderr, runs
/// `hook` (Python, with `req`, `served` and `run_dir` in scope), and
/// reports two epochs and a metric that is a function of the architecture.
fn trial(dir: &Path, hook: &str) {
    let hook: String = hook.lines().map(|l| format!("    {l}\n")).collect();
    let body = format!(
        r#"import json, os, sys, time, zlib
import nas_trial

run_dir = os.environ["NAS_RUN_DIR"]
with open(os.path.join(run_dir, "starts"), "a") as f:
    f.write("%d\n" % os.getpid())
served = 0
for req in nas_trial.requests():
    served += 1
    out = req.output_dir()
    print("child %d seed=%d slot=%s pid=%d served=%d" % (req.child_id, req.seed, req.slot, os.getpid(), served))
    print("a warning on stderr", file=sys.stderr, flush=True)
    with open(os.path.join(out, "pid"), "w") as f:
        f.write(str(os.getpid()))
    with open(os.path.join(out, "sent.json"), "w") as f:
        json.dump(req.architecture, f)
{hook}
    m = (zlib.crc32(json.dumps(req.architecture, sort_keys=True).encode()) % 90 + 10) / 100
    with open(os.path.join(out, "metric"), "w") as f:
        f.write(repr(m))
    req.report(1, m / 2)
    nas_trial.report(2, m, train_loss=1.5)
    req.final(m)
"#
    );
    std::fs::write(dir.join("trial.py"), body).expect("write trial.py");
}

/// A config of `budget` children on `slots` CPU slots, a persistent
/// `python3 trial.py`, `child` TOML added to `[child]`; a 256-architecture
/// space, so that few children are cache hits.
fn persistent_config(dir: &Path, budget: usize, slots: usize, child: &str) -> Config {
    let text = config_text(dir, budget, &["python3", "trial.py"], "persistent = true\nkill_grace_s = 2\n")
        .replace("cpu_workers = 2", &format!("cpu_workers = {slots}"))
        .replace("backend = \"command\"\n", &format!("backend = \"command\"\n{child}\n"))
        .replace(
            "[[space.custom.decision]]\nname = \"optimizer\"",
            "[[space.custom.decision]]\nname = \"seed\"\nchoices = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]\n\n[[space.custom.decision]]\nname = \"optimizer\"",
        );
    config(dir, &text)
}

/// The pid that served child `id` (the trial wrote it).
fn pid_of(dir: &Path, id: u64) -> Option<i32> {
    std::fs::read_to_string(dir.join(format!("run/children/{id}/pid")))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The pids of every process the trial started, in order.
fn starts(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("run/starts"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().expect("pid"))
        .collect()
}

/// Children that were trained (not cache hits), by id.
fn trained(recs: &[ChildRecord]) -> Vec<&ChildRecord> {
    recs.iter()
        .filter(|r| r.status != ChildStatus::Cached)
        .collect()
}

/// A successful child's record is what the trial computed from the
/// architecture it was sent, and its log is an ordinary trial's.
fn assert_served(dir: &Path, r: &ChildRecord) {
    assert_eq!(
        r.status,
        ChildStatus::Ok,
        "child {}: {:?}",
        r.spec.id,
        r.message
    );
    let child_dir = dir.join("run/children").join(r.spec.id.to_string());
    let sent: DeclaredArch = serde_json::from_str(
        &std::fs::read_to_string(child_dir.join("sent.json")).expect("sent.json"),
    )
    .expect("the request's architecture is the declared form");
    let Architecture::Custom { decisions } = &r.spec.arch else {
        panic!("declared space")
    };
    assert_eq!(&sent, decisions, "child {}", r.spec.id);
    let file: DeclaredArch = serde_json::from_str(
        &std::fs::read_to_string(child_dir.join("arch.json")).expect("arch.json"),
    )
    .expect("arch.json");
    assert_eq!(
        &file, decisions,
        "the architecture file is written as for any trial"
    );
    let m: f64 = std::fs::read_to_string(child_dir.join("metric"))
        .expect("metric")
        .trim()
        .parse()
        .expect("number");
    assert_eq!(r.metric, Some(m), "child {}", r.spec.id);
    assert_eq!(r.reward, m);
    let epochs: Vec<(usize, f64)> = r.epochs.iter().map(|e| (e.epoch, e.val_metric)).collect();
    assert_eq!(epochs, [(1, m / 2.0), (2, m)], "child {}", r.spec.id);
    assert_eq!(r.epochs[1].train_loss, Some(1.5));
    let log = std::fs::read_to_string(child_dir.join("trial.log")).expect("trial.log");
    assert!(
        log.contains(&format!(
            "child {} seed={} slot={} pid=",
            r.spec.id, r.spec.seed, r.device
        )),
        "{log}"
    );
    assert!(log.contains("a warning on stderr"), "{log}");
    assert!(
        !log.contains("\"metric\""),
        "reports are not log lines: {log}"
    );
}

#[test]
fn one_process_serves_every_child_of_its_slot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    trial(dir, "");
    let summary = search(persistent_config(dir, 10, 1, ""));
    assert_eq!(summary.children, 10);
    assert_eq!(summary.failures, 0);
    let recs = records(dir);
    assert_every_id_once(&recs, 10);
    let trained = trained(&recs);
    assert!(trained.len() >= 5, "few cache hits: {}", trained.len());
    for r in &trained {
        assert_served(dir, r);
    }
    // One process, started once, served every trained child.
    let started = starts(dir);
    assert_eq!(started.len(), 1, "one start: {started:?}");
    for r in &trained {
        assert_eq!(
            pid_of(dir, r.spec.id),
            Some(started[0]),
            "child {}",
            r.spec.id
        );
    }
    // The last child's log says it was the process's last request.
    let last = trained.last().expect("a trained child");
    let log = std::fs::read_to_string(dir.join(format!("run/children/{}/trial.log", last.spec.id)))
        .expect("log");
    assert!(
        log.contains(&format!("served={}", trained.len())),
        "the process counted every child: {log}"
    );
    // The helper is on the process's PYTHONPATH; the process is gone.
    assert!(dir.join("run/python/nas_trial.py").exists());
    assert_eq!(group_members(started[0]), Vec::<i32>::new());
}

#[test]
fn two_slots_keep_one_process_each_and_stop_them_at_the_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    trial(dir, "");
    search(persistent_config(dir, 12, 2, ""));
    let recs = records(dir);
    assert_every_id_once(&recs, 12);
    let trained = trained(&recs);
    for r in &trained {
        assert_served(dir, r);
    }
    let started = starts(dir);
    assert!(
        (1..=2).contains(&started.len()),
        "at most a process per slot: {started:?}"
    );
    let served: BTreeSet<i32> = trained
        .iter()
        .filter_map(|r| pid_of(dir, r.spec.id))
        .collect();
    assert_eq!(
        served,
        started.iter().copied().collect(),
        "only the started processes served"
    );
    for pid in started {
        assert_eq!(
            group_members(pid),
            Vec::<i32>::new(),
            "process {pid} was stopped"
        );
    }
}

/// Run a one-slot search whose process fails on its second request by
/// `hook` (once in the run); return the failed record, checking that
/// exactly that child failed, every other trained child succeeded, and
/// (when `restarted`) the children after it were served by a second process.
fn broken_once(hook: &str, child: &str, restarted: bool) -> (tempfile::TempDir, ChildRecord) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let hook = format!(
        "if served == 2 and not os.path.exists(os.path.join(run_dir, \"broken\")):\n    open(os.path.join(run_dir, \"broken\"), \"w\").close()\n{}",
        hook.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    trial(dir, &hook);
    let summary = search(persistent_config(dir, 8, 1, child));
    assert_eq!(summary.children, 8, "the budget is completed");
    let recs = records(dir);
    assert_every_id_once(&recs, 8);
    let trained = trained(&recs);
    assert!(trained.len() >= 4, "few cache hits");
    let failed = with_status(&recs, ChildStatus::Failed);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let bad = failed[0].clone();
    assert_eq!(
        bad.spec.id, trained[1].spec.id,
        "the second child served failed"
    );
    assert_eq!(bad.reward, 0.0, "the failure reward");
    let started = starts(dir);
    assert_eq!(
        started.len(),
        1 + restarted as usize,
        "started again when broken: {started:?}"
    );
    for r in &trained {
        if r.spec.id == bad.spec.id {
            continue;
        }
        assert_served(dir, r);
        let expect = if r.spec.id < bad.spec.id {
            started[0]
        } else {
            started[started.len() - 1]
        };
        assert_eq!(pid_of(dir, r.spec.id), Some(expect), "child {}", r.spec.id);
    }
    assert_eq!(pid_of(dir, bad.spec.id), Some(started[0]));
    for pid in started {
        assert_eq!(group_members(pid), Vec::<i32>::new(), "process {pid}");
    }
    let log = std::fs::read_to_string(dir.join(format!("run/children/{}/trial.log", bad.spec.id)))
        .expect("the failed child's log");
    assert!(log.contains("a warning on stderr"), "{log}");
    (tmp, bad)
}

#[test]
fn a_process_that_dies_mid_child_fails_it_and_is_started_again() {
    let (_tmp, bad) = broken_once(
        "req.report(1, 0.25)\nprint(\"dying\", file=sys.stderr, flush=True)\nos._exit(3)",
        "",
        true,
    );
    let why = bad.message.as_deref().unwrap_or("");
    assert!(why.contains("exited with code 3"), "{why}");
    assert!(
        why.contains(&format!("while serving child {}", bad.spec.id)),
        "{why}"
    );
    assert!(why.contains("started again"), "{why}");
    assert!(why.contains("dying"), "the stderr tail: {why}");
    assert_eq!(bad.epochs.len(), 1, "the epoch it reported is kept");
}

#[test]
fn a_request_past_its_timeout_fails_and_the_process_is_started_again() {
    let (_tmp, bad) = broken_once("time.sleep(300)", "timeout_s = 2", true);
    let why = bad.message.as_deref().unwrap_or("");
    assert!(why.contains("timed out after 2 s"), "{why}");
}

#[test]
fn a_report_without_its_childs_tag_is_a_protocol_error() {
    for (hook, says) in [
        (r#"print('{"metric": 0.5}', flush=True)"#, "without \"child\""),
        (
            "print(json.dumps({\"child\": req.child_id + 1000, \"metric\": 0.5}), flush=True)",
            "a report for child",
        ),
        (
            "print(json.dumps({\"child\": req.child_id, \"epoch\": 0, \"metric\": 0.5}), flush=True)",
            "not a valid report",
        ),
    ] {
        // The process would go on waiting: the protocol error ends it.
        let (_tmp, bad) = broken_once(&format!("{hook}\ntime.sleep(300)"), "", true);
        let why = bad.message.as_deref().unwrap_or("");
        assert!(why.contains(says) && why.contains("was killed"), "{hook}: {why}");
    }
}

/// The request loop's children that end without a final report fail (the
/// helper reports NaN for them); the run does not wait for a timeout.
#[test]
fn a_request_left_without_a_final_report_fails_at_once() {
    let (_tmp, bad) = broken_once("continue", "", false);
    let why = bad.message.as_deref().unwrap_or("");
    assert!(why.contains("non-finite final metric"), "{why}");
    assert!(
        why.contains("without a final report"),
        "the helper says why: {why}"
    );
}

/// A persistent trial that leaves a background process in its group and
/// waits long in each child.
fn slow_trial(dir: &Path) {
    trial(
        dir,
        "if served == 1:\n    import subprocess\n    subprocess.Popen([\"sleep\", \"300\"])\ntime.sleep(60)",
    );
}

/// The process groups of the persistent processes (a process's pid is its group).
fn groups(dir: &Path) -> Vec<i32> {
    starts(dir)
}

#[test]
fn ctrl_c_stops_every_persistent_process() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    slow_trial(dir);
    let cfg = persistent_config(dir, 8, 2, "");
    let interrupter = Interrupter::new();
    let watcher = {
        let (i, dir) = (interrupter.clone(), dir.to_path_buf());
        std::thread::spawn(move || {
            let running = wait_for(Duration::from_secs(60), || groups(&dir).len() >= 2);
            assert!(running, "two processes started");
            assert!(i.interrupt(), "the run is going");
        })
    };
    let result = run(
        cfg,
        &RunOptions {
            interrupter: Some(interrupter),
            ..RunOptions::default()
        },
    );
    watcher.join().expect("watcher");
    assert!(
        matches!(result, Err(RunError::Interrupted(_))),
        "{result:?}"
    );
    let groups = groups(dir);
    assert_eq!(groups.len(), 2);
    for g in groups {
        assert_eq!(
            group_members(g),
            Vec::<i32>::new(),
            "group {g} after Ctrl-C"
        );
    }
}

#[test]
fn a_sigkill_of_nas_actor_leaves_no_persistent_process() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    slow_trial(dir);
    persistent_config(dir, 8, 2, "");
    let mut nas = std::process::Command::new(bin())
        .arg("run")
        .arg(dir.join("config.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nas-actor");
    // Both processes are serving a child (and have started their sleep).
    let running = wait_for(Duration::from_secs(60), || {
        let g = groups(dir);
        g.len() >= 2 && g.iter().all(|p| group_members(*p).len() >= 2)
    });
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(nas.id() as i32, libc::SIGKILL) };
    let status = nas.wait().expect("wait");
    assert!(running, "two persistent processes started");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    let groups = groups(dir);
    let gone = wait_for(Duration::from_secs(10), || {
        groups.iter().all(|g| group_members(*g).is_empty())
    });
    let left: Vec<(i32, Vec<i32>)> = groups.iter().map(|g| (*g, group_members(*g))).collect();
    assert!(gone, "persistent processes outlived nas-actor: {left:?}");
}

#[test]
fn persistent_trials_are_refused_where_they_cannot_work() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    trial(dir, "");
    let text = std::fs::read_to_string({
        persistent_config(dir, 4, 1, "");
        dir.join("config.toml")
    })
    .expect("config");
    // With the Slurm launcher: a config error (exit code 2) naming the key and the fix.
    let slurm = format!("{text}\n[launcher]\nkind = \"slurm\"\n");
    std::fs::write(dir.join("config.toml"), &slurm).expect("write");
    let out = std::process::Command::new(bin())
        .arg("run")
        .arg(dir.join("config.toml"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("child.command.persistent")
            && stderr.contains("launcher.kind = \"slurm\"")
            && stderr.contains("persistent = false"),
        "{stderr}"
    );
    assert!(!dir.join("run").exists(), "nothing is started");
    // Without trial commands the key means nothing: also refused.
    let synthetic = text.replace("backend = \"command\"", "backend = \"synthetic\"");
    let e = Config::from_toml(&synthetic, Path::new("c.toml")).expect_err("refused");
    assert!(e.to_string().contains("child.command.persistent"), "{e}");
    // The same config with the threads launcher is valid.
    Config::from_toml(&text, Path::new("c.toml")).expect("valid");
}

/// The helper's loop on its own: one `Request` per stdin line, its
/// reports (and the module's, inside the loop) tagged with its child's
/// id, a request left without a final report answered with NaN, the end
/// of stdin the end of the loop.
#[test]
fn the_helpers_request_loop_tags_every_report() {
    use nas_actor::runner::protocol::{parse_tagged, Line};
    use std::io::Write as _;
    let script = r#"
import nas_trial as trial
for req in trial.requests():
    print("serving", req.child_id, req.seed, req.epochs(9), trial.child_id(), trial.architecture()["k"])
    req.progress(1, 2, 4, loss=0.5)
    req.report(1, 0.25)
    trial.report(2, 0.5)
    if req.child_id == 4:
        trial.final(0.75, params=10)
print("loop ended")
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", crate::common::root().join("python"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"{\"child\": 4, \"architecture\": {\"k\": 3}, \"seed\": 7, \"epochs\": 2}\n\n{\"child\": 5, \"architecture\": {\"k\": 5}, \"seed\": 8}\n",
        )
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{stdout}");
    assert_eq!(lines[0], "serving 4 7 2 4 3");
    assert_eq!(lines[5], "serving 5 8 9 5 5");
    assert_eq!(lines[10], "loop ended");
    for (i, id) in [
        (1, 4),
        (2, 4),
        (3, 4),
        (4, 4),
        (6, 5),
        (7, 5),
        (8, 5),
        (9, 5),
    ] {
        let (tag, line) = parse_tagged(lines[i]);
        assert_eq!(tag, Some(id), "{}", lines[i]);
        assert!(
            !matches!(line, Line::Log | Line::Invalid(_)),
            "{}",
            lines[i]
        );
    }
    assert!(
        matches!(parse_tagged(lines[4]), (Some(4), Line::Final(f)) if f.metric == 0.75 && f.params == Some(10))
    );
    // Child 5 got no final report: the loop answers NaN for it and says why.
    assert!(
        matches!(parse_tagged(lines[9]), (Some(5), Line::Final(f)) if f.metric.is_nan()),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("child 5 ended without a final report"));
}
