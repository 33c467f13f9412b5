//! The Slurm launcher without a cluster: slots from the allocation's
//! environment, the step command, the protocol, failure classification,
//! `[launcher.slurm]` checks, the batch script, and the refusals before
//! anything starts (no allocation, no srun).

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use nas_actor::child::{ChildStatus, Placement};
use nas_actor::config::{Config, SlurmConfig};
use nas_actor::runner::protocol::{self, Line};
use nas_actor::runner::slurm::step::{classify, StepEnd, StepRun};
use nas_actor::runner::slurm::{Allocation, SlurmError, SlurmLauncher};

use super::{nas, slurm_config, text, write_config};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn no_job_id_is_no_allocation() {
    assert_eq!(Allocation::from_env(env(&[("SLURM_NTASKS", "4")])), None);
}

#[test]
fn gpu_children_get_one_slot_per_gpus_per_child() {
    let a = Allocation::from_env(env(&[
        ("SLURM_JOB_ID", "42"),
        ("SLURM_JOB_NUM_NODES", "2"),
        ("SLURM_GPUS_ON_NODE", "4"),
        ("SLURM_JOB_CPUS_PER_NODE", "16(x2)"),
    ]))
    .expect("an allocation");
    assert_eq!((a.gpus, a.cpus, a.nodes), (Some(8), Some(32), 2));
    let mut s = SlurmConfig::default();
    assert_eq!(a.plan(&s).expect("plan").max_parallel, 8);
    s.gpus_per_child = 2;
    assert_eq!(a.plan(&s).expect("plan").max_parallel, 4);
    s.max_parallel = Some(3);
    assert_eq!(a.plan(&s).expect("plan").max_parallel, 3, "the config wins");
}

#[test]
fn cpu_children_get_the_tasks_or_the_cpus() {
    let tasks = Allocation::from_env(env(&[
        ("SLURM_JOB_ID", "1"),
        ("SLURM_NTASKS", "6"),
        ("SLURM_CPUS_PER_TASK", "2"),
        ("SLURM_CPUS_ON_NODE", "12"),
    ]))
    .expect("allocation");
    let cpu = SlurmConfig {
        gpus_per_child: 0,
        ..SlurmConfig::default()
    };
    let p = tasks.plan(&cpu).expect("plan");
    assert_eq!((p.max_parallel, p.cpus_per_child), (6, 2));
    let cpus = Allocation::from_env(env(&[
        ("SLURM_JOB_ID", "1"),
        ("SLURM_JOB_CPUS_PER_NODE", "8,4"),
    ]))
    .expect("allocation");
    let p = cpus
        .plan(&SlurmConfig {
            cpus_per_child: Some(3),
            ..cpu
        })
        .expect("plan");
    assert_eq!((p.max_parallel, p.cpus_per_child), (4, 3));
}

#[test]
fn gpu_children_in_an_allocation_without_gpus_are_refused() {
    let a = Allocation::from_env(env(&[("SLURM_JOB_ID", "9"), ("SLURM_CPUS_ON_NODE", "8")]))
        .expect("allocation");
    let e = a.plan(&SlurmConfig::default()).expect_err("no GPUs");
    assert!(matches!(e, SlurmError::NoGpus { present: 0, .. }), "{e}");
    assert!(e.to_string().contains("gpus_per_child"), "{e}");
}

fn launcher(config: &Config) -> SlurmLauncher {
    let a = Allocation::from_env(env(&[("SLURM_JOB_ID", "5"), ("SLURM_GPUS_ON_NODE", "2")]))
        .expect("allocation");
    SlurmLauncher::new(
        config,
        a,
        PathBuf::from("/usr/bin/srun"),
        PathBuf::from("/opt/nas-actor"),
    )
    .expect("launcher")
}

