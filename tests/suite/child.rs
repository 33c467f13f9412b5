//! Tests of `child`: random architectures of both spaces build, run and count their
//! parameters; the fast cell matches the paper's worked example and a naive reference;
//! small children learn generated data; divergence, timeouts, cancellation and
//! mismatched data become failed or diverged outcomes.

use std::collections::BTreeSet;
use std::path::Path;

use nas_actor::child::{
    self, ChildStatus, CnnChild, EpochMetrics, FastCell, NoProgress, Progress, WordLm,
};
use nas_actor::config::{ChildModel, CnnSpaceConfig, Config};
use nas_actor::data::{Corpus, ImageData, ImageSet, TaskData, Vocab};
use nas_actor::space::cell::{children, num_nodes, Activation, Combination};
use nas_actor::space::{
    Architecture, CellArch, CellNode, CellSpace, CnnArch, CnnLayer, CnnSpace, Schema, Step,
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

#[test]
fn random_cnn_architectures_build_run_and_count_params() {
    let data = image_data(4, 2, 3, (3, 9, 7), 0);
    let mut config = test_config("cnn");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let space = CnnSpace::new(CnnSpaceConfig {
        num_filters: vec![2, 3, 5],
        predict_strides: true,
        predict_pooling: true,
        ..Default::default()
    });
    config.space.cnn = space.config().clone();
    let (mut strided, mut pooled, mut skips) = (0, 0, 0);
    for i in 0..50 {
        let tokens = random_tokens(&space.schema(1 + i % 6), &mut rng);
        let arch = match space.decode(&tokens) {
            Ok(a) => a,
            Err(e) => panic!("decode: {e}"),
        };
        strided += arch
            .layers
            .iter()
            .filter(|l| l.stride_height * l.stride_width > 1)
            .count();
        pooled += arch.layers.iter().filter(|l| l.max_pool).count();
        skips += arch.layers.iter().filter(|l| l.inputs.len() > 1).count();
        let vs = nn::VarStore::new(Device::Cpu);
        let model = CnnChild::new(&vs.root(), &arch, 3, 3, 2, 1e-5);
        child::init_cnn_params(&vs, i as u64).expect("init");
        let images = Tensor::randn([2, 3, 9, 7], (Kind::Float, Device::Cpu));
        let logits = model.forward_t(&images, true).expect("forward");
        assert_eq!(logits.size(), vec![2, 3], "{}", arch.describe());
        logits.sum(Kind::Float).backward();
        assert_finite_grads(&vs, &arch.describe());
        let eval = model.forward_t(&images, false).expect("eval forward");
        assert_eq!(eval.size(), vec![2, 3]);
        let arch = Architecture::Cnn(arch);
        assert_eq!(
            numel(&vs),
            child::param_count(&arch, &config, &TaskData::Images(data.clone()))
        );
    }
    assert!(
        strided > 10 && pooled > 10 && skips > 10,
        "{strided} {pooled} {skips}"
    );
}

/// A cell space with every combination and activation, base `base`.
fn full_cell_space(base: usize) -> CellSpace {
    let mut c = test_config("cell").space.cell;
    c.base = base;
    c.combinations = ALL_COMBINATIONS.to_vec();
    c.activations = ALL_ACTIVATIONS.to_vec();
    CellSpace::new(c)
}

#[test]
fn random_cells_build_run_and_count_params() {
    let corpus = corpus(4, 2, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for i in 0..50 {
        let base = [2, 8][i % 2];
        let space = full_cell_space(base);
        let arch = space
            .decode(&random_tokens(&space.schema(), &mut rng))
            .expect("decode");
        let mut config = test_config("cell");
        let lm = &mut config.child.lm;
        (lm.embedding_size, lm.hidden_size, lm.layers, lm.dropout) =
            (5, if i % 3 == 0 { 5 } else { 4 }, 2, 0.3);
        lm.tied = i % 3 == 0;
        config.child.model = if i % 10 == 9 {
            ChildModel::Lstm
        } else {
            ChildModel::Searched
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = match config.child.model {
            ChildModel::Searched => WordLm::cell(&vs.root(), &arch, 10, &config.child.lm),
            ChildModel::Lstm => WordLm::lstm(&vs.root(), 10, &config.child.lm),
        }
        .expect("build");
        child::init_lm_params(&vs, 0.1, i as u64).expect("init");
        let tokens = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6, 7, 8, 9]).view([3, 3]);
        let (logits, state) = model
            .forward_t(&tokens, &model.zero_state(3), true)
            .expect("forward");
        assert_eq!(logits.size(), vec![3, 3, 10], "{}", arch.describe());
        assert_eq!(state.layers.len(), 2);
        logits.sum(Kind::Float).backward();
        assert_finite_grads(&vs, &arch.describe());
        let arch = Architecture::Cell(arch);
        assert_eq!(
            numel(&vs),
            child::param_count(&arch, &config, &TaskData::Text(corpus.clone()))
        );
    }
}

/// Deterministic weights for a test: `scale·sin(1 + index)`.
fn set_weights(t: &Tensor, scale: f64) {
    let n = t.numel();
    let values: Vec<f32> = (0..n)
        .map(|i| (scale * (1.0 + i as f64).sin()) as f32)
        .collect();
    tch::no_grad(|| {
        t.shallow_clone()
            .copy_(&Tensor::from_slice(&values).view(t.size().as_slice()))
    });
}

fn node(combination: Combination, activation: Activation) -> CellNode {
    CellNode {
        combination,
        activation,
    }
}

#[test]
fn paper_base2_example_matches_hand_computation() {
    let arch = CellArch {
        base: 2,
        nodes: vec![
            node(Combination::Add, Activation::Tanh),
            node(Combination::ElemMult, Activation::Relu),
            node(Combination::ElemMult, Activation::Sigmoid),
        ],
        inject: node(Combination::Add, Activation::Relu),
        inject_node: 0,
        cell_node: 1,
    };
    let (input, hidden, batch, steps) = (3, 4, 2, 3);
    let vs = nn::VarStore::new(Device::Cpu);
    let cell = FastCell::new(&vs.root(), &arch, input, hidden).expect("cell");
    set_weights(cell.input_weight(), 0.8);
    set_weights(cell.recurrent_weight(), 0.6);
    let h = hidden as i64;
    let (w1, w3) = (
        cell.input_weight().narrow(1, 0, h),
        cell.input_weight().narrow(1, h, h),
    );
    let (w2, w4) = (
        cell.recurrent_weight().narrow(1, 0, h),
        cell.recurrent_weight().narrow(1, h, h),
    );
    let xs = Tensor::from_slice(
        &(0..steps * batch * input)
            .map(|i| (i as f32 * 0.37).cos())
            .collect::<Vec<_>>(),
    )
    .view([steps as i64, batch as i64, input as i64]);
    let mut state = cell.zero_state(batch as i64);
    state.h = Tensor::full([2, h], 0.3, (Kind::Float, Device::Cpu));
    state.c = Tensor::full([2, h], -0.2, (Kind::Float, Device::Cpu));
    let (outputs, last) = tch::no_grad(|| cell.seq(&xs, &state)).expect("seq");
    let (mut hp, mut cp) = (state.h.shallow_clone(), state.c.shallow_clone());
    for t in 0..steps as i64 {
        let x = xs.get(t);
        let a0 = (x.matmul(&w1) + hp.matmul(&w2)).tanh();
        let c_new = x.matmul(&w3) * hp.matmul(&w4);
        let a1 = c_new.relu();
        let a0_new = (a0 + &cp).relu();
        let a2 = (a0_new * a1).sigmoid();
        assert!(outputs.get(t).allclose(&a2, 1e-5, 1e-6, false), "step {t}");
        (hp, cp) = (a2, c_new);
    }
    assert!(last.h.allclose(&hp, 1e-5, 1e-6, false));
    assert!(last.c.allclose(&cp, 1e-5, 1e-6, false));
}

fn ref_combine(c: Combination, a: &Tensor, b: &Tensor) -> Tensor {
    match c {
        Combination::Add => a + b,
        Combination::ElemMult => a * b,
        Combination::Max => a.where_self(&a.ge_tensor(b), b),
    }
}

fn ref_activate(a: Activation, x: &Tensor) -> Tensor {
    match a {
        Activation::Identity => x.shallow_clone(),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => (-x).exp().g_add_scalar(1.0).reciprocal(),
        Activation::Relu => x.clamp_min(0.0),
        Activation::Sin => x.sin(),
    }
}

/// The cell node by node: separate `W_k x` and `U_k h` products per leaf and step.
fn naive_seq(cell: &FastCell, xs: &Tensor, h0: &Tensor, c0: &Tensor) -> (Tensor, Tensor, Tensor) {
    let a = cell.arch();
    let hid = h0.size()[1];
    let (mut h, mut c) = (h0.shallow_clone(), c0.shallow_clone());
    let mut outs = Vec::new();
    for t in 0..xs.size()[0] {
        let x = xs.get(t);
        let (mut pre, mut out): (Vec<Tensor>, Vec<Tensor>) = (Vec::new(), Vec::new());
        for k in 0..num_nodes(a.base) {
            let n = a.nodes[k];
            let p = match children(a.base, k) {
                None => {
                    let wk = cell.input_weight().narrow(1, k as i64 * hid, hid);
                    let uk = cell.recurrent_weight().narrow(1, k as i64 * hid, hid);
                    ref_combine(n.combination, &x.matmul(&wk), &h.matmul(&uk))
                }
                Some((l, r)) => ref_combine(n.combination, &out[l], &out[r]),
            };
            let mut o = ref_activate(n.activation, &p);
            if k == a.inject_node {
                o = ref_activate(
                    a.inject.activation,
                    &ref_combine(a.inject.combination, &o, &c),
                );
            }
            pre.push(p);
            out.push(o);
        }
        (h, c) = (
            out[num_nodes(a.base) - 1].shallow_clone(),
            pre[a.cell_node].shallow_clone(),
        );
        outs.push(h.shallow_clone());
    }
    (Tensor::stack(&outs, 0), h, c)
}

#[test]
fn fast_cell_matches_naive_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut acts, mut combs, mut inject_at, mut c_at) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for i in 0..40 {
        let base = [2, 8][i % 2];
        let space = full_cell_space(base);
        let mut arch = space
            .decode(&random_tokens(&space.schema(), &mut rng))
            .expect("decode");
        if i % 5 == 4 {
            arch.inject_node = num_nodes(base) - 1;
        }
        if i % 7 == 3 {
            arch.cell_node = num_nodes(base) - 1;
        }
        for n in arch.nodes.iter().chain([&arch.inject]) {
            acts.insert(n.activation);
            combs.insert(n.combination);
        }
        let kind = |k: usize| {
            if k < base {
                0
            } else if k + 1 == num_nodes(base) {
                2
            } else {
                1
            }
        };
        inject_at.insert((base, kind(arch.inject_node)));
        c_at.insert((base, kind(arch.cell_node)));
        let vs = nn::VarStore::new(Device::Cpu);
        let cell = FastCell::new(&vs.root(), &arch, 3, 5).expect("cell");
        set_weights(cell.input_weight(), 0.7);
        set_weights(cell.recurrent_weight(), 0.5);
        let opts = (Kind::Float, Device::Cpu);
        let xs = Tensor::rand([4, 2, 3], opts) * 2.0 - 1.0;
        let mut state = cell.zero_state(2);
        state.h = Tensor::rand([2, 5], opts) - 0.5;
        state.c = Tensor::rand([2, 5], opts) - 0.5;
        let (fast, last) = tch::no_grad(|| cell.seq(&xs, &state)).expect("seq");
        let (naive, h, c) = tch::no_grad(|| naive_seq(&cell, &xs, &state.h, &state.c));
        let what = arch.describe();
        assert!(
            fast.allclose(&naive, 1e-4, 1e-5, false),
            "outputs differ: {what}"
        );
        assert!(last.h.allclose(&h, 1e-4, 1e-5, false), "h differs: {what}");
        assert!(last.c.allclose(&c, 1e-4, 1e-5, false), "c differs: {what}");
    }
    assert_eq!(acts.len(), 5);
    assert_eq!(combs.len(), 3);
    // Base 2 has leaves and a root; base 8 also inner nodes.
    assert_eq!(
        inject_at.len(),
        5,
        "inject at every kind of node: {inject_at:?}"
    );
    assert_eq!(c_at.len(), 5, "c_t from every kind of node: {c_at:?}");
}

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

