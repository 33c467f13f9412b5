//! Nothing of a trial outlives it: after a trial ends, after Ctrl-C and
//! after a SIGKILL of nas-actor itself, no process of any trial's process
//! group remains (checked by group id in /proc), and `--resume` completes
//! with every child id once. The environment each kind of slot gives a
//! trial (GPU slots are made up at the slot level).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nas_actor::actors::{run, Interrupter, RunError, RunOptions};
use nas_actor::child::{ChildSpec, ChildStatus, NoProgress};
use nas_actor::devices::{Slot, SlotDevice};
use nas_actor::runner::command::visible_gpu;
use nas_actor::runner::Runners;
use nas_actor::space::SearchSpace;

use super::{assert_every_id_once, bin, config, config_text, records, script, search};

/// Live (not zombie) processes whose process group is `pgid`.
pub(crate) fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}

/// The process groups of every trial started in `run_dir` (each trial
/// writes its `$$`, which is its group id, to `pgid`).
fn trial_groups(run_dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("children")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("pgid")).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Wait until `cond` holds (at most `limit`).
pub(crate) fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// A trial that records its group, leaves a background process behind
/// and sleeps `seconds` before it reports.
fn slow_trial(dir: &Path, seconds: &str) {
    script(
        dir,
        "trial.sh",
        &format!(
            r#"echo $$ > "$NAS_OUTPUT_DIR/pgid"
sleep 300 >/dev/null 2>&1 &
sleep {seconds}
echo '{{"metric": 0.5}}'"#
        ),
    );
}

/// What a trial's group leaves running once the trial has ended: nothing.
#[test]
fn a_finished_trial_leaves_nothing_running() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    slow_trial(dir, "0");
    search(config(dir, &config_text(dir, 6, &["./trial.sh"], "")));
    let groups = trial_groups(&dir.join("run"));
    assert!(!groups.is_empty());
    for g in groups {
        assert_eq!(group_members(g), Vec::<i32>::new(), "group {g}");
    }
}

#[test]
fn ctrl_c_stops_every_trial_group_and_resume_completes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    slow_trial(dir, "60");
    let cfg = config(
        dir,
        &config_text(dir, 8, &["./trial.sh"], "kill_grace_s = 2\n"),
    );
    let interrupter = Interrupter::new();
    let run_dir = dir.join("run");
    let watcher = {
        let (i, run_dir) = (interrupter.clone(), run_dir.clone());
        std::thread::spawn(move || {
            // Both slots are running a trial: press Ctrl-C.
            let running = wait_for(Duration::from_secs(60), || {
                trial_groups(&run_dir).len() >= 2
            });
            assert!(running, "two trials started");
            assert!(i.interrupt(), "the run is going");
        })
    };
    let options = RunOptions {
        interrupter: Some(interrupter),
        ..RunOptions::default()
    };
    let result = run(cfg.clone(), &options);
    watcher.join().expect("watcher");
    assert!(
        matches!(result, Err(RunError::Interrupted(_))),
        "{result:?}"
    );
    let groups = trial_groups(&run_dir);
    assert!(groups.len() >= 2);
    for g in &groups {
        assert_eq!(
            group_members(*g),
            Vec::<i32>::new(),
            "group {g} after Ctrl-C"
        );
    }
    // Nothing in flight was recorded; resume trains it and the rest.
    slow_trial(dir, "0");
    run(
        cfg,
        &RunOptions {
            resume: true,
            ..RunOptions::default()
        },
    )
    .expect("resume");
    assert_every_id_once(&records(dir), 8);
}

