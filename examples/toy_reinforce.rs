//! The controller learning a toy problem, in both search spaces: the reward of
//! a token sequence is the fraction of its decisions equal to a hidden target
//! sequence. Prints the mean reward of each batch every few updates.
//!
//! Run: `cargo run --example toy_reinforce [updates] [batch] [learning_rate]`
//! (defaults 300, 16, 0.01). The toy departs from the paper's controller
//! settings so that it learns in seconds: a learning rate far above the paper's
//! 0.0006/0.0005, an entropy bonus of 0.01 and a baseline decay of 0.8
//! (without the bonus, REINFORCE at this rate often collapses onto wrong
//! tokens). Spaces: a 3-layer CNN with skips, a base-2 cell.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use nas_actor::config::Config;
use nas_actor::controller::Reinforce;
use nas_actor::space::{sample_uniform, SearchSpace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const BASE: &str = r#"
[experiment]
name = "toy"
output_dir = "runs/toy"
budget = 1

[data]
dataset = "DATASET"
dir = "data"
"#;

fn config(space: &str) -> anyhow::Result<Config> {
    let (dataset, tables) = match space {
        "cnn" => ("cifar10", "[space.cnn]\nlayers = 3\n"),
        _ => ("ptb", "[space.cell]\nbase = 2\n"),
    };
    let text = format!(
        "{}\n[search]\nspace = \"{space}\"\n\n{tables}\n\
         [controller]\nentropy_weight = 0.01\nbaseline_decay = 0.8\n",
        BASE.replace("DATASET", dataset)
    );
    Config::from_toml(&text, Path::new("toy.toml")).context("the built-in toy config")
}

fn run(space_name: &str, updates: usize, batch: usize, lr: f64) -> anyhow::Result<()> {
    let config = config(space_name)?;
    let space = SearchSpace::from_config(&config)?;
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(config.experiment.seed);
    let target = sample_uniform(&schema, &mut rng);
    let reward = |tokens: &[usize]| {
        let hits = tokens.iter().zip(&target).filter(|(a, b)| a == b).count();
        hits as f64 / target.len() as f64
    };
    let mut search = Reinforce::new(&space.heads(), &config.controller, lr, 1);
    println!(
        "{space_name}: {} tokens, {} controller parameters, target {}",
        target.len(),
        search.controller.num_params(),
        space.decode(&target)?.describe()
    );
    let start = Instant::now();
    for update in 0..=updates {
        let sampled = search.controller.sample(&schema, batch, &mut rng);
        let tokens: Vec<Vec<usize>> = sampled.into_iter().map(|s| s.tokens).collect();
        let rewards: Vec<f64> = tokens.iter().map(|t| reward(t)).collect();
        let stats = search.update(&schema, &tokens, &rewards)?;
        if update % 20 == 0 {
            println!(
                "  update {update:4}  mean reward {:.3}  baseline {:.3}  loss {:+.4}  |grad| {:.4}",
                stats.mean_reward, stats.baseline, stats.loss, stats.grad_norm
            );
        }
    }
    println!(
        "  {updates} updates in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // The controller's tensors are tiny: torch's intra-op threads only add
    // synchronisation (and stall badly on a busy machine).
    tch::set_num_threads(1);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let updates = args.first().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let batch = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let lr = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(0.01);
    run("cnn", updates, batch, lr)?;
    run("cell", updates, batch, lr)?;
    Ok(())
}
