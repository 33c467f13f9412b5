//! Searches on a real local Slurm cluster ([`super::cluster`]), submitted
//! with the script `nas-actor slurm-script` prints: synthetic children as
//! job steps (each child once, steps at once never above the slots, steps
//! at once on distinct GPUs), `nas-actor devices` and a refused step shape
//! inside an allocation, a tiny real tch search on Penn Treebank, a step
//! cancelled with `scancel`, and the batch job signalled (USR1) and
//! requeued mid-run.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nas_actor::child::ChildStatus;
use nas_actor::config::Config;
use nas_actor::store::ChildRecord;

use super::cluster::{Cluster, Shape};
use super::{nas, slurm_config, text, write_config};
use crate::common::require_ptb;
use crate::orchestrator::read_jsonl;

const JOB_LIMIT: Duration = Duration::from_secs(240);

/// Write the batch script of `config` (as `nas-actor slurm-script` prints it) and submit it.
fn submit(cluster: &Cluster, config: &Path, env: &[(&str, &str)]) -> String {
    let o = nas()
        .arg("slurm-script")
        .arg(config)
        .current_dir(cluster.path())
        .output()
        .expect("slurm-script");
    let (script, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let path = cluster.path().join("search.sbatch");
    std::fs::write(&path, script).expect("write script");
    cluster.sbatch(&path, env)
}

/// The batch job's output (the orchestrator's stdout and stderr).
fn job_output(cluster: &Cluster, config: &Config, job: &str) -> String {
    let name = &config.experiment.name;
    std::fs::read_to_string(cluster.path().join(format!("{name}-{job}.out"))).unwrap_or_default()
}

fn records(config: &Config) -> Vec<ChildRecord> {
    read_jsonl(&config.experiment.output_dir.join("children.jsonl"))
}

/// Ids `0..budget`, each once.
fn assert_every_child_once(records: &[ChildRecord], budget: usize, log: &str) {
    let ids: Vec<u64> = records.iter().map(|r| r.spec.id).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "an id twice: {ids:?}\n{log}");
    assert_eq!(unique, (0..budget as u64).collect(), "{log}");
}

/// A wrapper around nas-actor that logs when each step's child starts and
/// ends, with the GPU Slurm gave it.
fn logging_wrapper(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("steps.log");
    let wrapper = dir.join("nas-step.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"start $CUDA_VISIBLE_DEVICES $(date +%s%N)\" >> {log}\n\
             {bin} \"$@\"\nrc=$?\necho \"end $CUDA_VISIBLE_DEVICES $(date +%s%N)\" >> {log}\nexit $rc\n",
            log = log.display(),
            bin = env!("CARGO_BIN_EXE_nas-actor"),
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    (wrapper, log)
}

#[test]
fn synthetic_children_run_as_steps_on_distinct_gpus_within_the_slots() {
    let Some(cluster) = Cluster::start(Shape { cpus: 4, gpus: 2 }) else {
        return;
    };
    let (budget, slots) = (10, 2);
    let config = slurm_config(&cluster.path().join("run"), budget, slots, 400.0);
    let path = write_config(cluster.path(), "search", &config);
    let (wrapper, log) = logging_wrapper(cluster.path());
    let job = submit(
        &cluster,
        &path,
        &[("NAS_ACTOR_BIN", wrapper.to_str().expect("utf-8"))],
    );
    let state = cluster.wait_end(&job, JOB_LIMIT);
    let out = job_output(&cluster, &config, &job);
    assert_eq!(state, "COMPLETED", "{out}");
    assert!(out.contains(&format!("done: {budget} children")), "{out}");
    let records = records(&config);
    assert_every_child_once(&records, budget, &out);
    for r in records.iter().filter(|r| r.status != ChildStatus::Cached) {
        assert_eq!(r.status, ChildStatus::Ok, "{r:?}\n{out}");
        assert!(r.device.starts_with("slurm-"), "{}", r.device);
        let p = r.placement.as_ref().expect("the step said where it ran");
        assert!(["0", "1"].contains(&p.gpus.as_str()), "{p:?}");
        assert!(!p.node.is_empty());
    }
    // From the steps' own log: never more than `slots` at once, never one GPU twice.
    let text = std::fs::read_to_string(&log).expect("steps log");
    let mut events: Vec<(u128, bool, String)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "a GPU in every step: {l}");
            (
                f[2].parse().expect("time"),
                f[0] == "start",
                f[1].to_string(),
            )
        })
        .collect();
    events.sort_by_key(|e| (e.0, e.1));
    let ran = records
        .iter()
        .filter(|r| r.status != ChildStatus::Cached)
        .count();
    assert_eq!(events.len(), 2 * ran, "{text}");
    let mut busy: HashMap<String, usize> = HashMap::new();
    let (mut now, mut most) = (0usize, 0usize);
    for (_, start, gpu) in &events {
        let on_gpu = busy.entry(gpu.clone()).or_default();
        if *start {
            *on_gpu += 1;
            now += 1;
            assert_eq!(*on_gpu, 1, "GPU {gpu} held by two steps at once:\n{text}");
        } else {
            *on_gpu -= 1;
            now -= 1;
        }
        most = most.max(now);
    }
    assert!(most <= slots, "{most} steps at once on {slots} slots");
}

