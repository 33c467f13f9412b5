//! How well shared weights rank CNNs (BENCHMARKS §9 (c)): take the ω of a
//! shared-weights CNN run (its last checkpoint), draw architectures
//! uniformly from the run's space, score each on the whole validation split
//! under ω, train each alone from scratch with the run's `[child.cnn]` for
//! `--epochs` epochs over the run's training slice (validation accuracy on
//! the whole validation split), and compare the two orders: Spearman's ρ
//! and Kendall's τ-b.
//!
//! ```sh
//! cargo run --release --example bench_shared_cnn_ranking -- \
//!     --run runs/fashion_mnist_shared_random --archs 20 --epochs 2 \
//!     --out target/bench-shared-cnn-ranking
//! ```
//!
//! Options: `--run DIR` (a shared-weights CNN run; its `config.toml` and
//! `checkpoint/`), `--archs N` (default 20), `--seed S` (the draws; default
//! 20261208), `--epochs E` (default 2), `--threads T` (default 2), `--out
//! DIR` (a JSON line per architecture: `DIR/scores.jsonl`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use nas_actor::actors::shared::checkpoint::{read_omega, SharedCheckpoint};
use nas_actor::child::supernet::Omega;
use nas_actor::child::{train, NoProgress};
use nas_actor::config::{Config, Weights};
use nas_actor::post::rank::{kendall, spearman};
use nas_actor::space::{sample_uniform, Architecture, SearchSpace};
use nas_actor::store::RunDir;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tch::Device;

struct Options {
    run: PathBuf,
    archs: usize,
    seed: u64,
    epochs: usize,
    threads: i32,
    out: PathBuf,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        run: PathBuf::from("runs/fashion_mnist_shared_random"),
        archs: 20,
        seed: 20261208,
        epochs: 2,
        threads: 2,
        out: PathBuf::from("target/bench-shared-cnn-ranking"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--run" => o.run = value("--run")?.into(),
            "--archs" => o.archs = value("--archs")?.parse()?,
            "--seed" => o.seed = value("--seed")?.parse()?,
            "--epochs" => o.epochs = value("--epochs")?.parse()?,
            "--threads" => o.threads = value("--threads")?.parse()?,
            "--out" => o.out = value("--out")?.into(),
            other => bail!("unknown argument {other}; see the comment at the top of this file"),
        }
    }
    Ok(o)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    tch::set_num_threads(o.threads);
    let config = Config::load(&o.run.join("config.toml"))
        .with_context(|| format!("{}: not a run directory", o.run.display()))?;
    if config.search.weights != Weights::Shared {
        bail!("{} is not a shared-weights run", o.run.display());
    }
    let seed = config.experiment.seed;
    let space = SearchSpace::from_config(&config)?;
    let data = nas_actor::data::load(&config.data, seed)?;
    let run = RunDir::open_read_only(&o.run)?;
    let Some(ck) = run.read_checkpoint::<SharedCheckpoint>()? else {
        bail!("{} has no checkpoint", o.run.display());
    };
    let omega_steps = ck.progress.omega_steps;
    let saved = read_omega(&run, omega_steps)?;

    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut archs: Vec<Architecture> = Vec::new();
    let mut hashes = Vec::new();
    while archs.len() < o.archs {
        let arch = space.decode(&sample_uniform(&schema, &mut rng))?;
        let hash = arch.hash()?;
        if !hashes.contains(&hash) {
            hashes.push(hash);
            archs.push(arch);
        }
    }
    let mut net = Omega::new(&config, data.clone(), &archs[0], Device::Cpu, seed)?;
    net.restore(&saved)?;
    eprintln!(
        "ω of {} after {omega_steps} steps; {} architectures",
        o.run.display(),
        archs.len()
    );

    let mut alone_config = config.clone();
    alone_config.search.weights = Weights::Independent;
    alone_config.child.cnn.epochs = o.epochs;
    alone_config.child.train_batches = None;
    alone_config.child.val_batches = None;
    alone_config.reward.accuracy_window = 1;

    std::fs::create_dir_all(&o.out)?;
    let mut lines = std::fs::File::create(o.out.join("scores.jsonl"))?;
    let (mut under, mut alone) = (Vec::new(), Vec::new());
    for (k, arch) in archs.iter().enumerate() {
        let t = Instant::now();
        let scored = net.evaluate(arch)?;
        let scoring = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let outcome = train(
            arch,
            &alone_config,
            &data,
            Device::Cpu,
            nas_actor::seed::child(o.seed, k as u64),
            &mut NoProgress,
        );
        let training = t.elapsed().as_secs_f64();
        let standalone = outcome.metric.filter(|m| m.is_finite());
        eprintln!(
            "{:>2}/{}: under ω {:.4}, alone {} ({scoring:.1} s, {training:.0} s): {}",
            k + 1,
            archs.len(),
            scored.metric,
            standalone.map_or_else(|| format!("{:?}", outcome.status), |a| format!("{a:.4}")),
            arch.describe()
        );
        writeln!(
            lines,
            "{}",
            json!({
                "arch": arch.describe(),
                "params": net.param_count(arch),
                "omega_accuracy": scored.metric,
                "standalone_accuracy": standalone,
                "standalone_status": format!("{:?}", outcome.status),
                "scoring_seconds": scoring,
                "training_seconds": training,
            })
        )?;
        // Higher accuracy is better; the rank functions rank lower first.
        under.push(Some(-scored.metric));
        alone.push(standalone.map(|a| -a));
    }
    println!(
        "{} architectures, ω after {omega_steps} steps, standalone {} epochs: Spearman {:.3}, Kendall τ-b {:.3}",
        archs.len(),
        o.epochs,
        spearman(&under, &alone),
        kendall(&under, &alone)
    );
    Ok(())
}
