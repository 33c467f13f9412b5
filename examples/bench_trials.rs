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
//!
//! With `--persistent [--python PATH] [--children N]` it measures instead
//! what a persistent trial (`child.command.persistent = true`) saves per
//! child: Python trials that train nothing, one importing nothing and one
//! importing torch, each run once per child and as one persistent process,
//! on one slot (default `.venv/bin/python`, 30 children per search).

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::{Path, PathBuf};
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

/// One search of the start-up comparison.
#[derive(Debug, Clone)]
pub struct StartupRow {
    /// What the trial imports: "nothing" or "torch".
    pub imports: &'static str,
    pub persistent: bool,
    pub children: usize,
    pub trained: usize,
    pub wall_s: f64,
    /// Wall time per trained child on the one slot.
    pub ms_per_child: f64,
}

/// A Python trial that imports `imports` (if anything), then reports a
/// metric: once (a trial per child), or for every request (persistent).
fn python_trial(imports: &str, persistent: bool) -> String {
    let import = match imports {
        "nothing" => String::new(),
        m => format!("import {m}\n"),
    };
    if persistent {
        format!("{import}import nas_trial\nfor req in nas_trial.requests():\n    req.final(0.5)\n")
    } else {
        format!("{import}import nas_trial\nnas_trial.final(0.5)\n")
    }
}

/// Searches of `children` children on one slot with a Python trial that
/// trains nothing, per child and persistent, importing nothing and (unless
/// `torch` is false) torch.
pub fn persistent_bench(
    python: &Path,
    children: usize,
    torch: bool,
) -> anyhow::Result<Vec<StartupRow>> {
    let tmp = tempfile::tempdir()?;
    let imports: &[&'static str] = if torch {
        &["nothing", "torch"]
    } else {
        &["nothing"]
    };
    let mut rows = Vec::new();
    for &imports in imports {
        for persistent in [false, true] {
            let name = format!(
                "{imports}-{}",
                if persistent {
                    "persistent"
                } else {
                    "per-child"
                }
            );
            let script = tmp.path().join(format!("{name}.py"));
            std::fs::write(&script, python_trial(imports, persistent))?;
            let text = config_text(tmp.path(), children, "random", 1)
                .replace("run-random-1", &format!("run-{name}"))
                .replace(
                    &format!("argv = [\"{ECHO}\", '{REPORT}']"),
                    &format!(
                        "argv = [{:?}, {:?}]\npersistent = {persistent}",
                        python.display().to_string(),
                        script.display().to_string()
                    ),
                );
            let path = tmp.path().join(format!("{name}.toml"));
            std::fs::write(&path, text)?;
            let config = Config::load(&path)?;
            let t0 = Instant::now();
            let summary =
                run(config, &RunOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let wall_s = t0.elapsed().as_secs_f64();
            anyhow::ensure!(
                summary.failures == 0,
                "{name}: {} trials failed",
                summary.failures
            );
            let trained = summary.children - summary.cached;
            rows.push(StartupRow {
                imports,
                persistent,
                children: summary.children,
                trained,
                wall_s,
                ms_per_child: wall_s * 1e3 / trained.max(1) as f64,
            });
        }
    }
    Ok(rows)
}

/// `--persistent`: the start-up comparison, printed.
fn main_persistent(size: Size) -> anyhow::Result<()> {
    let python = arg::<PathBuf>("--python").unwrap_or_else(|| PathBuf::from(".venv/bin/python"));
    let python = std::path::absolute(&python)?;
    let children = arg("--children").unwrap_or(size.pick(30, 6));
    let rows = persistent_bench(&python, children, true)?;
    println!("{}", machine());
    println!("python: {}", python.display());
    let per_child = |imports: &str| {
        rows.iter()
            .find(|r| r.imports == imports && !r.persistent)
            .map_or(f64::NAN, |r| r.ms_per_child)
    };
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.imports.to_string(),
                if r.persistent {
                    "persistent"
                } else {
                    "per child"
                }
                .to_string(),
                r.children.to_string(),
                r.trained.to_string(),
                format!("{:.2}", r.wall_s),
                format!("{:.1}", r.ms_per_child),
                if r.persistent {
                    format!("{:.1}", per_child(r.imports) - r.ms_per_child)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "trial imports",
                "process",
                "children",
                "trained",
                "wall s",
                "ms / child",
                "saved ms / child"
            ],
            &table_rows
        )
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    if std::env::args().any(|a| a == "--persistent") {
        return main_persistent(size);
    }
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
