//! Benchmark 6: orchestration overhead of trial commands
//! (`child.backend = "command"`). Each child is `/bin/echo '{"metric": …}'`:
//! a trial that reports its metric and exits at once. The overhead per child
//! is the search's wall time per trained child on one slot minus the cost of
//! starting and reaping the same program directly (spawn, read its stdout,
//! wait) in a plain loop: what nas-actor adds around a trial (architecture
//! file, log file, process group, watchdog messages, protocol parsing, the
//! controller, the durable log).
//!
//! Run: `cargo run --release --example bench_trials -- [--tiny] [--children N]`
//! (default 2,000 children per search; random search and REINFORCE, 1 and 2 slots).

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use bench_common::{arg, machine, table, Size};
use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Config;

/// One measured search.
#[derive(Debug, Clone)]
pub struct TrialRow {
    pub strategy: &'static str,
    pub slots: usize,
    pub children: usize,
    /// Children that started a process (not cache hits).
    pub trained: usize,
    pub wall_s: f64,
    /// Wall time per trained child, times the slots (ms of slot time per child).
    pub slot_ms_per_child: f64,
    /// `slot_ms_per_child` minus the direct spawn cost.
    pub overhead_ms: f64,
}

/// The result: the direct cost of the trial, and the searches.
#[derive(Debug, Clone)]
pub struct TrialBench {
    pub direct_ms: f64,
    pub rows: Vec<TrialRow>,
}

const ECHO: &str = "/bin/echo";
const REPORT: &str = "{\"metric\": 0.5}";

/// ms per run of the trial started directly: spawn, read stdout, wait.
fn direct_ms(n: usize) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    for _ in 0..n {
        let out = Command::new(ECHO)
            .arg(REPORT)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("run /bin/echo")?;
        anyhow::ensure!(out.status.success(), "/bin/echo failed");
    }
    Ok(t0.elapsed().as_secs_f64() * 1e3 / n as f64)
}

fn config_text(dir: &Path, budget: usize, strategy: &str, slots: usize) -> String {
    // 10^5 architectures: few of 2,000 draws repeat (repeats start no process
    // and are not counted).
    let decisions: String = (0..5)
        .map(|i| {
            format!("[[space.custom.decision]]\nname = \"d{i}\"\nchoices = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n\n")
        })
        .collect();
    format!(
        r#"[experiment]
name = "bench-trials"
output_dir = "{run}"
budget = {budget}

[devices]
gpus = "none"
cpu_workers = {slots}

[search]
space = "custom"
strategy = "{strategy}"
replicas = {slots}
children_per_replica = 4

{decisions}
[child]
backend = "command"

[child.command]
argv = ["{ECHO}", '{REPORT}']
"#,
        run = dir.join(format!("run-{strategy}-{slots}")).display(),
    )
}

/// Run the benchmark.
pub fn bench(size: Size, children: usize) -> anyhow::Result<TrialBench> {
    let tmp = tempfile::tempdir()?;
    let direct = direct_ms(size.pick(children, 50))?;
    let mut rows = Vec::new();
    for (strategy, slots) in [
        ("random", 1),
        ("reinforce", 1),
        ("random", 2),
        ("reinforce", 2),
    ] {
        let path = tmp.path().join(format!("{strategy}-{slots}.toml"));
        std::fs::write(&path, config_text(tmp.path(), children, strategy, slots))?;
        let config = Config::load(&path)?;
        let t0 = Instant::now();
        let summary = run(config, &RunOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let wall_s = t0.elapsed().as_secs_f64();
        anyhow::ensure!(summary.failures == 0, "{} trials failed", summary.failures);
        let trained = summary.children - summary.cached;
        let slot_ms = wall_s * 1e3 * slots as f64 / trained.max(1) as f64;
        rows.push(TrialRow {
            strategy,
            slots,
            children: summary.children,
            trained,
            wall_s,
            slot_ms_per_child: slot_ms,
            overhead_ms: slot_ms - direct,
        });
    }
    Ok(TrialBench {
        direct_ms: direct,
        rows,
    })
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    let children = arg("--children").unwrap_or(size.pick(2000, 40));
    let r = bench(size, children)?;
    println!("{}", machine());
    println!(
        "direct spawn + read + wait of the trial: {:.2} ms",
        r.direct_ms
    );
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            vec![
                row.strategy.to_string(),
                row.slots.to_string(),
                row.children.to_string(),
                row.trained.to_string(),
                format!("{:.2}", row.wall_s),
                format!("{:.2}", row.slot_ms_per_child),
                format!("{:.2}", row.overhead_ms),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "strategy",
                "slots",
                "children",
                "trained",
                "wall s",
                "slot ms / child",
                "overhead ms / child"
            ],
            &rows
        )
    );
    Ok(())
}