#[test]
fn a_step_is_srun_exact_with_the_childs_shape_and_reports_where_it_runs() {
    let mut c = slurm_config(Path::new("/tmp/x"), 4, 2, 0.0);
    c.launcher.slurm.mem_per_child = Some("4G".into());
    c.launcher.slurm.srun_args = vec!["--time=10".into()];
    let l = launcher(&c);
    assert_eq!(l.slots().len(), 2);
    assert_eq!(l.slots()[1].label, "slurm-1");
    let argv = l.wrap(&l.slots()[1], vec!["train.py".into(), "--fast".into()]);
    let at = argv.iter().position(|a| a == "--").expect("--");
    let opts = &argv[..at];
    for want in [
        "/usr/bin/srun",
        "--exact",
        "-N1",
        "-n1",
        "--gres=gpu:1",
        "--cpus-per-task=1",
        "--kill-on-bad-exit=1",
        "--mem=4G",
        "--time=10",
        "--job-name=nas-slurm-1",
    ] {
        assert!(
            opts.contains(&want.to_string()),
            "{want} missing in {opts:?}"
        );
    }
    assert_eq!(&argv[argv.len() - 2..], ["train.py", "--fast"]);
    assert!(argv[at + 1..]
        .iter()
        .any(|a| a.contains("SLURMD_NODENAME") && a.contains("CUDA_VISIBLE_DEVICES")));
    c.launcher.slurm.gpus_per_child = 0;
    let cpu = launcher(&c);
    let argv = cpu.wrap(&cpu.slots()[0], vec!["x".into()]);
    assert!(argv.contains(&"--gres=none".to_string()), "{argv:?}");
    assert!(
        argv.iter()
            .any(|a| a.starts_with("CUDA_VISIBLE_DEVICES=; export")),
        "a CPU step hides the allocation's GPUs: {argv:?}"
    );
}

#[test]
fn the_threads_launcher_leaves_argv_alone_and_slurm_sets_the_gpus() {
    let c = slurm_config(Path::new("/tmp/x"), 4, 2, 0.0);
    let slurm = nas_actor::runner::Launcher::Slurm(std::sync::Arc::new(launcher(&c)));
    assert!(!slurm.runner_sets_cuda_visible_devices());
    let threads = nas_actor::runner::Launcher::Threads {
        slots: vec![nas_actor::runner::single_slot(tch::Device::Cpu, 1)],
        notice: None,
    };
    assert!(threads.runner_sets_cuda_visible_devices());
    let argv = vec!["a".to_string(), "b".to_string()];
    assert_eq!(threads.wrap(&threads.slots()[0], argv.clone()), argv);
}