#[test]
fn cnn_learns_generated_images() {
    let data = TaskData::Images(image_data(256, 96, 4, (3, 8, 8), 3));
    let mut config = test_config("cnn");
    config.child.cnn.epochs = 3;
    let arch = fixed_cnn();
    let out = child::train(&arch, &config, &data, Device::Cpu, 5, &mut NoProgress);
    assert_eq!(out.status, ChildStatus::Ok, "{:?}", out.message);
    assert_eq!(out.epochs.len(), 3);
    let metric = out.metric.expect("metric");
    assert!(
        metric > 0.7,
        "validation accuracy {metric} (chance 0.25): {:?}",
        out.epochs
    );
    let best = out.epochs[1..]
        .iter()
        .map(|e| e.val_metric)
        .fold(0.0, f64::max);
    assert_eq!(metric, best);
    assert!((out.reward - metric.powi(3)).abs() < 1e-12);
    assert_eq!(out.params, child::param_count(&arch, &config, &data));
    let again = child::train(&arch, &config, &data, Device::Cpu, 5, &mut NoProgress);
    assert_eq!(
        again.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
        out.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
        "same seed, same child"
    );
}

#[test]
fn language_models_learn_generated_text() {
    let corpus = corpus(500, 80, 4);
    let unigram = unigram_perplexity(&corpus.valid);
    let data = TaskData::Text(corpus);
    // n0 = tanh(add), n1 = relu(add), inject tanh(mul) → n0, n2 = sigmoid(mul), c_t = pre(n1).
    let cell = full_cell_space(2)
        .decode(&[0, 1, 0, 3, 1, 1, 1, 2, 0, 1])
        .expect("decode");
    let cell = Architecture::Cell(cell);
    for model in [ChildModel::Lstm, ChildModel::Searched] {
        let mut config = test_config("cell");
        config.child.model = model;
        let lm = &mut config.child.lm;
        // A tiny model needs a larger init and a smaller step than the PTB defaults.
        (
            lm.epochs,
            lm.bptt,
            lm.learning_rate,
            lm.grad_clip,
            lm.init_range,
        ) = (4, 10, 0.5, 1.0, 0.5);
        let out = child::train(&cell, &config, &data, Device::Cpu, 1, &mut NoProgress);
        assert_eq!(out.status, ChildStatus::Ok, "{model:?}: {:?}", out.message);
        let ppl = out.metric.expect("metric");
        assert!(
            ppl < 0.6 * unigram,
            "{model:?} ({}): perplexity {ppl} vs unigram {unigram}: {:?}",
            cell.describe(),
            out.epochs
        );
        assert!((out.reward - 80.0 / (ppl * ppl)).abs() < 1e-9);
        assert_eq!(out.epochs.last().map(|e| e.val_metric), Some(ppl));
    }
}

