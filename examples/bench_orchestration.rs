//! Benchmark 1: the orchestrator at the paper's CIFAR-10 scale with synthetic
//! children — K = 100 controller replicas, m = 8 children each, 800 trainer
//! slots, a fixed child time — and the scaling curve over 1, 8, 64 and 800
//! slots at the same child time.
//!
//! With `--hetero [--waves W]` it runs children whose time depends on their
//! architecture instead (log-uniform over a 10× range: 0.5–5 s at K = 100,
//! m = 8, 800 slots; 0.1–1 s at K = 4, m = 8, 32 slots), for REINFORCE in
//! batch and refill mode, random search, evolution and TPE, W rounds of the
//! slots each [8], and prints utilisation, idle time per child, the mean
//! staleness of the rewarded children and CPU per child.
//!
//! With `--dashboard [--clients N]` it runs the REINFORCE search at scale
//! without the dashboard, with it serving N clients [20] that poll every
//! second as the page does, and without again (BENCHMARKS.md §1d).
//!
//! Run: `cargo run --release --example bench_orchestration -- [--tiny]
//! [--delay-ms D] [--budget N] [--long-delay-ms D2] [--long-budget N2]
//! [--no-curve] [--run-root DIR]`.
//!
//! At scale it runs three searches (defaults in brackets): REINFORCE with
//! children of D ms [2,000] for N children [12,800]; random search, same D and
//! N (the orchestrator without the controller's math); REINFORCE with
//! children of D2 ms [10,000] for N2 children [4,800]. For each it prints slot
//! utilisation (busy / (slots × wall)), idle slot time per child
//! ((slots × wall − busy) / children), the process's CPU time per child (the
//! trainers only sleep, so this is the orchestrator and the controller),
//! controller updates per second and peak RSS; then, per slot count,
//! children/s against the ideal slots / child time. Run directories go to a
//! temporary directory (under `--run-root DIR` when given: `/dev/shm` shows
//! the orchestrator without the cost of fsync).

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::Path;

use anyhow::Context;
use std::time::Duration;

use bench_common::pollers::{Polled, Pollers};
use bench_common::{arg, cpu_seconds, machine, peak_rss_mib, reset_peak_rss, table, Size};
use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Config;
use nas_actor::serve::{Dashboard, ServeOptions};

/// One synthetic search to run.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// `"reinforce"`, `"random"`, `"evolution"` or `"tpe"`.
    pub strategy: &'static str,
    /// `"refill"` or `"batch"` (REINFORCE only).
    pub sampling: &'static str,
    /// Children take `delay_ms` to `delay_ms · spread` by architecture (1: all `delay_ms`).
    pub spread: f64,
    pub slots: usize,
    pub replicas: usize,
    pub m: usize,
    pub budget: usize,
    pub delay_ms: f64,
}

/// One synthetic search's measurements.
#[derive(Debug, Clone)]
pub struct OrchRow {
    pub setup: Setup,
    pub children: usize,
    pub wall_s: f64,
    pub utilisation: f64,
    /// (slots × wall − busy) / children, milliseconds.
    pub idle_ms: f64,
    /// Process CPU time (user + system) / children, milliseconds.
    pub cpu_ms: f64,
    pub updates_per_s: f64,
    pub children_per_s: f64,
    /// slots / child time.
    pub ideal_per_s: f64,
    /// Peak RSS (VmHWM) during this search, MiB (0 where it cannot be reset).
    pub peak_rss_mib: f64,
    /// Mean staleness of the rewarded children (θ updates between a
    /// child's sampling and the update it is part of), from updates.jsonl.
    pub child_staleness: f64,
    /// The utilisation of a scheduler without overhead on the same
    /// children's times ([`ideal_utilisation`]).
    pub ideal_utilisation: f64,
    /// Mean child time, seconds (busy / children).
    pub child_s: f64,
}

/// What the benchmark measured.
#[derive(Debug, Clone)]
pub struct OrchReport {
    pub scale: Vec<OrchRow>,
    pub curve: Vec<OrchRow>,
}

