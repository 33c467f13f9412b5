//! Measurements on the local Slurm cluster for BENCHMARKS.md (ignored by
//! default; `cargo test --release --test suite slurm::bench -- --ignored
//! --nocapture`): the launch overhead of a child's job step, and slot
//! utilisation with 2 s synthetic children through Slurm steps against the
//! in-process threads launcher on the same children.

use std::time::Duration;

use nas_actor::actors::{run, RunOptions};
use nas_actor::config::LauncherKind;

use super::cluster::{Cluster, Shape};
use super::{nas, slurm_config, text, write_config};

const LIMIT: Duration = Duration::from_secs(600);

/// Run a search of `children` synthetic children of `delay_ms` on `slots`
/// Slurm slots; (wall seconds, slot utilisation, mean child seconds).
fn slurm_search(
    cluster: &Cluster,
    slots: usize,
    children: usize,
    delay_ms: f64,
) -> (f64, f64, f64, usize) {
    let dir = cluster
        .path()
        .join(format!("run-{slots}-{children}-{delay_ms}"));
    let config = slurm_config(&dir, children, slots, delay_ms);
    let path = write_config(
        cluster.path(),
        &format!("bench-{slots}-{children}"),
        &config,
    );
    let o = nas()
        .arg("slurm-script")
        .arg(&path)
        .current_dir(cluster.path())
        .output()
        .expect("script");
    let script = cluster.path().join(format!("bench-{slots}.sbatch"));
    std::fs::write(&script, text(&o).0).expect("write");
    let job = cluster.sbatch(&script, &[]);
    let state = cluster.wait_end(&job, LIMIT);
    let out = std::fs::read_to_string(cluster.path().join(format!("synthetic-{job}.out")))
        .unwrap_or_default();
    assert_eq!(state, "COMPLETED", "{out}");
    summary(&dir)
}

/// (wall seconds, slot utilisation, mean child seconds, children trained) of a finished run.
fn summary(dir: &std::path::Path) -> (f64, f64, f64, usize) {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    let records: Vec<nas_actor::store::ChildRecord> =
        crate::orchestrator::read_jsonl(&dir.join("children.jsonl"));
    let ran: Vec<f64> = records
        .iter()
        .filter(|r| r.status != nas_actor::child::ChildStatus::Cached)
        .map(|r| r.seconds)
        .collect();
    (
        s["wall_seconds"].as_f64().unwrap_or(0.0),
        s["slot_utilisation"].as_f64().unwrap_or(0.0),
        ran.iter().sum::<f64>() / ran.len().max(1) as f64,
        ran.len(),
    )
}

#[test]
#[ignore = "a measurement for BENCHMARKS.md; run with --ignored --nocapture"]
fn launch_overhead_and_slot_utilisation_through_slurm_steps() {
    let slots_list = [2usize, 8, 16, 32];
    let gpus = *slots_list.iter().max().unwrap_or(&2);
    let Some(cluster) = Cluster::start(Shape {
        cpus: 2 * gpus,
        gpus,
    }) else {
        return;
    };
    // A bare step: `srun … true`, 20 in a row inside one allocation.
    let out = cluster.path().join("bare.out");
    let cmd = "t0=$(date +%s%N); for i in $(seq 20); do srun --exact -N1 -n1 --gres=gpu:1 -c1 true; done; \
               t1=$(date +%s%N); echo bare_ms=$(( (t1 - t0) / 20000000 ))";
    let o = cluster.run(
        "sbatch",
        &[
            "--parsable",
            "-N1",
            "-n1",
            "--gres=gpu:1",
            "-o",
            out.to_str().expect("utf-8"),
            "--wrap",
            cmd,
        ],
    );
    let job = text(&o).0.trim().to_string();
    cluster.wait_end(&job, LIMIT);
    let bare = std::fs::read_to_string(&out).unwrap_or_default();
    eprintln!("bare step: {}", bare.trim());
    // A built-in child step: `nas-actor child` of a synthetic child without delay, one slot.
    let (_, _, child_s, _) = slurm_search(&cluster, 1, 20, 0.0);
    eprintln!(
        "nas-actor child step (synthetic, no delay): {:.0} ms per child",
        1000.0 * child_s
    );
    eprintln!("| slots | children | launcher | wall s | ideal s | slot utilisation | useful utilisation |");
    for slots in slots_list {
        let children = 4 * slots;
        let (wall, util, _, ran) = slurm_search(&cluster, slots, children, 2000.0);
        let ideal = 2.0 * ran as f64 / slots as f64;
        eprintln!(
            "| {slots} | {children} | slurm | {wall:.1} | {ideal:.1} | {:.1}% | {:.1}% |",
            100.0 * util,
            100.0 * ideal / wall
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut threads = slurm_config(&tmp.path().join("run"), children, slots, 2000.0);
        threads.launcher.kind = LauncherKind::Threads;
        threads.devices.cpu_workers = slots;
        let s = run(threads, &RunOptions::default()).expect("threads run");
        let ideal = 2.0 * (s.children - s.cached) as f64 / slots as f64;
        eprintln!(
            "| {slots} | {children} | threads | {:.1} | {ideal:.1} | {:.1}% | {:.1}% |",
            s.wall_seconds,
            100.0 * s.slot_utilisation,
            100.0 * ideal / s.wall_seconds
        );
    }
}
