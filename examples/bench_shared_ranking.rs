//! How well shared weights rank cells (BENCHMARKS §9 (a)): train one
//! supernet ω of the quick start's cell space on the whole Penn Treebank
//! training text, one cell drawn uniformly per batch (ENAS's ω phase without
//! a controller, i.e. random search with weight sharing), then score given
//! cells on the whole validation text under ω, and compare their order with
//! the cells' standalone training (the JSON lines `scripts/bench-cells.sh`
//! writes): Spearman's ρ and Kendall's τ-b.
//!
//! ```sh
//! cargo run --release --example bench_shared_ranking -- \
//!     --steps 4000 --every 1000 --out target/bench-shared-ranking \
//!     --standalone target/bench-cells-rank --standalone bench/results/quickstart/cells \
//!     bench/cells/b2-*.json bench/cells/random/*.json
//! ```
//!
//! Options: `--config FILE` (default `configs/quickstart.toml`: its `[child.lm]`
//! sizes and seed; its data slices are dropped), `--steps N` ω steps,
//! `--every K` score the cells every K steps, `--lr`, `--clip` (default ENAS's
//! 20 and 0.25), `--threads T` (default 2), `--standalone DIR` (repeatable;
//! a cell `NAME.json` is looked up as `DIR/NAME.json`,
//! `DIR/NAME.epochs2.json` or `DIR/NAME.epochs4.json`), `--epoch E` (default
//! 2: the standalone validation perplexity after E epochs is the reference;
//! a run that diverged by then ranks last), `--out DIR` (a JSON line per cell
//! and scoring: `DIR/scores.jsonl`), `--report-only` (no training: the
//! statistics of an earlier run's `DIR/scores.jsonl`, e.g. once the
//! standalone runs are done).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use nas_actor::child::supernet::CellSupernet;
use nas_actor::config::{Config, SharedConfig};
use nas_actor::data::TaskData;
use nas_actor::post::rank::{kendall, spearman};
use nas_actor::space::{sample_uniform, Architecture, CellArch, SearchSpace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tch::Device;

struct Options {
    config: PathBuf,
    steps: u64,
    every: u64,
    lr: f64,
    clip: f64,
    threads: i32,
    standalone: Vec<PathBuf>,
    epoch: usize,
    report_only: bool,
    out: PathBuf,
    cells: Vec<PathBuf>,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        config: "configs/quickstart.toml".into(),
        steps: 4000,
        every: 1000,
        lr: 20.0,
        clip: 0.25,
        threads: 2,
        standalone: Vec::new(),
        epoch: 2,
        report_only: false,
        out: "target/bench-shared-ranking".into(),
        cells: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--config" => o.config = value()?.into(),
            "--steps" => o.steps = value()?.parse().context("--steps")?,
            "--every" => o.every = value()?.parse().context("--every")?,
            "--lr" => o.lr = value()?.parse().context("--lr")?,
            "--clip" => o.clip = value()?.parse().context("--clip")?,
            "--threads" => o.threads = value()?.parse().context("--threads")?,
            "--standalone" => o.standalone.push(value()?.into()),
            "--epoch" => o.epoch = value()?.parse().context("--epoch")?,
            "--report-only" => o.report_only = true,
            "--out" => o.out = value()?.into(),
            _ if a.starts_with("--") => bail!("unknown option {a}"),
            _ => o.cells.push(a.into()),
        }
    }
    if o.cells.len() < 3 {
        bail!("give at least 3 cell files (JSON architectures of the config's base)");
    }
    if o.every == 0 || o.epoch == 0 {
        bail!("--every and --epoch must be at least 1");
    }
    Ok(o)
}

struct Cell {
    name: String,
    arch: CellArch,
    /// Standalone validation perplexity; None when diverged or not found.
    reference: Option<f64>,
    found: bool,
}

fn cell_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_cell(path: &Path, space: &SearchSpace) -> anyhow::Result<CellArch> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let arch: Architecture =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    space
        .check(&arch)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    match arch {
        Architecture::Cell(c) => Ok(c),
        _ => bail!("{}: not a cell", path.display()),
    }
}

/// The standalone run's validation perplexity after `epoch` epochs:
/// Some(Some(ppl)), Some(None) when it diverged by then, None when no run of
/// that name (with that many epochs) is found.
fn reference(dirs: &[PathBuf], name: &str, epoch: usize) -> anyhow::Result<Option<Option<f64>>> {
    for dir in dirs {
        for file in [
            format!("{name}.json"),
            format!("{name}.epochs2.json"),
            format!("{name}.epochs4.json"),
        ] {
            let path = dir.join(file);
            // A run still going has an empty file.
            let Some(text) = std::fs::read_to_string(&path)
                .ok()
                .filter(|t| !t.trim().is_empty())
            else {
                continue;
            };
            let v: serde_json::Value =
                serde_json::from_str(text.trim()).with_context(|| format!("{}", path.display()))?;
            let epochs = v["epochs"].as_array().cloned().unwrap_or_default();
            let ppl = |e: &serde_json::Value| e["val_metric"].as_f64().filter(|p| p.is_finite());
            if let Some(e) = epochs.get(epoch - 1) {
                return Ok(Some(ppl(e)));
            }
            if v["status"] == "diverged" || epochs.last().is_some_and(|e| ppl(e).is_none()) {
                return Ok(Some(None));
            }
        }
    }
    Ok(None)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    tch::set_num_threads(o.threads);
    let mut config = Config::load(&o.config).with_context(|| format!("{}", o.config.display()))?;
    config.data.train_limit = None;
    config.data.val_limit = None;
    let seed = config.experiment.seed;
    let space = SearchSpace::from_config(&config)?;
    let corpus = match nas_actor::data::load(&config.data, seed)? {
        TaskData::Text(c) => c,
        TaskData::Images(_) => bail!("the config's data are images; a cell space needs text"),
    };
    let mut cells = Vec::new();
    for path in &o.cells {
        let name = cell_name(path);
        let found = reference(&o.standalone, &name, o.epoch)?;
        cells.push(Cell {
            arch: read_cell(path, &space)?,
            reference: found.flatten(),
            found: found.is_some(),
            name,
        });
    }
    let scores_path = o.out.join("scores.jsonl");
    if !o.report_only {
        train_and_score(&o, &config, &space, &corpus, &cells, &scores_path)?;
    }
    let missing: Vec<&str> = cells
        .iter()
        .filter(|c| !c.found)
        .map(|c| c.name.as_str())
        .collect();
    if o.standalone.is_empty() || !missing.is_empty() {
        bail!(
            "no standalone run for {missing:?} in {:?}: run scripts/bench-cells.sh for them, then this with --report-only",
            o.standalone
        );
    }
    report(&cells, &scores_path)
}