/// Counts batches and epochs seen; cancels after `cancel_after` batches.
#[derive(Default)]
struct Recorder {
    batches: Vec<(usize, usize, f64)>,
    epochs: Vec<EpochMetrics>,
    cancel_after: Option<usize>,
}

impl Progress for Recorder {
    fn on_batch(&mut self, epoch: usize, batch: usize, _batches: usize, loss: f64) {
        self.batches.push((epoch, batch, loss));
    }
    fn on_epoch(&mut self, metrics: &EpochMetrics) {
        self.epochs.push(metrics.clone());
    }
    fn cancelled(&self) -> bool {
        self.cancel_after.is_some_and(|n| self.batches.len() >= n)
    }
}

#[test]
fn nan_loss_is_diverged_within_one_batch() {
    // Images standardised with a NaN mean: the very first loss is NaN.
    let mut images = image_data(64, 16, 4, (3, 8, 8), 0);
    images.mean[1] = f32::NAN;
    let mut config = test_config("cnn");
    config.reward.failure = -1.0;
    let mut rec = Recorder::default();
    let out = child::train(
        &fixed_cnn(),
        &config,
        &TaskData::Images(images),
        Device::Cpu,
        0,
        &mut rec,
    );
    assert_eq!(out.status, ChildStatus::Diverged, "{:?}", out.message);
    assert_eq!(out.reward, -1.0);
    assert!(rec.batches.is_empty() && out.epochs.is_empty());
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("epoch 1, batch 1"),
        "{:?}",
        out.message
    );
    // A huge learning rate: batch 1 is finite, its update makes batch 2's loss non-finite.
    let text = TaskData::Text(corpus(200, 20, 0));
    let arch = Architecture::Cell(
        full_cell_space(2)
            .decode(&[0, 1, 0, 3, 1, 1, 1, 2, 0, 1])
            .expect("decode"),
    );
    let mut config = test_config("cell");
    (config.child.lm.learning_rate, config.child.lm.grad_clip) = (1e38, 1e38);
    let mut rec = Recorder::default();
    let out = child::train(&arch, &config, &text, Device::Cpu, 0, &mut rec);
    assert_eq!(out.status, ChildStatus::Diverged, "{:?}", out.message);
    assert_eq!(rec.batches.len(), 1, "{:?}", rec.batches);
    assert!(rec.batches[0].2.is_finite());
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("epoch 1, batch 2"),
        "{:?}",
        out.message
    );
    assert!(out.epochs.is_empty() && out.metric.is_none());
}

