//! Train one fixed child of each search space and print its metrics and reward:
//! a small CNN with skip connections, a stride and pooling on generated images,
//! then a base-8 cell language model and the LSTM baseline on a slice of Penn
//! Treebank (`data/ptb`, when present) or on generated text.
//!
//! `cargo run --release --example train_child`

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use nas_actor::child::{self, ChildOutcome, EpochMetrics, Progress};
use nas_actor::config::{ChildModel, Config};
use nas_actor::data::{Corpus, ImageData, ImageSet, TaskData, Vocab};
use nas_actor::space::{Architecture, CnnArch, CnnLayer, SearchSpace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Device;

/// Prints one line per epoch.
struct Lines;

impl Progress for Lines {
    fn on_epoch(&mut self, m: &EpochMetrics) {
        println!(
            "  epoch {}: val metric {:.3}{} ({:.1} s)",
            m.epoch,
            m.val_metric,
            nas_actor::format::losses(m.train_loss, m.val_loss),
            m.seconds
        );
    }
}

fn config(space: &str, dataset: &str) -> anyhow::Result<Config> {
    let text = format!(
        "[experiment]\nname = \"train_child\"\noutput_dir = \"runs/train_child\"\nbudget = 1\n\
         [search]\nspace = \"{space}\"\n[data]\ndataset = \"{dataset}\"\ndir = \"data\"\n"
    );
    Ok(Config::from_toml(&text, Path::new("train_child.toml"))?)
}

fn report(what: &str, description: &str, out: &ChildOutcome) {
    println!(
        "{what}: {} | status {:?}, metric {:?}, reward {:.4}, {} params, {:.1} s{}",
        description,
        out.status,
        out.metric,
        out.reward,
        out.params,
        out.seconds,
        out.message
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
}

/// 16×16 RGB images: the class picks the bright channel and whether stripes run across or down.
fn images(n: usize, rng: &mut ChaCha8Rng) -> ImageSet {
    let (c, h, w) = (3, 16, 16);
    let mut pixels = Vec::with_capacity(n * c * h * w);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.random_range(0..6usize);
        labels.push(label as i64);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let stripe = if label < 3 { y % 4 < 2 } else { x % 4 < 2 };
                    let v = 60.0
                        + if ch == label % 3 { 90.0 } else { 0.0 }
                        + if stripe { 50.0 } else { 0.0 };
                    pixels.push((v + rng.random_range(-40.0..40.0f64)).clamp(0.0, 255.0) as u8);
                }
            }
        }
    }
    ImageSet {
        pixels,
        labels,
        channels: c,
        height: h,
        width: w,
    }
}

fn image_data() -> ImageData {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (train, valid) = (images(1024, &mut rng), images(256, &mut rng));
    let plane = 16 * 16;
    let (mut mean, mut std) = (Vec::new(), Vec::new());
    for ch in 0..3 {
        let v: Vec<f64> = train
            .pixels
            .chunks(plane)
            .skip(ch)
            .step_by(3)
            .flatten()
            .map(|&p| f64::from(p) / 255.0)
            .collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        mean.push(m as f32);
        std.push((v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt() as f32);
    }
    ImageData {
        train,
        valid,
        mean,
        std,
        classes: 6,
    }
}

/// The first `limit` tokens of a PTB file (each line ends in `<eos>`), growing `vocab`.
fn ptb_tokens(
    path: &Path,
    limit: usize,
    vocab: &mut Vec<String>,
    ids: &mut HashMap<String, i64>,
) -> anyhow::Result<Vec<i64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut tokens = Vec::new();
    for word in text
        .lines()
        .flat_map(|l| l.split_whitespace().chain(["<eos>"]))
    {
        let id = *ids.entry(word.to_string()).or_insert_with(|| {
            vocab.push(word.to_string());
            vocab.len() as i64 - 1
        });
        tokens.push(id);
        if tokens.len() == limit {
            break;
        }
    }
    Ok(tokens)
}

