//! Benchmark 2: child training with our tch code against PyTorch eager, on
//! the same fixed models, steps, batch and thread count, in one command:
//! the plain LSTM language model, one sampled base-8 cell language model and
//! one sampled 15-layer CNN with skip connections. The tch side builds the
//! models exactly as `child::train` does (`WordLm::lstm`, `WordLm::cell`,
//! `CnnChild`) and times the same step (forward, cross-entropy, backward,
//! SGD); `bench/reference.py` does the same in PyTorch from the same JSON
//! description of the architectures. Both run on fixed random data after
//! warm-up steps.
//!
//! Run: `cargo run --release --example bench_children -- [--tiny] [--threads N]
//! [--steps N] [--rounds N]` (defaults: 1 thread, 20 LM steps, 5 CNN steps,
//! 2 rounds alternating PyTorch and tch; each side's best round counts).

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use bench_common::{arg, machine, table, Size};
use nas_actor::child::{init_cnn_params, init_lm_params, CnnChild, WordLm};
use nas_actor::config::CellSpaceConfig;
use nas_actor::config::{CnnSpaceConfig, LmChildConfig};
use nas_actor::space::cell::CellSpace;
use nas_actor::space::cnn::CnnSpace;
use nas_actor::space::{sample_uniform, CellArch, CnnArch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

/// The shared description of the three models (written as JSON for the Python side).
#[derive(Debug, Clone)]
pub struct Spec {
    pub threads: usize,
    /// Alternating PyTorch/tch rounds; the best time of each side counts.
    pub rounds: usize,
    pub warmup: usize,
    pub lm_steps: usize,
    pub cnn_steps: usize,
    pub lm: LmChildConfig,
    pub vocab: usize,
    pub cell: CellArch,
    pub cnn: CnnArch,
    pub cnn_batch: usize,
    /// channels, height, width.
    pub image: [usize; 3],
    pub classes: usize,
}

/// Throughput of one model in both implementations.
#[derive(Debug, Clone)]
pub struct ChildRow {
    pub model: String,
    pub unit: &'static str,
    pub tch: f64,
    pub torch: f64,
}

impl Spec {
    /// The models of a size: Zaremba's "small" LM shape (vocab 10,000, 2×200,
    /// BPTT 35, batch 20) and a 15-layer CNN on 32×32×3 images, batch 16.
    pub fn new(size: Size, threads: usize) -> anyhow::Result<Spec> {
        let mut rng = ChaCha8Rng::seed_from_u64(2017);
        let cell_space = CellSpace::new(CellSpaceConfig {
            base: size.pick(8, 2),
            ..Default::default()
        });
        let cell = cell_space.decode(&sample_uniform(&cell_space.schema(), &mut rng))?;
        let cnn_space = CnnSpace::new(CnnSpaceConfig {
            layers: size.pick(15, 3),
            ..Default::default()
        });
        let layers = cnn_space.config().layers;
        let cnn = cnn_space.decode(&sample_uniform(&cnn_space.schema(layers), &mut rng))?;
        let (hidden, vocab, bptt, batch) = size.pick((200, 10_000, 35, 20), (16, 50, 5, 4));
        Ok(Spec {
            threads,
            rounds: arg("--rounds").unwrap_or(size.pick(2, 1)),
            warmup: size.pick(3, 1),
            lm_steps: arg("--steps").unwrap_or(size.pick(20, 2)),
            cnn_steps: arg("--steps").map_or(size.pick(5, 1), |s: usize| s.div_ceil(4).max(1)),
            lm: LmChildConfig {
                embedding_size: hidden,
                hidden_size: hidden,
                layers: 2,
                bptt,
                batch_size: batch,
                dropout: 0.0,
                learning_rate: 1.0,
                grad_clip: 5.0,
                init_range: 0.1,
                ..Default::default()
            },
            vocab,
            cell,
            cnn,
            cnn_batch: size.pick(16, 2),
            image: size.pick([3, 32, 32], [3, 8, 8]),
            classes: 10,
        })
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "threads": self.threads,
            "warmup": self.warmup,
            "lm_steps": self.lm_steps,
            "cnn_steps": self.cnn_steps,
            "lm": {
                "vocab": self.vocab,
                "embedding": self.lm.embedding_size,
                "hidden": self.lm.hidden_size,
                "layers": self.lm.layers,
                "bptt": self.lm.bptt,
                "batch": self.lm.batch_size,
                "lr": self.lm.learning_rate,
                "clip": self.lm.grad_clip,
                "init_range": self.lm.init_range,
            },
            "cell": self.cell,
            "cnn": {
                "arch": self.cnn,
                "batch": self.cnn_batch,
                "image": self.image,
                "classes": self.classes,
                "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "bn_eps": 1e-5,
            },
        })
    }
}

