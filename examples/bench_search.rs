//! Benchmark 5: REINFORCE against random search at equal budgets and seeds —
//! on the synthetic reward landscape (several seeds, no delay) and in a small
//! real Penn Treebank search (tiny children as in the quick start).
//! Reports the best reward, the mean reward of the last quarter of the
//! children (by id) and, on PTB, the best validation perplexity.
//!
//! Run: `cargo run --release --example bench_search -- [--tiny] [--budget N] [--lr X]
//! [--entropy X] [--decay X] [--ptb-budget N]`
//! Defaults: 6,400 landscape children per search, 3 seeds; on the landscape the
//! controller learning rate is 0.02 with an entropy bonus of 0.01 (baseline
//! decay 0.95) — the paper's 0.0005 barely moves the policy in a few hundred
//! updates, and without the bonus REINFORCE at higher rates collapses early;
//! 32 PTB children per strategy with the quick start's own settings
//! (`--ptb-budget 0` skips PTB).

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::{Path, PathBuf};

use anyhow::Context;
use bench_common::{arg, machine, table, Size};
use nas_actor::actors::{run, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::{Config, Strategy};
use nas_actor::store::ChildRecord;

/// One search's result.
#[derive(Debug, Clone)]
pub struct SearchRow {
    pub task: String,
    pub strategy: Strategy,
    pub seed: u64,
    pub children: usize,
    pub best_reward: f64,
    pub last_quarter_mean: f64,
    /// Lowest validation perplexity of a child that trained (PTB only).
    pub best_ppl: Option<f64>,
}

/// The controller's settings on the landscape, and its budget per search.
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    pub budget: usize,
    pub learning_rate: f64,
    pub entropy_weight: f64,
    pub baseline_decay: f64,
}

impl Knobs {
    /// The defaults of a size, overridden by `--budget`, `--lr`, `--entropy`, `--decay`.
    pub fn from_args(size: Size) -> Knobs {
        Knobs {
            budget: arg("--budget").unwrap_or(size.pick(6400, 64)),
            learning_rate: arg("--lr").unwrap_or(0.02),
            entropy_weight: arg("--entropy").unwrap_or(0.01),
            baseline_decay: arg("--decay").unwrap_or(0.95),
        }
    }
}

/// The landscape config: the paper's base-8 cell space, 4 replicas × 8 children.
fn landscape(dir: &Path, seed: u64, knobs: &Knobs, strategy: &str) -> anyhow::Result<Config> {
    let Knobs {
        budget,
        learning_rate: lr,
        entropy_weight: entropy,
        baseline_decay: decay,
    } = *knobs;
    let text = format!(
        r#"
[experiment]
name = "bench-search"
output_dir = "{}"
seed = {seed}
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 8

[search]
space = "cell"
strategy = "{strategy}"
replicas = 4
children_per_replica = 8

[controller]
learning_rate = {lr}
entropy_weight = {entropy}
baseline_decay = {decay}

[space.cell]
base = 8

[child]
backend = "synthetic"

[data]
dataset = "ptb"
dir = "data/ptb"
"#,
        dir.display()
    );
    Config::from_toml(&text, Path::new("bench_search.toml")).context("the benchmark config")
}

/// Run one search and summarise its child log.
fn search(task: &str, config: Config, seed: u64) -> anyhow::Result<SearchRow> {
    let dir = config.experiment.output_dir.clone();
    let strategy = config.search.strategy;
    run(config, &RunOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = dir.join("children.jsonl");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut records: Vec<ChildRecord> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not JSON lines", path.display()))?;
    records.sort_by_key(|r| r.spec.id);
    let rewards: Vec<f64> = records.iter().map(|r| r.reward).collect();
    let quarter = &rewards[rewards.len() - rewards.len().div_ceil(4)..];
    Ok(SearchRow {
        task: task.to_string(),
        strategy,
        seed,
        children: records.len(),
        best_reward: rewards.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        last_quarter_mean: quarter.iter().sum::<f64>() / quarter.len().max(1) as f64,
        best_ppl: records
            .iter()
            .filter(|r| r.status == ChildStatus::Ok)
            .filter_map(|r| r.metric)
            .min_by(f64::total_cmp),
    })
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The quick-start config, `budget` children, in `dir`; None without `data/ptb`.
fn ptb(
    dir: &Path,
    budget: usize,
    strategy: Strategy,
    size: Size,
) -> anyhow::Result<Option<Config>> {
    let mut c = Config::load(&root().join("configs/quickstart.toml"))?;
    c.data.dir = root().join(&c.data.dir);
    if !c.data.dir.join("ptb.train.txt").exists() {
        return Ok(None);
    }
    c.experiment.output_dir = dir.to_path_buf();
    c.experiment.budget = budget;
    c.search.strategy = strategy;
    c.devices.gpus = nas_actor::config::GpuSelection::Named("none".into());
    if size == Size::Tiny {
        c.child.lm.epochs = 1;
        c.child.train_batches = Some(2);
        c.child.val_batches = Some(1);
    }
    Ok(Some(c))
}

/// The whole benchmark.
pub fn bench(size: Size, knobs: &Knobs, ptb_budget: usize) -> anyhow::Result<Vec<SearchRow>> {
    let tmp = tempfile::tempdir()?;
    let seeds: Vec<u64> = size.pick(vec![1, 2, 3], vec![1]);
    let mut rows = Vec::new();
    for &seed in &seeds {
        for strategy in ["reinforce", "random"] {
            let dir = tmp.path().join(format!("landscape-{seed}-{strategy}"));
            rows.push(search(
                "synthetic landscape",
                landscape(&dir, seed, knobs, strategy)?,
                seed,
            )?);
        }
    }
    let ptb_strategies = if ptb_budget == 0 {
        vec![]
    } else {
        vec![Strategy::Reinforce, Strategy::Random]
    };
    for strategy in ptb_strategies {
        let dir = tmp.path().join(format!("ptb-{strategy:?}"));
        if let Some(c) = ptb(&dir, ptb_budget, strategy, size)? {
            let seed = c.experiment.seed;
            rows.push(search("PTB quick start", c, seed)?);
        }
    }
    Ok(rows)
}

/// Four decimals, or three significant digits for small values (PTB rewards are 80/ppl²).
fn number(x: f64) -> String {
    if x.abs() >= 0.01 || x == 0.0 {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    let knobs = Knobs::from_args(size);
    let ptb_budget = arg("--ptb-budget").unwrap_or(size.pick(32, 2));
    println!("machine: {}", machine());
    let rows = bench(size, &knobs, ptb_budget)?;
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.task.clone(),
                format!("{:?}", r.strategy).to_lowercase(),
                r.seed.to_string(),
                r.children.to_string(),
                number(r.best_reward),
                number(r.last_quarter_mean),
                r.best_ppl
                    .filter(|_| r.task.starts_with("PTB"))
                    .map_or("-".into(), |p| format!("{p:.1}")),
            ]
        })
        .collect();
    println!(
        "\nlandscape: base-8 cell space, K=4, m=8, {} children per search, controller lr {}, entropy weight {}, baseline decay {}; PTB: configs/quickstart.toml",
        knobs.budget, knobs.learning_rate, knobs.entropy_weight, knobs.baseline_decay
    );
    print!(
        "{}",
        table(
            &[
                "task",
                "strategy",
                "seed",
                "children",
                "best reward",
                "last-quarter mean",
                "best val ppl"
            ],
            &table_rows,
        )
    );
    Ok(())
}