#[test]
fn protocol_lines_parse_including_python_non_finite_numbers() {
    assert_eq!(
        protocol::parse(r#"{"node": "n1", "gpus": "3"}"#),
        Line::Placement(Placement {
            node: "n1".into(),
            gpus: "3".into()
        })
    );
    match protocol::parse(r#"{"epoch": 2, "metric": 91.5, "train_loss": 4.5}"#) {
        Line::Epoch(m) => assert_eq!((m.epoch, m.val_metric, m.train_loss), (2, 91.5, Some(4.5))),
        other => panic!("{other:?}"),
    }
    match protocol::parse(r#"{"epoch": 1, "batch": 3, "batches": 10, "loss": 2.0}"#) {
        Line::Batch { batch, batches, .. } => assert_eq!((batch, batches), (3, 10)),
        other => panic!("{other:?}"),
    }
    match protocol::parse(r#"{"metric": NaN, "reward": 0, "message": "NaN in \"x\""}"#) {
        Line::Final(f) => {
            assert!(f.metric.is_nan());
            assert_eq!(f.message.as_deref(), Some("NaN in \"x\""));
        }
        other => panic!("{other:?}"),
    }
    match protocol::parse(r#"{"metric": -Infinity}"#) {
        Line::Final(f) => assert_eq!(f.metric, f64::NEG_INFINITY),
        other => panic!("{other:?}"),
    }
    for log in ["epoch 1 done", "{not json", r#"{"device": "cpu"}"#, ""] {
        assert_eq!(protocol::parse(log), Line::Log, "{log}");
    }
    let line = protocol::line(&[("metric", f64::NAN.into()), ("status", "diverged".into())]);
    assert_eq!(line, r#"{"metric": NaN, "status": "diverged"}"#);
}

fn step(code: i32, stderr: &[&str], placed: bool, last: bool) -> StepRun {
    StepRun {
        placement: placed.then(|| Placement {
            node: "n".into(),
            gpus: "0".into(),
        }),
        last: last.then_some(protocol::Final {
            metric: 1.0,
            reward: Some(1.0),
            params: None,
            status: Some(ChildStatus::Ok),
            message: None,
        }),
        status: Some(ExitStatus::from_raw(code << 8)),
        stderr: stderr.iter().map(|s| s.to_string()).collect(),
        ..StepRun::default()
    }
}

#[test]
fn launch_failures_are_told_from_child_failures() {
    assert_eq!(classify(&step(0, &[], true, true)), StepEnd::Finished);
    let refused = step(
        1,
        &["srun: error: Unable to create step for job 3: Invalid generic resource"],
        false,
        false,
    );
    assert!(
        matches!(classify(&refused), StepEnd::Launch(m) if m.contains("Unable to create step"))
    );
    let node = step(
        1,
        &["srun: error: *** STEP 3.1 ON n CANCELLED AT 2026 DUE TO NODE FAILURE ***"],
        true,
        false,
    );
    assert!(matches!(classify(&node), StepEnd::Launch(m) if m.contains("node failure")));
    let cases = [
        (
            step(
                137,
                &["slurmstepd-n: error: *** STEP 3.0 ON n CANCELLED AT 2026-12-01T22:57:44 ***"],
                true,
                false,
            ),
            "cancelled",
        ),
        (
            // scancel on a loaded node: srun killed before slurmstepd's line reached it.
            step(
                137,
                &["srun: launch/slurm: _step_signal: Terminating StepId=1.1"],
                true,
                false,
            ),
            "cancelled",
        ),
        (
            step(
                0,
                &["slurmstepd: error: *** STEP 3.0 ON n CANCELLED AT 2026 DUE TO TIME LIMIT ***"],
                true,
                false,
            ),
            "time limit",
        ),
        (
            step(
                137,
                &["slurmstepd: error: Detected 1 oom-kill event(s) in StepId=3.0"],
                true,
                false,
            ),
            "out of memory",
        ),
        (
            step(3, &["Traceback: boom"], true, false),
            "code 3: Traceback: boom",
        ),
        (step(137, &[], true, false), "signal 9"),
        (step(0, &[], true, false), "without a final result line"),
    ];
    for (run, want) in cases {
        match classify(&run) {
            StepEnd::ChildFailed(m) => assert!(m.contains(want), "{m} should say {want}"),
            other => panic!("{other:?} for {want}"),
        }
    }
}

#[test]
fn bad_slurm_keys_are_named() {
    for (key, value) in [
        ("max_parallel", "0"),
        ("cpus_per_child", "0"),
        ("mem_per_child", "\"lots\""),
        ("partition", "\" \""),
        ("gpus", "2"),
    ] {
        let text = format!(
            "[experiment]\nname = \"x\"\noutput_dir = \"/tmp/x\"\nbudget = 1\n[search]\nspace = \"cell\"\n\
             [child]\nbackend = \"synthetic\"\n[launcher]\nkind = \"slurm\"\n[launcher.slurm]\n{key} = {value}\n"
        );
        let e = Config::from_toml(&text, Path::new("s.toml")).expect_err(key);
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
}

#[test]
fn the_batch_script_asks_for_the_slots_and_requeues_on_usr1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut c = slurm_config(&tmp.path().join("run"), 4, 3, 0.0);
    c.launcher.slurm.partition = Some("gpu".into());
    c.launcher.slurm.time = Some("12:00:00".into());
    c.launcher.slurm.mem_per_child = Some("8G".into());
    let path = write_config(tmp.path(), "s", &c);
    let o = nas().arg("slurm-script").arg(&path).output().expect("run");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for want in [
        "#!/bin/bash",
        "#SBATCH --ntasks=3",
        "#SBATCH --gres=gpu:3",
        "#SBATCH --mem=24G",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=12:00:00",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --requeue",
        "--auto-resume",
    ] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
    let mut threads = c.clone();
    threads.launcher.kind = nas_actor::config::LauncherKind::Threads;
    let path = write_config(tmp.path(), "t", &threads);
    let o = nas().arg("slurm-script").arg(&path).output().expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("launcher.kind"));
}

#[test]
fn a_slurm_run_outside_an_allocation_or_without_srun_stops_before_anything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("run");
    let path = write_config(tmp.path(), "s", &slurm_config(&out, 4, 2, 0.0));
    let o = nas()
        .arg("run")
        .arg(&path)
        .env_remove("SLURM_JOB_ID")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(
        text(&o).1.contains("SLURM_JOB_ID is not set"),
        "{:?}",
        text(&o)
    );
    let o = nas()
        .arg("run")
        .arg(&path)
        .env("SLURM_JOB_ID", "77")
        .env("SLURM_GPUS_ON_NODE", "2")
        .env("PATH", tmp.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(
        text(&o).1.contains("srun, which is not on the PATH"),
        "{:?}",
        text(&o)
    );
    assert!(!out.exists(), "nothing is created before the checks pass");
}