#[test]
fn cpu_children_run_as_steps_without_gpus() {
    let Some(cluster) = Cluster::start(Shape { cpus: 4, gpus: 2 }) else {
        return;
    };
    let budget = 4;
    let mut config = slurm_config(&cluster.path().join("run"), budget, 2, 0.0);
    config.launcher.slurm.gpus_per_child = 0;
    let path = write_config(cluster.path(), "cpu", &config);
    let job = submit(&cluster, &path, &[]);
    let state = cluster.wait_end(&job, JOB_LIMIT);
    let out = job_output(&cluster, &config, &job);
    assert_eq!(state, "COMPLETED", "{out}");
    let records = records(&config);
    assert_every_child_once(&records, budget, &out);
    for r in records.iter().filter(|r| r.status != ChildStatus::Cached) {
        assert_eq!(r.status, ChildStatus::Ok, "{r:?}");
        let p = r.placement.as_ref().expect("placement");
        assert_eq!(p.gpus, "", "a CPU step sees no GPU: {p:?}");
    }
}

#[test]
fn inside_an_allocation_devices_shows_the_slots_and_a_refused_step_shape_stops_the_run() {
    let Some(cluster) = Cluster::start(Shape { cpus: 4, gpus: 2 }) else {
        return;
    };
    let mut config = slurm_config(&cluster.path().join("run"), 4, 2, 0.0);
    let path = write_config(cluster.path(), "ok", &config);
    let bin = env!("CARGO_BIN_EXE_nas-actor");
    let wrap = |cmd: String, out: &str| {
        let o = cluster.run(
            "sbatch",
            &[
                "--parsable",
                "-N1",
                "-n2",
                "--gres=gpu:2",
                "--mem=1000",
                "-o",
                out,
                "--wrap",
                &cmd,
            ],
        );
        assert!(o.status.success(), "{:?}", text(&o));
        let job = text(&o).0.trim().to_string();
        cluster.wait_end(&job, JOB_LIMIT);
        std::fs::read_to_string(out).unwrap_or_default()
    };
    let devices_out = cluster.path().join("devices.out");
    let shown = wrap(
        format!("{bin} devices {}", path.display()),
        devices_out.to_str().expect("utf-8"),
    );
    assert!(shown.contains("2 slot(s), each a job step"), "{shown}");
    assert!(
        shown.contains("slurm-1") && shown.contains("--gres=gpu:1"),
        "{shown}"
    );
    config.launcher.slurm.mem_per_child = Some("5000M".into());
    let path = write_config(cluster.path(), "refused", &config);
    let run_out = cluster.path().join("refused.out");
    let refused = wrap(
        format!("{bin} run {}; echo exit=$?", path.display()),
        run_out.to_str().expect("utf-8"),
    );
    assert!(refused.contains("refuses a child's step"), "{refused}");
    assert!(refused.contains("exit=2"), "{refused}");
    assert!(
        !config.experiment.output_dir.exists(),
        "no child was sampled"
    );
}

