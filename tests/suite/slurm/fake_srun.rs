//! The Slurm step runner against a stand-in `srun` (a shell script on the
//! PATH, no cluster, no root): a step that could not launch is launched
//! again up to `launcher.slurm.retries` times and counted in the summary;
//! past the retries the child is recorded failed with Slurm's reason.

use std::path::Path;

use nas_actor::child::ChildStatus;
use nas_actor::store::ChildRecord;

use super::{nas, slurm_config, text, write_config};
use crate::orchestrator::read_jsonl;

/// A stand-in for srun that runs the command after `--` (as a step on node
/// `fake` with GPU 0) — except the first launch of each child, which fails
/// as a step that could not be created.
const FAKE_SRUN: &str = r#"#!/bin/sh
name=""
for a in "$@"; do case "$a" in --job-name=*) name="${a#--job-name=}";; esac; done
while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
case "$name" in nas-child-*)
  if [ ! -e "$FAKE_SRUN_STATE/$name" ]; then
    touch "$FAKE_SRUN_STATE/$name"
    echo "srun: error: Unable to create step for job 4242: Job/step already completing or completed" >&2
    exit 1
  fi;;
esac
SLURMD_NODENAME=fake CUDA_VISIBLE_DEVICES=0 exec "$@"
"#;

/// Run a synthetic search of `budget` children with `retries` under the fake srun.
fn search(
    dir: &Path,
    budget: usize,
    retries: usize,
) -> (Vec<ChildRecord>, serde_json::Value, String) {
    let bin = dir.join("bin");
    let state = dir.join("state");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(&state).expect("mkdir");
    let srun = bin.join("srun");
    std::fs::write(&srun, FAKE_SRUN).expect("write srun");
    std::fs::set_permissions(&srun, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut config = slurm_config(&dir.join("run"), budget, 2, 0.0);
    config.launcher.slurm.retries = retries;
    let path = write_config(dir, "fake", &config);
    let path_env = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = nas()
        .arg("run")
        .arg(&path)
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_GPUS_ON_NODE", "2")
        .env("PATH", path_env)
        .env("FAKE_SRUN_STATE", &state)
        .output()
        .expect("run");
    let (out, err) = text(&o);
    let all = format!("{out}\n{err}");
    assert!(o.status.success(), "{all}");
    let out_dir = config.experiment.output_dir;
    let summary = std::fs::read_to_string(out_dir.join("summary.json")).expect("summary");
    (
        read_jsonl(&out_dir.join("children.jsonl")),
        serde_json::from_str(&summary).expect("json"),
        all,
    )
}

#[test]
fn a_step_that_could_not_launch_is_launched_again_and_counted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (records, summary, all) = search(tmp.path(), 4, 2);
    assert_eq!(records.len(), 4, "{all}");
    let ran = records
        .iter()
        .filter(|r| r.status != ChildStatus::Cached)
        .count();
    for r in &records {
        assert_ne!(r.status, ChildStatus::Failed, "{r:?}");
    }
    for r in records.iter().filter(|r| r.status == ChildStatus::Ok) {
        let p = r.placement.as_ref().expect("placement");
        assert_eq!((p.node.as_str(), p.gpus.as_str()), ("fake", "0"));
    }
    assert_eq!(summary["launch_retries"], ran, "{all}");
    assert!(
        all.contains(&format!("{ran} step launch(es) retried")),
        "{all}"
    );
}

#[test]
fn past_its_retries_a_child_that_could_not_launch_is_recorded_failed_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (records, summary, all) = search(tmp.path(), 3, 0);
    assert_eq!(records.len(), 3, "{all}");
    for r in records.iter().filter(|r| r.status != ChildStatus::Cached) {
        assert_eq!(r.status, ChildStatus::Failed, "{r:?}");
        let why = r.message.as_deref().unwrap_or_default();
        assert!(
            why.contains("could not run") && why.contains("Unable to create step"),
            "{why}"
        );
    }
    assert_eq!(summary["launch_retries"], 0);
}