/// Seconds per step of `steps` language-model training steps (after `warmup`),
/// exactly as `child::train` steps: loss × length backward, clip, SGD.
fn time_lm(spec: &Spec, model: Option<&CellArch>) -> anyhow::Result<f64> {
    let vs = nn::VarStore::new(Device::Cpu);
    let lm = match model {
        Some(arch) => WordLm::cell(&vs.root(), arch, spec.vocab, &spec.lm),
        None => WordLm::lstm(&vs.root(), spec.vocab, &spec.lm),
    }
    .map_err(anyhow::Error::msg)?;
    init_lm_params(&vs, spec.lm.init_range, 1)?;
    let mut opt = nn::Sgd::default().build(&vs, spec.lm.learning_rate)?;
    let (t, b) = (spec.lm.bptt as i64, spec.lm.batch_size as i64);
    let data: Vec<Tensor> = (0..spec.warmup + spec.lm_steps)
        .map(|_| Tensor::randint(spec.vocab as i64, [t + 1, b], (Kind::Int64, Device::Cpu)))
        .collect();
    let mut state = lm.zero_state(b);
    let mut start = Instant::now();
    for (i, seq) in data.iter().enumerate() {
        if i == spec.warmup {
            start = Instant::now();
        }
        let (x, y) = (seq.f_narrow(0, 0, t)?, seq.f_narrow(0, 1, t)?);
        let (logits, next) = lm.forward_t(&x, &state, true)?;
        let loss = logits
            .f_reshape([-1, spec.vocab as i64])?
            .f_cross_entropy_loss(
                &y.f_reshape([-1])?,
                None::<Tensor>,
                Reduction::Mean,
                -100,
                0.0,
            )?;
        let value = loss.f_double_value(&[])?;
        if !value.is_finite() {
            bail!("the LM loss became {value}");
        }
        opt.zero_grad();
        (loss * t as f64).f_backward()?;
        opt.clip_grad_norm(spec.lm.grad_clip);
        opt.step();
        state = next.detach();
    }
    Ok(start.elapsed().as_secs_f64() / spec.lm_steps as f64)
}

/// Seconds per CNN training step (Nesterov SGD, weight decay), as `child::train` steps.
fn time_cnn(spec: &Spec) -> anyhow::Result<f64> {
    let vs = nn::VarStore::new(Device::Cpu);
    let [c, h, w] = spec.image.map(|v| v as i64);
    let model = CnnChild::new(&vs.root(), &spec.cnn, spec.image[0], spec.classes, 2, 1e-5);
    init_cnn_params(&vs, 1)?;
    let sgd = nn::Sgd {
        momentum: 0.9,
        dampening: 0.0,
        wd: 1e-4,
        nesterov: true,
    };
    let mut opt = sgd.build(&vs, 0.1)?;
    let n = spec.cnn_batch as i64;
    let data: Vec<(Tensor, Tensor)> = (0..spec.warmup + spec.cnn_steps)
        .map(|_| {
            (
                Tensor::randn([n, c, h, w], (Kind::Float, Device::Cpu)),
                Tensor::randint(spec.classes as i64, [n], (Kind::Int64, Device::Cpu)),
            )
        })
        .collect();
    let mut start = Instant::now();
    for (i, (x, y)) in data.iter().enumerate() {
        if i == spec.warmup {
            start = Instant::now();
        }
        let loss = model.forward_t(x, true)?.f_cross_entropy_loss(
            y,
            None::<Tensor>,
            Reduction::Mean,
            -100,
            0.0,
        )?;
        let value = loss.f_double_value(&[])?;
        if !value.is_finite() {
            bail!("the CNN loss became {value}");
        }
        opt.zero_grad();
        loss.f_backward()?;
        opt.step();
    }
    Ok(start.elapsed().as_secs_f64() / spec.cnn_steps as f64)
}