#[test]
fn a_tiny_tch_search_runs_its_children_as_nas_actor_child_steps_on_real_ptb() {
    let Some(ptb) = require_ptb() else { return };
    let Some(cluster) = Cluster::start(Shape { cpus: 4, gpus: 2 }) else {
        return;
    };
    let budget = 3;
    let config = super::child_command::tiny_ptb(&cluster.path().join("run"), &ptb, budget, 1);
    let path = write_config(cluster.path(), "tiny", &config);
    let job = submit(&cluster, &path, &[]);
    let state = cluster.wait_end(&job, JOB_LIMIT);
    let out = job_output(&cluster, &config, &job);
    assert_eq!(state, "COMPLETED", "{out}");
    let records = records(&config);
    assert_every_child_once(&records, budget, &out);
    let trained: Vec<&ChildRecord> = records
        .iter()
        .filter(|r| r.status == ChildStatus::Ok)
        .collect();
    assert!(!trained.is_empty(), "{out}");
    for r in trained {
        assert!(r.metric.is_some_and(|m| m.is_finite() && m > 1.0), "{r:?}");
        assert!(r.params > 0 && r.epochs.len() == 1, "{r:?}");
        assert!(r.placement.is_some(), "{r:?}");
    }
}

/// Wait until `ready` (at most [`JOB_LIMIT`]).
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let t = Instant::now();
    while !ready() {
        assert!(t.elapsed() < JOB_LIMIT, "no {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_step_cancelled_with_scancel_is_recorded_failed_and_the_search_goes_on() {
    let Some(cluster) = Cluster::start(Shape { cpus: 4, gpus: 2 }) else {
        return;
    };
    // Children long enough that the step found running is still running when
    // scancel reaches it, also on a loaded machine.
    let budget = 4;
    let config = slurm_config(&cluster.path().join("run"), budget, 2, 6000.0);
    let path = write_config(cluster.path(), "cancel", &config);
    let job = submit(&cluster, &path, &[]);
    // Cancel a running child step (the first squeue shows that scancel
    // still finds running).
    let cancelled = std::cell::Cell::new(None);
    wait_until("running child step to cancel", || {
        let o = cluster.run("squeue", &["-h", "-s", "-j", &job, "-o", "%i %j"]);
        let listed = text(&o).0;
        let Some((step, name)) = listed.lines().find_map(|l| l.split_once(" nas-child-")) else {
            return false;
        };
        let o = cluster.run("scancel", &[step.trim()]);
        let ok = o.status.success() && o.stderr.is_empty();
        if ok {
            cancelled.set(name.trim().parse::<u64>().ok());
        }
        ok
    });
    let child = cancelled.get().expect("the cancelled child's id");
    let state = cluster.wait_end(&job, JOB_LIMIT);
    let out = job_output(&cluster, &config, &job);
    assert_eq!(state, "COMPLETED", "{out}");
    let records = records(&config);
    assert_every_child_once(&records, budget, &out);
    let cancelled = records
        .iter()
        .find(|r| r.spec.id == child)
        .expect("the cancelled child");
    assert_eq!(cancelled.status, ChildStatus::Failed, "{cancelled:?}");
    let why = cancelled.message.as_deref().unwrap_or_default();
    assert!(why.contains("cancelled"), "{why}");
    assert_eq!(
        records
            .iter()
            .filter(|r| r.status == ChildStatus::Failed)
            .count(),
        1,
        "only the cancelled child failed: {out}"
    );
}

#[test]
fn a_batch_job_signalled_before_its_time_limit_requeues_and_resumes_to_its_budget() {
    let Some(cluster) = Cluster::start(Shape { cpus: 4, gpus: 2 }) else {
        return;
    };
    let budget = 12;
    let config = slurm_config(&cluster.path().join("run"), budget, 2, 700.0);
    let path = write_config(cluster.path(), "requeue", &config);
    let job = submit(&cluster, &path, &[]);
    wait_until("three recorded children", || records(&config).len() >= 3);
    // What Slurm does 120 s before the time limit (--signal=B:USR1@120).
    let o = cluster.run("scancel", &["--batch", "--signal=USR1", &job]);
    assert!(o.status.success(), "{:?}", text(&o));
    let before = cluster.wait_job(&job, JOB_LIMIT, |s| s == "PENDING" || s == "COMPLETED");
    let first = records(&config);
    assert_eq!(
        before,
        "PENDING",
        "requeued: {}",
        job_output(&cluster, &config, &job)
    );
    assert!(first.len() < budget, "stopped mid-run");
    // The requeued job starts again by itself once its credentials expire (5 s here).
    let state = cluster.wait_end(&job, JOB_LIMIT);
    let out = job_output(&cluster, &config, &job);
    assert_eq!(state, "COMPLETED", "{out}\n{}", cluster.logs());
    assert!(out.contains("requeueing Slurm job"), "{out}");
    assert!(out.contains("resume:"), "the requeued job resumed: {out}");
    assert_eq!(cluster.job_field(&job, "Restarts").as_deref(), Some("1"));
    let all = records(&config);
    assert_every_child_once(&all, budget, &out);
    assert_eq!(
        &all[..first.len()],
        &first[..],
        "nothing recorded is lost or changed"
    );
}

/// A user's trial command through Slurm: each child one job step on the
/// GPU Slurm gives it (its `CUDA_VISIBLE_DEVICES` is Slurm's, not set by
/// nas-actor), recorded with where it ran, its log kept.
#[test]
fn a_trial_command_runs_as_job_steps() {
    let Some(cluster) = Cluster::start(Shape { cpus: 4, gpus: 2 }) else {
        return;
    };
    let budget = 6;
    let dir = cluster.path();
    let trial = dir.join("trial.sh");
    std::fs::write(
        &trial,
        "#!/bin/sh\necho \"gpu=[$CUDA_VISIBLE_DEVICES] step=$SLURM_STEP_ID\" > \"$NAS_OUTPUT_DIR/seen\"\n\
         echo \"training child $NAS_CHILD_ID\"\nsleep 0.2\n\
         echo '{\"epoch\": 1, \"metric\": 0.25}'\necho '{\"metric\": 0.5}'\n",
    )
    .expect("trial");
    std::fs::set_permissions(&trial, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut config = slurm_config(&dir.join("run"), budget, 2, 0.0);
    config.child.backend = nas_actor::config::Backend::Command;
    config.child.command.argv = vec![trial.display().to_string()];
    config.child.command.workdir = Some(dir.to_path_buf());
    let path = write_config(dir, "trial", &config);
    let job = submit(&cluster, &path, &[]);
    let state = cluster.wait_end(&job, JOB_LIMIT);
    let out = job_output(&cluster, &config, &job);
    assert_eq!(state, "COMPLETED", "{out}");
    let records = records(&config);
    assert_every_child_once(&records, budget, &out);
    for r in records.iter().filter(|r| r.status != ChildStatus::Cached) {
        assert_eq!(r.status, ChildStatus::Ok, "{r:?}\n{out}");
        assert_eq!((r.metric, r.epochs.len()), (Some(0.5), 1));
        let p = r.placement.as_ref().expect("the step said where it ran");
        assert!(["0", "1"].contains(&p.gpus.as_str()), "{p:?}");
        let child = config
            .experiment
            .output_dir
            .join(format!("children/{}", r.spec.id));
        let seen = std::fs::read_to_string(child.join("seen")).expect("seen");
        assert!(
            seen.starts_with(&format!("gpu=[{}] step=", p.gpus)),
            "{seen} vs {p:?}"
        );
        assert!(
            !seen.trim_end().ends_with("step="),
            "ran inside a step: {seen}"
        );
        let log = std::fs::read_to_string(child.join("trial.log")).expect("trial.log");
        assert!(
            log.contains(&format!("training child {}", r.spec.id)),
            "{log}"
        );
    }
}
