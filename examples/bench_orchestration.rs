//! Benchmark 1: the orchestrator at the paper's CIFAR-10 scale with synthetic
//! children — K = 100 controller replicas, m = 8 children each, 800 trainer
//! slots, a fixed child time — and the scaling curve over 1, 8, 64 and 800
//! slots at the same child time.
//!
//! Run: `cargo run --release --example bench_orchestration -- [--tiny]
//! [--delay-ms D] [--budget N] [--no-curve] [--run-root DIR]` (defaults: 2,000 ms per child, 12,800 children). Prints slot utilisation
//! (busy / (slots × wall)), orchestration overhead per child
//! ((slots × wall − busy) / children), controller updates per second, peak RSS
//! and, per slot count, children/s against the ideal slots / child time.
//! Run directories go to a temporary directory (under `--run-root DIR` when given:
//! `/dev/shm` shows the orchestrator without the cost of fsync).

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::Path;

use anyhow::Context;
use bench_common::{arg, machine, peak_rss_mib, table, Size};
use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Config;

/// One synthetic search's measurements.
#[derive(Debug, Clone)]
pub struct OrchRow {
    pub slots: usize,
    pub children: usize,
    pub wall_s: f64,
    pub utilisation: f64,
    /// (slots × wall − busy) / children, milliseconds.
    pub overhead_ms: f64,
    pub updates_per_s: f64,
    pub children_per_s: f64,
    /// slots / child time.
    pub ideal_per_s: f64,
}

/// What the benchmark measured.
#[derive(Debug, Clone)]
pub struct OrchReport {
    pub delay_ms: f64,
    pub scale: OrchRow,
    /// Peak RSS (VmHWM) after the run at scale, MiB.
    pub peak_rss_mib: f64,
    pub curve: Vec<OrchRow>,
}

/// The synthetic CNN-space config of one run (the paper's 15-layer space with skips).
fn config(
    dir: &Path,
    slots: usize,
    replicas: usize,
    m: usize,
    budget: usize,
    delay_ms: f64,
) -> anyhow::Result<Config> {
    let text = format!(
        r#"
[experiment]
name = "bench-orchestration"
output_dir = "{}"
seed = 1
budget = {budget}

[devices]
gpus = "none"
cpu_workers = {slots}

[search]
space = "cnn"
replicas = {replicas}
children_per_replica = {m}
shards = 20

[child]
backend = "synthetic"

[child.synthetic]
delay_ms = {delay_ms}

[data]
dataset = "cifar10"
dir = "data/cifar10"
"#,
        dir.display()
    );
    Config::from_toml(&text, Path::new("bench_orchestration.toml")).context("the benchmark config")
}

/// Run one synthetic search and measure it.
pub fn measure(
    slots: usize,
    replicas: usize,
    m: usize,
    budget: usize,
    delay_ms: f64,
) -> anyhow::Result<OrchRow> {
    // `--run-root DIR` puts the run directory there (e.g. /dev/shm, where fsync is free).
    let tmp = match arg::<String>("--run-root") {
        Some(root) => tempfile::tempdir_in(root),
        None => tempfile::tempdir(),
    }
    .context("a temporary run directory")?;
    let cfg = config(
        &tmp.path().join("run"),
        slots,
        replicas,
        m,
        budget,
        delay_ms,
    )?;
    let s = run(cfg, &RunOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let wall = s.wall_seconds.max(1e-9);
    let busy = s.slot_utilisation * slots as f64 * wall;
    Ok(OrchRow {
        slots,
        children: s.children,
        wall_s: wall,
        utilisation: s.slot_utilisation,
        overhead_ms: (slots as f64 * wall - busy) / s.children.max(1) as f64 * 1000.0,
        updates_per_s: s.updates as f64 / wall,
        children_per_s: s.children as f64 / wall,
        ideal_per_s: slots as f64 / (delay_ms / 1000.0),
    })
}

/// The whole benchmark: the run at scale, then the scaling curve (each slot
/// count trains `waves` rounds of children, K = 100, m = 8 throughout).
pub fn bench(size: Size, delay_ms: f64, budget: usize) -> anyhow::Result<OrchReport> {
    let (replicas, m) = size.pick((100, 8), (4, 2));
    let slots = replicas * m;
    let scale = measure(slots, replicas, m, budget, delay_ms)?;
    let peak = peak_rss_mib();
    let waves = size.pick(4, 2);
    let counts: Vec<usize> = if std::env::args().any(|a| a == "--no-curve") {
        Vec::new()
    } else {
        size.pick(vec![1, 8, 64, 800], vec![1, 8])
    };
    let curve = counts
        .into_iter()
        .map(|n| measure(n, replicas, m, (n * waves).max(waves), delay_ms))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(OrchReport {
        delay_ms,
        scale,
        peak_rss_mib: peak,
        curve,
    })
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    let delay_ms = arg("--delay-ms").unwrap_or(size.pick(2000.0, 20.0));
    let budget = arg("--budget").unwrap_or(size.pick(12_800, 32));
    println!("machine: {}", machine());
    let r = bench(size, delay_ms, budget)?;
    let s = &r.scale;
    println!(
        "\nAt scale: synthetic CNN space (15 layers, skips), child time {} ms, K×m = {}, {} slots, {} children",
        r.delay_ms, s.slots, s.slots, s.children
    );
    let row = vec![
        s.slots.to_string(),
        s.children.to_string(),
        format!("{:.1}", s.wall_s),
        format!("{:.2}%", s.utilisation * 100.0),
        format!("{:.2}", s.overhead_ms),
        format!("{:.1}", s.updates_per_s),
        format!("{:.0}", r.peak_rss_mib),
    ];
    print!(
        "{}",
        table(
            &[
                "slots",
                "children",
                "wall s",
                "utilisation",
                "overhead ms/child",
                "updates/s",
                "peak RSS MiB"
            ],
            &[row],
        )
    );
    println!("\nScaling at child time {} ms:", r.delay_ms);
    let rows: Vec<Vec<String>> = r
        .curve
        .iter()
        .map(|c| {
            vec![
                c.slots.to_string(),
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
