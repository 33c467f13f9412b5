//! Benchmark 3: the controller's cost — architectures sampled per second and
//! the time of one REINFORCE update with m = 8 — for the 15-layer CNN space
//! with skips and the base-8 cell space, as a fraction of one child's training
//! time on the quick-start config (`configs/quickstart.toml`, real PTB in
//! `data/ptb`). One torch thread throughout, as in a search (replicas run
//! their ops on one thread; quick-start trainers get one thread each on 2 cores).
//!
//! Run: `cargo run --release --example bench_controller -- [--tiny]`

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use bench_common::{machine, table, Size};
use nas_actor::child::{train, ChildStatus, NoProgress};
use nas_actor::config::Config;
use nas_actor::controller::Reinforce;
use nas_actor::space::{sample_uniform, SearchSpace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The controller's cost in one space.
#[derive(Debug, Clone)]
pub struct ControllerRow {
    pub space: String,
    pub tokens: usize,
    pub archs_per_s: f64,
    /// Seconds of one REINFORCE update with m sequences.
    pub update_s: f64,
    /// (m sampled + one update) / m: the controller's seconds per child.
    pub per_child_s: f64,
}

/// What the benchmark measured.
#[derive(Debug, Clone)]
pub struct ControllerReport {
    pub m: usize,
    pub rows: Vec<ControllerRow>,
    /// Seconds of one quick-start child (None when `data/ptb` is missing).
    pub child_s: Option<f64>,
}

fn space_config(space: &str, tables: &str, dataset: &str) -> anyhow::Result<Config> {
    let text = format!(
        "[experiment]\nname = \"bench\"\noutput_dir = \"runs/bench\"\nbudget = 1\n\n\
         [search]\nspace = \"{space}\"\n\n{tables}\n\n[data]\ndataset = \"{dataset}\"\ndir = \"data\"\n"
    );
    Config::from_toml(&text, Path::new("bench_controller.toml")).context("the benchmark config")
}

/// Sampling rate and update time of the paper's controller (2 × 35) in one space.
fn measure_space(
    name: &str,
    config: &Config,
    m: usize,
    rounds: usize,
) -> anyhow::Result<ControllerRow> {
    let space = SearchSpace::from_config(config)?;
    let schema = space.schema(0);
    let mut search = Reinforce::new(
        &space.heads(),
        &config.controller,
        config.controller_learning_rate(),
        1,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // As a search's replicas do: sample with a tape, update from it.
    // Warm-up: one batch and one update.
    let (sampled, tape) = search.controller.sample_taped(&schema, m, &mut rng)?;
    let tokens: Vec<Vec<usize>> = sampled.into_iter().map(|s| s.tokens).collect();
    search.update_taped(&schema, &tape, &tokens, &vec![0.5; m])?;
    let (mut sampling, mut updating) = (0.0, 0.0);
    for round in 0..rounds {
        let start = Instant::now();
        let (sampled, tape) = search.controller.sample_taped(&schema, m, &mut rng)?;
        sampling += start.elapsed().as_secs_f64();
        let tokens: Vec<Vec<usize>> = sampled.into_iter().map(|s| s.tokens).collect();
        let rewards: Vec<f64> = (0..m).map(|k| ((round * m + k) % 7) as f64 / 7.0).collect();
        let start = Instant::now();
        search.update_taped(&schema, &tape, &tokens, &rewards)?;
        updating += start.elapsed().as_secs_f64();
    }
    let archs = (rounds * m) as f64;
    let update_s = updating / rounds as f64;
    Ok(ControllerRow {
        space: name.to_string(),
        tokens: schema.num_tokens(),
        archs_per_s: archs / sampling,
        update_s,
        per_child_s: (sampling + updating) / archs,
    })
}

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Train one quick-start child (a uniformly sampled base-2 cell) and time it;
/// None when the real PTB is not in `data/ptb`. Tiny: one epoch of 2 batches.
pub fn quickstart_child_seconds(size: Size) -> anyhow::Result<Option<f64>> {
    let mut config = Config::load(&root().join("configs/quickstart.toml"))?;
    config.data.dir = root().join(&config.data.dir);
    if !config.data.dir.join("ptb.train.txt").exists() {
        return Ok(None);
    }
    if size == Size::Tiny {
        config.child.lm.epochs = 1;
        config.child.train_batches = Some(2);
        config.child.val_batches = Some(1);
    }
    let data = nas_actor::data::load(&config.data, config.experiment.seed)?;
    let space = SearchSpace::from_config(&config)?;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let arch = space.decode(&sample_uniform(&space.schema(0), &mut rng))?;
    let outcome = train(&arch, &config, &data, tch::Device::Cpu, 1, &mut NoProgress);
    anyhow::ensure!(
        outcome.status == ChildStatus::Ok,
        "the quick-start child did not train: {:?}",
        outcome.message
    );
    Ok(Some(outcome.seconds))
}

/// The whole benchmark.
pub fn bench(size: Size) -> anyhow::Result<ControllerReport> {
    tch::set_num_threads(1);
    let m = 8;
    let rounds = size.pick(50, 2);
    let cnn = space_config(
        "cnn",
        &format!("[space.cnn]\nlayers = {}", size.pick(15, 3)),
        "cifar10",
    )?;
    let cell = space_config(
        "cell",
        &format!("[space.cell]\nbase = {}", size.pick(8, 2)),
        "ptb",
    )?;
    let rows = vec![
        measure_space(
            &format!("CNN, {} layers, skips", cnn.space.cnn.layers),
            &cnn,
            m,
            rounds,
        )?,
        measure_space(
            &format!("cell, base {}", cell.space.cell.base),
            &cell,
            m,
            rounds,
        )?,
    ];
    Ok(ControllerReport {
        m,
        rows,
        child_s: quickstart_child_seconds(size)?,
    })
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    println!("machine: {}", machine());
    let r = bench(size)?;
    match r.child_s {
        Some(s) => println!("one quick-start child (configs/quickstart.toml, 1 thread): {s:.2} s"),
        None => println!("data/ptb is missing: no quick-start child to compare with"),
    }
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|c| {
            vec![
                c.space.clone(),
                c.tokens.to_string(),
                format!("{:.0}", c.archs_per_s),
                format!("{:.2}", c.update_s * 1000.0),
                format!("{:.2}", c.per_child_s * 1000.0),
                r.child_s
                    .map_or("-".into(), |s| format!("{:.3}%", c.per_child_s / s * 100.0)),
            ]
        })
        .collect();
    println!("\nController 2×35, m = {}, 1 thread:", r.m);
    print!(
        "{}",
        table(
            &[
                "space",
                "tokens",
                "archs/s",
                "update ms (m=8)",
                "ms per child",
                "of a quick-start child"
            ],
            &rows,
        )
    );
    Ok(())
}