/// The synthetic CNN-space config of one search (the paper's 15-layer space with skips).
fn config(dir: &Path, s: &Setup) -> anyhow::Result<Config> {
    let text = format!(
        r#"
[experiment]
name = "bench-orchestration"
output_dir = "{dir}"
seed = 1
budget = {budget}

[devices]
gpus = "none"
cpu_workers = {slots}

[search]
space = "cnn"
strategy = "{strategy}"
sampling = "{sampling}"
replicas = {replicas}
children_per_replica = {m}
shards = 20

[child]
backend = "synthetic"

[child.synthetic]
delay_ms = {delay}
delay_spread = {spread}

[data]
dataset = "cifar10"
dir = "data/cifar10"
"#,
        dir = dir.display(),
        budget = s.budget,
        slots = s.slots,
        strategy = s.strategy,
        sampling = s.sampling,
        spread = s.spread,
        replicas = s.replicas,
        m = s.m,
        delay = s.delay_ms,
    );
    Config::from_toml(&text, Path::new("bench_orchestration.toml")).context("the benchmark config")
}

/// Run one synthetic search and measure it.
pub fn measure(setup: Setup) -> anyhow::Result<OrchRow> {
    Ok(measure_with(setup, None)?.0)
}

/// Run one synthetic search and measure it; with `Some(n)`, while the
/// dashboard serves its run directory (in this process, as `run
/// --dashboard` does) to `n` clients polling every second.
pub fn measure_with(
    setup: Setup,
    clients: Option<usize>,
) -> anyhow::Result<(OrchRow, Option<Polled>)> {
    // `--run-root DIR` puts the run directory there (e.g. /dev/shm, where fsync is free).
    let tmp = match arg::<String>("--run-root") {
        Some(root) => tempfile::tempdir_in(root),
        None => tempfile::tempdir(),
    }
    .context("a temporary run directory")?;
    let cfg = config(&tmp.path().join("run"), &setup)?;
    let reset = reset_peak_rss();
    let cpu0 = cpu_seconds();
    let pollers = match clients {
        Some(n) => {
            let d = Dashboard::bind(&ServeOptions {
                dirs: vec![tmp.path().join("run")],
                host: "127.0.0.1".into(),
                port: 0,
                allow_missing: true,
            })?;
            let addr = d.addr();
            d.spawn()?;
            Some(Pollers::start(addr, n, Duration::from_secs(1)))
        }
        None => None,
    };
    let s = run(cfg, &RunOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let polled = pollers.map(Pollers::stop);
    let cpu = cpu_seconds() - cpu0;
    let wall = s.wall_seconds.max(1e-9);
    let slots = setup.slots as f64;
    let busy = s.slot_utilisation * slots * wall;
    let children = s.children.max(1) as f64;
    let child_staleness = child_staleness(&tmp.path().join("run/updates.jsonl"));
    let ideal_utilisation = ideal_utilisation(&tmp.path().join("run/children.jsonl"), setup.slots);
    let row = OrchRow {
        setup,
        children: s.children,
        wall_s: wall,
        utilisation: s.slot_utilisation,
        idle_ms: (slots * wall - busy) / children * 1000.0,
        cpu_ms: cpu / children * 1000.0,
        updates_per_s: s.updates as f64 / wall,
        children_per_s: s.children as f64 / wall,
        ideal_per_s: slots / (setup.delay_ms / 1000.0),
        peak_rss_mib: if reset { peak_rss_mib() } else { 0.0 },
        child_staleness,
        ideal_utilisation,
        child_s: busy / children,
    };
    Ok((row, polled))
}

/// The utilisation of a scheduler with no overhead at all that starts the
/// same children, in the order of their ids, each on the first free slot
/// the moment one frees (greedy list scheduling of the recorded durations):
/// what is left of 100 % is the end of the budget, which no scheduler that
/// cannot know a child's time before training it avoids.
fn ideal_utilisation(path: &Path, slots: usize) -> f64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut children: Vec<(u64, f64)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<nas_actor::store::ChildRecord>(l).ok())
        .map(|r| (r.spec.id, r.seconds))
        .collect();
    children.sort_by_key(|c| c.0);
    // Slot free times in microseconds (a min-heap).
    let mut free: std::collections::BinaryHeap<std::cmp::Reverse<u64>> =
        (0..slots.max(1)).map(|_| std::cmp::Reverse(0)).collect();
    let mut busy = 0u64;
    for (_, seconds) in &children {
        let d = (seconds * 1e6).round() as u64;
        busy += d;
        if let Some(std::cmp::Reverse(t)) = free.pop() {
            free.push(std::cmp::Reverse(t + d));
        }
    }
    let makespan = free.iter().map(|r| r.0).max().unwrap_or(0);
    if makespan == 0 {
        return 0.0;
    }
    busy as f64 / (slots.max(1) as f64 * makespan as f64)
}

