//! Sample a few architectures from each search space with a freshly
//! initialised controller and print them as JSON and as one-line descriptions.
//!
//! Run: `cargo run --example sample_architectures [count] [seed]`
//! Uses `configs/cifar10.toml` and `configs/ptb.toml` when they exist, else
//! built-in configs with every default (15-layer CNN with skips; base-8 cell).

use std::path::Path;

use anyhow::Context;
use nas_actor::config::Config;
use nas_actor::controller::Controller;
use nas_actor::space::SearchSpace;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The config file if present, else the built-in one for `space`.
fn config(file: &str, space: &str, dataset: &str) -> anyhow::Result<Config> {
    let path = Path::new(file);
    if path.exists() {
        return Config::load(path).with_context(|| format!("loading {file}"));
    }
    let text = format!(
        "[experiment]\nname = \"sample-{space}\"\noutput_dir = \"runs/sample\"\nbudget = 1\n\n\
         [search]\nspace = \"{space}\"\n\n[data]\ndataset = \"{dataset}\"\ndir = \"data\"\n"
    );
    Config::from_toml(&text, Path::new("built-in.toml")).context("the built-in config")
}

fn show(config: &Config, count: usize, seed: u64) -> anyhow::Result<()> {
    let space = SearchSpace::from_config(config)?;
    let schema = space.schema(0);
    let controller = Controller::new(&space.heads(), &config.controller, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    println!(
        "== {:?} space: {} tokens per architecture, controller with {} parameters",
        space.kind(),
        schema.num_tokens(),
        controller.num_params()
    );
    for (i, s) in controller
        .sample(&schema, count, &mut rng)
        .iter()
        .enumerate()
    {
        let arch = space.decode(&s.tokens)?;
        println!(
            "-- #{i}  log P = {:.2}  entropy = {:.2}  hash {}",
            s.log_prob,
            s.entropy,
            arch.hash()?
        );
        println!("{}", arch.describe());
        println!("{}", serde_json::to_string(&arch)?);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = args.first().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let seed = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(0);
    show(
        &config("configs/cifar10.toml", "cnn", "cifar10")?,
        count,
        seed,
    )?;
    show(&config("configs/ptb.toml", "cell", "ptb")?, count, seed)?;
    Ok(())
}