#[test]
fn a_sigkill_of_nas_actor_leaves_no_trial_process() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    slow_trial(dir, "60");
    config(dir, &config_text(dir, 8, &["./trial.sh"], ""));
    let run_dir = dir.join("run");
    let mut nas = std::process::Command::new(bin())
        .arg("run")
        .arg(dir.join("config.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nas-actor");
    let running = wait_for(Duration::from_secs(60), || {
        trial_groups(&run_dir).len() >= 2
    });
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(nas.id() as i32, libc::SIGKILL) };
    let status = nas.wait().expect("wait");
    assert!(running, "two trials started");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    let groups = trial_groups(&run_dir);
    let gone = wait_for(Duration::from_secs(10), || {
        groups.iter().all(|g| group_members(*g).is_empty())
    });
    let left: Vec<(i32, Vec<i32>)> = groups.iter().map(|g| (*g, group_members(*g))).collect();
    assert!(gone, "trial processes outlived nas-actor: {left:?}");
    slow_trial(dir, "0");
    let out = std::process::Command::new(bin())
        .arg("run")
        .arg(dir.join("config.toml"))
        .arg("--resume")
        .output()
        .expect("resume");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_every_id_once(&records(dir), 8);
}

/// What a trial sees of its slot: the GPU as `CUDA_VISIBLE_DEVICES` (so it
/// uses `cuda:0`), or no GPU and a thread count on a CPU slot; the
/// config's own variables on top.
#[test]
fn each_slot_kind_sets_the_trials_devices_and_threads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    script(
        dir,
        "trial.sh",
        r#"env > "$NAS_OUTPUT_DIR/env"
echo '{"metric": 0.5}'"#,
    );
    let cfg = config(
        dir,
        &config_text(
            dir,
            4,
            &["./trial.sh"],
            "[child.command.env]\nDATASET = \"fashion\"\n",
        ),
    );
    let space = Arc::new(SearchSpace::from_config(&cfg).expect("space"));
    let runners = Runners::load(Arc::new(cfg), space.clone()).expect("runners");
    let tokens = vec![0; space.schema(0).num_tokens()];
    let arch = space.decode(&tokens).expect("decode");
    let hash = arch.hash().expect("hash");
    let slots = [
        (SlotDevice::Cuda(1), 3, "cuda:1#0"),
        (SlotDevice::Cpu, 2, "cpu#1"),
    ];
    for (id, (device, threads, label)) in slots.into_iter().enumerate() {
        let spec = ChildSpec::new(
            3,
            id as u64,
            0,
            0,
            tokens.clone(),
            arch.clone(),
            hash.clone(),
        );
        let slot = Slot {
            id,
            device: device.clone(),
            threads,
            label: label.into(),
        };
        let outcome = runners.for_slot().run(&spec, &slot, &mut NoProgress);
        assert_eq!(outcome.status, ChildStatus::Ok, "{:?}", outcome.message);
        let env = std::fs::read_to_string(dir.join(format!("run/children/{id}/env"))).expect("env");
        let var = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
        };
        match device {
            SlotDevice::Cuda(i) => {
                assert_eq!(
                    var("CUDA_VISIBLE_DEVICES"),
                    Some(visible_gpu(
                        i,
                        std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref()
                    ))
                );
                assert_eq!(var("CUDA_DEVICE_ORDER").as_deref(), Some("PCI_BUS_ID"));
            }
            SlotDevice::Cpu => assert_eq!(var("CUDA_VISIBLE_DEVICES").as_deref(), Some("")),
        }
        assert_eq!(var("OMP_NUM_THREADS"), Some(threads.to_string()));
        assert_eq!(var("NAS_SLOT").as_deref(), Some(label));
        assert_eq!(var("NAS_CHILD_ID"), Some(id.to_string()));
        assert_eq!(var("NAS_SEED"), Some(spec.seed.to_string()));
        assert_eq!(var("DATASET").as_deref(), Some("fashion"));
        assert!(var("PYTHONPATH")
            .is_some_and(|p| p.starts_with(&dir.join("run/python").display().to_string())));
    }
    // A process that itself sees only some GPUs hands its trials theirs.
    assert_eq!(visible_gpu(1, Some("4,6")), "6");
    assert_eq!(visible_gpu(0, None), "0");
    assert_eq!(
        visible_gpu(2, Some("0,1")),
        "2",
        "an index past the list is passed on as is"
    );
}