#[test]
fn timeouts_cancellation_and_bad_inputs_fail_with_a_message() {
    let images = TaskData::Images(image_data(64, 16, 4, (3, 8, 8), 0));
    let text = TaskData::Text(corpus(50, 10, 0));
    let mut config = test_config("cnn");
    config.child.timeout_s = Some(1e-9);
    let out = child::train(
        &fixed_cnn(),
        &config,
        &images,
        Device::Cpu,
        0,
        &mut NoProgress,
    );
    assert_eq!(out.status, ChildStatus::Failed);
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("timed out after"),
        "{:?}",
        out.message
    );
    config.child.timeout_s = None;
    let mut rec = Recorder {
        cancel_after: Some(2),
        ..Default::default()
    };
    let out = child::train(&fixed_cnn(), &config, &images, Device::Cpu, 0, &mut rec);
    assert_eq!(
        (out.status, out.message.as_deref()),
        (ChildStatus::Failed, Some("cancelled"))
    );
    assert_eq!(rec.batches.len(), 2);
    let out = child::train(
        &fixed_cnn(),
        &config,
        &text,
        Device::Cpu,
        0,
        &mut NoProgress,
    );
    assert_eq!(out.status, ChildStatus::Failed);
    assert!(
        out.message
            .as_deref()
            .unwrap_or("")
            .contains("cannot train on text"),
        "{:?}",
        out.message
    );
    assert_eq!(out.reward, config.reward.failure);
    let mut bad = image_data(8, 4, 4, (3, 8, 8), 0);
    bad.valid.labels[0] = 9;
    let out = child::train(
        &fixed_cnn(),
        &config,
        &TaskData::Images(bad),
        Device::Cpu,
        0,
        &mut NoProgress,
    );
    assert_eq!(out.status, ChildStatus::Failed);
    assert!(
        out.message.as_deref().unwrap_or("").contains("label is 9"),
        "{:?}",
        out.message
    );
    let cell = Architecture::Cell(full_cell_space(2).decode(&[0; 10]).expect("decode"));
    let out = child::train(&cell, &config, &images, Device::Cpu, 0, &mut NoProgress);
    assert!(out.status == ChildStatus::Failed && out.message.is_some());
}