/// The repository root (where `bench/reference.py` and `.venv` are).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's Python when there is one, else `python3`.
fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Run `bench/reference.py` on the spec; its seconds per step of the three models.
fn time_reference(spec: &Spec, dir: &Path) -> anyhow::Result<serde_json::Value> {
    let path = dir.join("spec.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&spec.to_json())?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let out = Command::new(python())
        .arg(root().join("bench/reference.py"))
        .arg(&path)
        .output()
        .with_context(|| format!("cannot start {}", python().display()))?;
    if !out.status.success() {
        bail!(
            "bench/reference.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("bench/reference.py printed {last:?}"))
}

/// Both implementations on the three models: tokens/s for the LMs, images/s for the CNN.
pub fn bench(spec: &Spec) -> anyhow::Result<Vec<ChildRow>> {
    tch::set_num_threads(spec.threads as i32);
    tch::manual_seed(0);
    let tmp = tempfile::tempdir()?;
    // Seconds per step [LSTM, cell, CNN] of each side: the best of the rounds,
    // which alternate PyTorch and tch so that a change in the machine's load
    // hits both.
    let (mut ours, mut theirs) = ([f64::INFINITY; 3], [f64::INFINITY; 3]);
    for _ in 0..spec.rounds {
        let reference = time_reference(spec, tmp.path())?;
        for (i, key) in ["lstm", "cell", "cnn"].iter().enumerate() {
            let s = reference[key]
                .as_f64()
                .with_context(|| format!("bench/reference.py gave no {key}"))?;
            theirs[i] = theirs[i].min(s);
        }
        let times = [
            time_lm(spec, None)?,
            time_lm(spec, Some(&spec.cell))?,
            time_cnn(spec)?,
        ];
        for (o, t) in ours.iter_mut().zip(times) {
            *o = o.min(t);
        }
    }
    let tokens = (spec.lm.bptt * spec.lm.batch_size) as f64;
    let images = spec.cnn_batch as f64;
    let row = |i: usize, model: String, unit: &'static str, items: f64| ChildRow {
        model,
        unit,
        tch: items / ours[i],
        torch: items / theirs[i],
    };
    Ok(vec![
        row(
            0,
            format!("LSTM LM {}×{}", spec.lm.layers, spec.lm.hidden_size),
            "tokens/s",
            tokens,
        ),
        row(
            1,
            format!(
                "base-{} cell LM {}×{}",
                spec.cell.base, spec.lm.layers, spec.lm.hidden_size
            ),
            "tokens/s",
            tokens,
        ),
        row(
            2,
            format!("{}-layer CNN with skips", spec.cnn.layers.len()),
            "images/s",
            images,
        ),
    ])
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    let spec = Spec::new(size, arg("--threads").unwrap_or(1))?;
    println!("machine: {}", machine());
    println!(
        "cell: {}",
        nas_actor::space::Architecture::Cell(spec.cell.clone()).describe()
    );
    println!(
        "cnn:  {}",
        nas_actor::space::Architecture::Cnn(spec.cnn.clone()).describe()
    );
    let rows = bench(&spec)?;
    println!(
        "\n{} thread(s), best of {} rounds; LM: vocab {}, BPTT {}, batch {}, {} steps; CNN: {:?} images, batch {}, {} steps; {} warm-up steps",
        spec.threads, spec.rounds, spec.vocab, spec.lm.bptt, spec.lm.batch_size, spec.lm_steps, spec.image, spec.cnn_batch, spec.cnn_steps, spec.warmup
    );
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                r.unit.to_string(),
                format!("{:.1}", r.tch),
                format!("{:.1}", r.torch),
                format!("{:.3}", r.tch / r.torch),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["model", "unit", "tch", "PyTorch", "tch/PyTorch"],
            &table_rows
        )
    );
    Ok(())
}
