//! Tests of `child`: random architectures of both spaces build, run and count their
//! parameters; the fast cell matches the paper's worked example and a naive reference;
//! small children learn generated data; divergence, timeouts, cancellation and
//! mismatched data become failed or diverged outcomes; the pace estimate.

mod architectures;
mod cell;
mod early_stop;
mod pace;
mod training;

use std::collections::BTreeSet;
use std::path::Path;

use nas_actor::child::{self, ChildStatus, EpochMetrics, FastCell, NoProgress, Progress};
use nas_actor::config::{ChildModel, Config};
use nas_actor::data::{Corpus, ImageData, ImageSet, TaskData, Vocab};
use nas_actor::space::cell::{children, num_nodes, Activation, Combination};
use nas_actor::space::{
    Architecture, CellArch, CellNode, CellSpace, CnnArch, CnnLayer, Schema, Step,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

const ALL_COMBINATIONS: [Combination; 3] =
    [Combination::Add, Combination::ElemMult, Combination::Max];
const ALL_ACTIVATIONS: [Activation; 5] = [
    Activation::Identity,
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Relu,
    Activation::Sin,
];

/// A valid config of `space` ("cnn" or "cell") with tiny children.
fn test_config(space: &str) -> Config {
    let dataset = if space == "cnn" { "cifar10" } else { "ptb" };
    let text = format!(
        "[experiment]\nname = \"t\"\noutput_dir = \"/tmp/nas-child-test\"\nbudget = 1\n\
         [search]\nspace = \"{space}\"\n[data]\ndataset = \"{dataset}\"\ndir = \"/tmp\"\n"
    );
    let mut c = match Config::from_toml(&text, Path::new("test.toml")) {
        Ok(c) => c,
        Err(e) => panic!("test config: {e}"),
    };
    c.child.cnn.epochs = 2;
    c.child.cnn.batch_size = 16;
    c.reward.accuracy_window = 2;
    let lm = &mut c.child.lm;
    (
        lm.epochs,
        lm.embedding_size,
        lm.hidden_size,
        lm.bptt,
        lm.batch_size,
    ) = (2, 16, 16, 8, 8);
    lm.dropout = 0.0;
    c
}

/// A random token sequence of `schema` (anchors: one 0/1 token per earlier layer).
fn random_tokens(schema: &Schema, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut tokens = Vec::new();
    for step in &schema.steps {
        match *step {
            Step::Choice { head } => tokens.push(rng.random_range(0..schema.heads[head].size)),
            Step::Anchor { layer } => tokens.extend((0..layer).map(|_| rng.random_range(0..2))),
        }
    }
    tokens
}

/// Images whose class sets the colour (one channel bright per class) plus noise.
fn image_set(
    n: usize,
    classes: usize,
    (c, h, w): (usize, usize, usize),
    rng: &mut ChaCha8Rng,
) -> ImageSet {
    let mut pixels = Vec::with_capacity(n * c * h * w);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.random_range(0..classes);
        labels.push(label as i64);
        for ch in 0..c {
            let base =
                if ch == label % c { 170.0 } else { 60.0 } + if label >= c { 40.0 } else { 0.0 };
            for _ in 0..h * w {
                pixels.push((base + rng.random_range(-50.0..50.0f64)).clamp(0.0, 255.0) as u8);
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

/// Train/valid images with the training set's per-channel statistics.
fn image_data(
    train: usize,
    valid: usize,
    classes: usize,
    shape: (usize, usize, usize),
    seed: u64,
) -> ImageData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let train = image_set(train, classes, shape, &mut rng);
    let valid = image_set(valid, classes, shape, &mut rng);
    let plane = shape.1 * shape.2;
    let (mut mean, mut std) = (Vec::new(), Vec::new());
    for ch in 0..shape.0 {
        let values: Vec<f64> = train
            .pixels
            .chunks(plane)
            .skip(ch)
            .step_by(shape.0)
            .flatten()
            .map(|&p| f64::from(p) / 255.0)
            .collect();
        let m = values.iter().sum::<f64>() / values.len() as f64;
        let v = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / values.len() as f64;
        mean.push(m as f32);
        std.push(v.sqrt() as f32);
    }
    ImageData {
        train,
        valid,
        mean,
        std,
        classes,
    }
}

/// Text of a small grammar: `det noun verb det noun <eos>`.
fn corpus(train_sentences: usize, valid_sentences: usize, seed: u64) -> Corpus {
    let words: Vec<String> = "<eos> the a cat dog bird fish sees eats likes"
        .split(' ')
        .map(String::from)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sentence = |out: &mut Vec<i64>| {
        for part in [1..3, 3..7, 7..10, 1..3, 3..7] {
            out.push(rng.random_range(part) as i64);
        }
        out.push(0);
    };
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    (0..train_sentences).for_each(|_| sentence(&mut train));
    (0..valid_sentences).for_each(|_| sentence(&mut valid));
    Corpus {
        vocab: Vocab { words },
        train,
        valid,
    }
}

/// Perplexity of `tokens` under their own unigram distribution.
fn unigram_perplexity(tokens: &[i64]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    tokens
        .iter()
        .for_each(|t| *counts.entry(*t).or_insert(0usize) += 1);
    let n = tokens.len() as f64;
    let entropy: f64 = counts
        .values()
        .map(|&c| -(c as f64 / n) * (c as f64 / n).ln())
        .sum();
    entropy.exp()
}

fn numel(vs: &nn::VarStore) -> usize {
    vs.trainable_variables().iter().map(|t| t.numel()).sum()
}

/// Every trainable variable has a defined, finite gradient.
fn assert_finite_grads(vs: &nn::VarStore, what: &str) {
    for (name, var) in vs.variables() {
        if var.requires_grad() {
            let g = var.grad();
            assert!(g.defined(), "{what}: {name} has no gradient");
            let finite = g.isfinite().all().int64_value(&[]) == 1;
            assert!(finite, "{what}: {name} has a non-finite gradient");
        }
    }
}

/// A cell space with every combination and activation, base `base`.
fn full_cell_space(base: usize) -> CellSpace {
    let mut c = test_config("cell").space.cell;
    c.base = base;
    c.combinations = ALL_COMBINATIONS.to_vec();
    c.activations = ALL_ACTIVATIONS.to_vec();
    CellSpace::new(c)
}

/// Three layers with skip connections, no strides or pooling.
fn fixed_cnn() -> Architecture {
    let layer = |fh, fw, filters, inputs: Vec<usize>| CnnLayer {
        filter_height: fh,
        filter_width: fw,
        stride_height: 1,
        stride_width: 1,
        num_filters: filters,
        max_pool: false,
        inputs,
    };
    Architecture::Cnn(CnnArch {
        layers: vec![
            layer(3, 3, 8, vec![]),
            layer(3, 1, 8, vec![0]),
            layer(1, 3, 8, vec![0, 1]),
        ],
    })
}