/// The mean over the rewarded children of an updates log of each child's
/// staleness (0 when there are no updates).
fn child_staleness(path: &Path) -> f64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (mut sum, mut n) = (0.0, 0usize);
    for line in text.lines() {
        let Ok(u) = serde_json::from_str::<nas_actor::store::UpdateRecord>(line) else {
            continue;
        };
        sum += u.staleness_mean * u.children.len() as f64;
        n += u.children.len();
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Heterogeneous children (`--hetero`): per scale (K, m, slots, child time
/// range), REINFORCE in batch and refill mode, random search, evolution
/// and TPE, each for `waves` rounds of the slots.
pub fn hetero(scales: &[(usize, usize, f64, f64)], waves: usize) -> anyhow::Result<Vec<OrchRow>> {
    let mut rows = Vec::new();
    for &(replicas, m, delay_ms, spread) in scales {
        for (strategy, sampling) in [
            ("reinforce", "batch"),
            ("reinforce", "refill"),
            ("random", "refill"),
            ("evolution", "refill"),
            ("tpe", "refill"),
        ] {
            rows.push(measure(Setup {
                strategy,
                sampling,
                spread,
                slots: replicas * m,
                replicas,
                m,
                budget: replicas * m * waves,
                delay_ms,
            })?);
        }
    }
    Ok(rows)
}

/// The whole benchmark: the searches at scale, then the scaling curve (each
/// slot count trains `waves` rounds of children, K and m as at scale).
pub fn bench(
    size: Size,
    delay_ms: f64,
    budget: usize,
    long: Option<(f64, usize)>,
) -> anyhow::Result<OrchReport> {
    let (replicas, m) = size.pick((100, 8), (4, 2));
    let at_scale = Setup {
        strategy: "reinforce",
        sampling: "refill",
        spread: 1.0,
        slots: replicas * m,
        replicas,
        m,
        budget,
        delay_ms,
    };
    let mut setups = vec![
        at_scale,
        Setup {
            strategy: "random",
            ..at_scale
        },
    ];
    if let Some((delay_ms, budget)) = long {
        setups.push(Setup {
            delay_ms,
            budget,
            ..at_scale
        });
    }
    let scale = setups
        .into_iter()
        .map(measure)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let waves = size.pick(4, 2);
    let counts: Vec<usize> = if std::env::args().any(|a| a == "--no-curve") {
        Vec::new()
    } else {
        size.pick(vec![1, 8, 64, 800], vec![1, 8])
    };
    let curve = counts
        .into_iter()
        .map(|n| {
            measure(Setup {
                slots: n,
                budget: n * waves,
                ..at_scale
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(OrchReport { scale, curve })
}

/// `--dashboard [--clients N] [--budget B]`: the REINFORCE search at scale
/// (800 slots, 2 s children; 4 × 2 slots, 20 ms with `--tiny`) without the
/// dashboard, then with it serving the run to N clients [20] polling every
/// second, then without again.
fn dashboard_bench(size: Size) -> anyhow::Result<()> {
    let (replicas, m) = size.pick((100, 8), (4, 2));
    let setup = Setup {
        strategy: "reinforce",
        sampling: "refill",
        spread: 1.0,
        slots: replicas * m,
        replicas,
        m,
        budget: arg("--budget").unwrap_or(size.pick(6_400, 32)),
        delay_ms: arg("--delay-ms").unwrap_or(size.pick(2000.0, 20.0)),
    };
    let clients: usize = arg("--clients").unwrap_or(20);
    println!("machine: {}", machine());
    let mut rows = Vec::new();
    for with in [None, Some(clients), None] {
        let (r, polled) = measure_with(setup, with)?;
        let p = polled.unwrap_or_default();
        rows.push(vec![
            with.map_or("none".into(), |n| format!("{n} clients")),
            r.children.to_string(),
            format!("{:.1}", r.wall_s),
            format!("{:.2}%", r.utilisation * 100.0),
            format!("{:.1}", r.idle_ms),
            format!("{:.2}", r.cpu_ms),
            format!("{:.1}", r.updates_per_s),
            with.map_or("–".into(), |_| {
                format!("{} ({} failed)", p.requests, p.failures)
            }),
            with.map_or("–".into(), |_| {
                format!("{:.1} / {:.0}", p.mean_ms, p.max_ms)
            }),
        ]);
    }
    println!(
        "\nREINFORCE, {} slots, {} ms children, {} children:",
        setup.slots, setup.delay_ms, setup.budget
    );
    print!(
        "{}",
        table(
            &[
                "dashboard",
                "children",
                "wall s",
                "utilisation",
                "idle ms/child",
                "CPU ms/child",
                "updates/s",
                "requests",
                "latency ms mean / max",
            ],
            &rows,
        )
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    if std::env::args().any(|a| a == "--dashboard") {
        return dashboard_bench(size);
    }
    if std::env::args().any(|a| a == "--hetero") {
        println!("machine: {}", machine());
        let waves = arg("--waves").unwrap_or(size.pick(8, 2));
        let scales = size.pick(
            vec![(100, 8, 500.0, 10.0), (4, 8, 100.0, 10.0)],
            vec![(2, 4, 5.0, 10.0)],
        );
        let rows: Vec<Vec<String>> = hetero(&scales, waves)?
            .iter()
            .map(|s| {
                vec![
                    s.setup.slots.to_string(),
                    format!("{}×{}", s.setup.replicas, s.setup.m),
                    format!("{}–{}", s.setup.delay_ms, s.setup.delay_ms * s.setup.spread),
                    format!("{} {}", s.setup.strategy, s.setup.sampling),
                    s.children.to_string(),
                    format!("{:.1}", s.wall_s),
                    format!("{:.2}%", s.utilisation * 100.0),
                    format!("{:.2}%", s.ideal_utilisation * 100.0),
                    format!("{:.1}", s.idle_ms),
                    format!("{:.2}", s.child_staleness),
                    format!("{:.2}", s.cpu_ms),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &[
                    "slots",
                    "K×m",
                    "child ms",
                    "strategy",
                    "children",
                    "wall s",
                    "utilisation",
                    "no-overhead bound",
                    "idle ms/child",
                    "staleness",
                    "CPU ms/child",
                ],
                &rows,
            )
        );
        return Ok(());
    }
    let delay_ms = arg("--delay-ms").unwrap_or(size.pick(2000.0, 20.0));
    let budget = arg("--budget").unwrap_or(size.pick(12_800, 32));
    let long = (
        arg("--long-delay-ms").unwrap_or(size.pick(10_000.0, 40.0)),
        arg("--long-budget").unwrap_or(size.pick(4_800, 16)),
    );
    println!("machine: {}", machine());
    let r = bench(size, delay_ms, budget, Some(long))?;
    println!("\nAt scale: synthetic CNN space (15 layers, skips), K×m slots:");
    let rows: Vec<Vec<String>> = r
        .scale
        .iter()
        .map(|s| {
            vec![
                s.setup.strategy.to_string(),
                format!("{}", s.setup.delay_ms),
                s.setup.slots.to_string(),
                s.children.to_string(),
                format!("{:.1}", s.wall_s),
                format!("{:.2}%", s.utilisation * 100.0),
                format!("{:.1}", s.idle_ms),
                format!("{:.2}", s.cpu_ms),
                format!("{:.1}", s.updates_per_s),
                format!("{:.0}", s.peak_rss_mib),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "strategy",
                "child ms",
                "slots",
                "children",
                "wall s",
                "utilisation",
                "idle ms/child",
                "CPU ms/child",
                "updates/s",
                "peak RSS MiB"
            ],
            &rows,
        )
    );
    println!("\nScaling at child time {delay_ms} ms (REINFORCE):");
    let rows: Vec<Vec<String>> = r
        .curve
        .iter()
        .map(|c| {
            vec![
                c.setup.slots.to_string(),
                c.children.to_string(),
                format!("{:.1}", c.wall_s),
                format!("{:.1}", c.children_per_s),
                format!("{:.1}", c.ideal_per_s),
                format!("{:.1}%", c.children_per_s / c.ideal_per_s * 100.0),
                format!("{:.2}%", c.utilisation * 100.0),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "slots",
                "children",
                "wall s",
                "children/s",
                "ideal/s",
                "of ideal",
                "utilisation"
            ],
            &rows,
        )
    );
    Ok(())
}