/// Train ω with a uniformly drawn cell per step and score every cell on the
/// whole validation text every `--every` steps, appending a JSON line per
/// cell and scoring to `path`.
fn train_and_score(
    o: &Options,
    config: &Config,
    space: &SearchSpace,
    corpus: &nas_actor::data::Corpus,
    cells: &[Cell],
    path: &Path,
) -> anyhow::Result<()> {
    let shared = SharedConfig {
        learning_rate: o.lr,
        grad_clip: o.clip,
        ..SharedConfig::default()
    };
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(config.experiment.seed);
    let mut net = CellSupernet::new(
        &cells[0].arch,
        corpus,
        &config.child.lm,
        &shared,
        Device::Cpu,
        config.experiment.seed,
    )?;
    std::fs::create_dir_all(&o.out)?;
    let mut out = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
    println!(
        "ω: {} training segments per epoch, {} validation segments; {} cells",
        net.train_segments(),
        net.valid_segments(),
        cells.len()
    );
    let started = Instant::now();
    let (mut window, mut losses) = (0u64, 0.0);
    for step in 1..=o.steps {
        let arch = match space.decode(&sample_uniform(&schema, &mut rng))? {
            Architecture::Cell(c) => c,
            _ => bail!("the config's space is not the cell space"),
        };
        let loss = net.train_step(&arch)?;
        if loss.is_finite() && loss < 20.0 {
            losses += loss;
            window += 1;
        }
        if step % o.every != 0 && step != o.steps {
            continue;
        }
        let train_secs = started.elapsed().as_secs_f64();
        let mean = if window > 0 {
            losses / window as f64
        } else {
            f64::NAN
        };
        println!(
            "step {step} (ω epoch {:.2}, {train_secs:.0} s): mean training loss {mean:.3} over the last {window} steps below 20 nats, {} steps skipped so far",
            step as f64 / net.train_segments() as f64,
            net.skipped_steps()
        );
        (window, losses) = (0, 0.0);
        for c in cells {
            let ppl = net.evaluate(&c.arch)?.exp();
            writeln!(
                out,
                "{}",
                json!({"step": step, "cell": c.name, "omega_ppl": ppl, "train_loss": mean, "seconds": train_secs})
            )?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Spearman and Kendall of every scoring in `path` against the cells'
/// standalone perplexities, then the last scoring's table.
fn report(cells: &[Cell], path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut steps: Vec<(u64, Vec<Option<f64>>)> = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let step = v["step"].as_u64().context("a line without its step")?;
        let name = v["cell"].as_str().context("a line without its cell")?;
        let Some(i) = cells.iter().position(|c| c.name == name) else {
            bail!(
                "{}: cell {name} is not among the cells given",
                path.display()
            );
        };
        if steps.last().is_none_or(|s| s.0 != step) {
            steps.push((step, vec![None; cells.len()]));
        }
        if let Some(last) = steps.last_mut() {
            last.1[i] = v["omega_ppl"].as_f64().filter(|p| p.is_finite());
        }
    }
    let refs: Vec<Option<f64>> = cells.iter().map(|c| c.reference).collect();
    let finite: Vec<usize> = (0..cells.len()).filter(|&i| refs[i].is_some()).collect();
    let pick = |v: &[Option<f64>]| finite.iter().map(|&i| v[i]).collect::<Vec<_>>();
    println!(
        "| ω steps | Spearman (all {}) | Kendall τ-b (all) | Spearman (the {} that trained) | Kendall τ-b |",
        cells.len(),
        finite.len()
    );
    println!("|---:|---:|---:|---:|---:|");
    for (step, scores) in &steps {
        println!(
            "| {step} | {:.3} | {:.3} | {:.3} | {:.3} |",
            spearman(scores, &refs),
            kendall(scores, &refs),
            spearman(&pick(scores), &pick(&refs)),
            kendall(&pick(scores), &pick(&refs)),
        );
    }
    if let Some((step, scores)) = steps.last() {
        let show = |v: Option<f64>| v.map_or("diverged".to_string(), |p| format!("{p:.1}"));
        println!("\n| cell | standalone ppl | ω ppl after {step} steps |\n|---|---:|---:|");
        for (c, s) in cells.iter().zip(scores) {
            println!("| {} | {} | {} |", c.name, show(c.reference), show(*s));
        }
    }
    Ok(())
}