/// A PTB slice, or text of a small grammar when `data/ptb` is absent.
fn text() -> anyhow::Result<(Corpus, &'static str)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ptb");
    if dir.join("ptb.train.txt").exists() {
        let (mut words, mut ids) = (Vec::new(), HashMap::new());
        let train = ptb_tokens(&dir.join("ptb.train.txt"), 40_000, &mut words, &mut ids)?;
        let valid = ptb_tokens(&dir.join("ptb.valid.txt"), 6_000, &mut words, &mut ids)?;
        return Ok((
            Corpus {
                vocab: Vocab { words },
                train,
                valid,
            },
            "Penn Treebank slice",
        ));
    }
    let words: Vec<String> = "<eos> the a cat dog bird sees eats likes"
        .split(' ')
        .map(String::from)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut sentence = |out: &mut Vec<i64>| {
        for part in [1..3, 3..6, 6..9, 1..3, 3..6] {
            out.push(rng.random_range(part) as i64);
        }
        out.push(0);
    };
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    (0..4000).for_each(|_| sentence(&mut train));
    (0..400).for_each(|_| sentence(&mut valid));
    Ok((
        Corpus {
            vocab: Vocab { words },
            train,
            valid,
        },
        "generated text",
    ))
}

fn main() -> anyhow::Result<()> {
    let device = Device::cuda_if_available();
    println!("device: {device:?}");

    let mut cnn = config("cnn", "cifar10")?;
    (
        cnn.child.cnn.epochs,
        cnn.child.cnn.batch_size,
        cnn.reward.accuracy_window,
    ) = (4, 64, 2);
    let layer = |fh, fw, stride, filters, max_pool, inputs: Vec<usize>| CnnLayer {
        filter_height: fh,
        filter_width: fw,
        stride_height: stride,
        stride_width: stride,
        num_filters: filters,
        max_pool,
        inputs,
    };
    let arch = Architecture::Cnn(CnnArch {
        layers: vec![
            layer(3, 3, 1, 24, false, vec![]),
            layer(5, 3, 2, 36, false, vec![0]),
            layer(3, 5, 1, 36, true, vec![1]),
            layer(1, 1, 1, 48, false, vec![0, 2]),
        ],
    });
    println!("CNN on generated 16×16 images (6 classes, chance 0.167):");
    let out = child::train(
        &arch,
        &cnn,
        &TaskData::Images(image_data()),
        device,
        0,
        &mut Lines,
    );
    report("CNN", &arch.describe(), &out);

    let (corpus, source) = text()?;
    let mut lm = config("cell", "ptb")?;
    lm.space.cell.base = 8;
    let l = &mut lm.child.lm;
    (
        l.epochs,
        l.embedding_size,
        l.hidden_size,
        l.dropout,
        l.init_range,
    ) = (2, 200, 200, 0.2, 0.1);
    (lm.child.train_batches, lm.child.val_batches) = (Some(60), Some(10));
    // A base-8 cell sampled uniformly from the paper's space with a fixed seed.
    let space = SearchSpace::from_config(&lm)?;
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let tokens: Vec<usize> = schema
        .steps
        .iter()
        .map(|s| match *s {
            nas_actor::space::Step::Choice { head } => rng.random_range(0..schema.heads[head].size),
            nas_actor::space::Step::Anchor { .. } => 0,
        })
        .collect();
    let cell = space.decode(&tokens)?;
    let data = TaskData::Text(corpus);
    for model in [ChildModel::Searched, ChildModel::Lstm] {
        lm.child.model = model;
        println!("{model:?} language model on {source} (reward 80 / ppl²):");
        let out = child::train(&cell, &lm, &data, device, 0, &mut Lines);
        let description = match model {
            ChildModel::Searched => cell.describe(),
            ChildModel::Lstm => "tch LSTM baseline".to_string(),
        };
        report(&format!("{model:?}"), &description, &out);
    }
    Ok(())
}
