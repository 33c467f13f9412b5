//! Shared weights in the CNN space: a CNN under ω is a standalone CNN with
//! ω's slices; a step updates only the weights its architecture used; ω
//! learns on real Fashion-MNIST; `kill -9` and `--resume` lose and repeat
//! nothing (ω's momentum included); `best.json` retrains through
//! `retrain`; the CNN settings and refusals.

use std::collections::HashMap;
use std::path::Path;

use nas_actor::actors::{self, RunOptions};
use nas_actor::child::supernet::{CnnSupernet, CnnSupernetConfig};
use nas_actor::child::CnnChild;
use nas_actor::config::Config;
use nas_actor::data::load_images;
use nas_actor::data::synthetic::{write_cifar_batches, write_idx};
use nas_actor::space::{sample_uniform, Architecture, CnnArch, SearchSpace};
use nas_actor::store::ChildRecord;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use super::{binary, kill_three_times_and_resume, retrain_best_and_report};
use crate::common;

/// A shared-weights CNN config: `dataset` in `data`, 4 layers of 1×1 to
/// 3×3 filters, 4 or 8 of them, pooling and strides predicted, skip
/// connections; `extra` is appended.
fn cnn_config(out: &Path, dataset: &str, data: &Path, budget: usize, extra: &str) -> Config {
    let text = format!(
        r#"
[experiment]
name = "shared-cnn-test"
output_dir = "{out}"
seed = 5
budget = {budget}

[devices]
gpus = "none"
cpu_workers = 1
threads_per_worker = 1

[search]
space = "cnn"
weights = "shared"
children_per_replica = 4

[search.shared]
preset = "cpu"
omega_steps = 20
controller_samples = 8
reward_batches = 1
final_samples = 3
checkpoint_every = 5

[space.cnn]
layers = 4
filter_heights = [1, 3]
filter_widths = [1, 3]
num_filters = [4, 8]
predict_pooling = true
predict_strides = true
strides = [1, 2]

[child.cnn]
batch_size = 16
augment = true
epochs = 1

[data]
dataset = "{dataset}"
dir = "{data}"
val_size = 64

[retrain]
top = 1
epochs = 1
{extra}
"#,
        out = out.display(),
        data = data.display()
    );
    Config::from_toml(&text, Path::new("shared-cnn-test.toml")).expect("config")
}

fn sample_cnn(space: &SearchSpace, rng: &mut ChaCha8Rng) -> CnnArch {
    let schema = space.schema(0);
    match space.decode(&sample_uniform(&schema, rng)) {
        Ok(Architecture::Cnn(a)) => a,
        other => panic!("not a CNN: {other:?}"),
    }
}

/// ω's variables by name.
fn omega_vars(net: &CnnSupernet) -> HashMap<String, Tensor> {
    net.var_store().variables()
}

/// The weights a standalone child of `arch` takes from ω, derived here from
/// ω's variable names alone: each layer's kernel is its inputs' kernels
/// for its filter shape, sliced to its filters and each input's channels,
/// concatenated along the input channels; the classifier the blocks of its
/// outputs.
fn standalone_from(
    net: &CnnSupernet,
    arch: &CnnArch,
    channels: usize,
    classes: usize,
    max_filters: i64,
) -> (tch::nn::VarStore, CnnChild) {
    let omega = omega_vars(net);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let child = CnnChild::new(&vs.root(), arch, channels, classes, 2, 1e-5);
    let mut mine = vs.variables();
    let mut set = |name: &str, value: Tensor| {
        let t = mine.get_mut(name).unwrap_or_else(|| panic!("no {name}"));
        tch::no_grad(|| t.copy_(&value));
    };
    for (i, l) in arch.layers.iter().enumerate() {
        let f = l.num_filters as i64;
        let sources: Vec<(String, i64)> = if l.inputs.is_empty() {
            vec![("from_image".into(), channels as i64)]
        } else {
            l.inputs
                .iter()
                .map(|&j| (format!("from_layer{j}"), arch.layers[j].num_filters as i64))
                .collect()
        };
        let parts: Vec<Tensor> = sources
            .iter()
            .map(|(src, width)| {
                let name = format!(
                    "layer{i}.{src}.k{}x{}.conv.weight",
                    l.filter_height, l.filter_width
                );
                omega[&name].narrow(0, 0, f).narrow(1, 0, *width)
            })
            .collect();
        set(&format!("layer{i}.conv.weight"), Tensor::cat(&parts, 1));
        for p in ["weight", "bias"] {
            let name = format!("layer{i}.bn.{p}");
            set(&name, omega[&name].narrow(0, 0, f));
        }
    }
    let blocks: Vec<Tensor> = arch
        .outputs()
        .iter()
        .map(|&j| {
            omega["classifier.weight"].narrow(
                1,
                j as i64 * max_filters,
                arch.layers[j].num_filters as i64,
            )
        })
        .collect();
    set("classifier.weight", Tensor::cat(&blocks, 1));
    set("classifier.bias", omega["classifier.bias"].shallow_clone());
    (vs, child)
}

#[test]
fn a_cnn_under_omega_equals_a_standalone_cnn_with_the_same_weights() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_cifar_batches(&tmp.path().join("cifar"), 40, 2).expect("cifar files");
    let config = cnn_config(
        &tmp.path().join("run"),
        "cifar10",
        &tmp.path().join("cifar"),
        8,
        "",
    );
    let images = load_images(&config.data, 5).expect("images");
    let (channels, classes) = (images.train.channels, images.classes);
    let x = {
        let v: Vec<f32> = (0..8 * 3 * 32 * 32)
            .map(|k| ((k * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        Tensor::from_slice(&v).view([8, 3, 32, 32])
    };
    let space = SearchSpace::from_config(&config).expect("space");
    let mut net = CnnSupernet::new(&CnnSupernetConfig::of(&config), images, Device::Cpu, 11)
        .expect("supernet");
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    // ω trains a few steps first, so the weights are not the initialisation.
    for _ in 0..6 {
        let arch = sample_cnn(&space, &mut rng);
        let loss = net.train_step(&arch).expect("ω step");
        assert!(loss.is_finite());
    }
    let mut with_skips = 0;
    for _ in 0..12 {
        let arch = sample_cnn(&space, &mut rng);
        with_skips += usize::from(arch.layers.iter().any(|l| l.inputs.len() > 1));
        let (shared, _) = net.child(&arch).expect("the child under ω");
        let (_vs, alone) = standalone_from(&net, &arch, channels, classes, 8);
        let a = shared.forward_t(&x, true).expect("forward under ω");
        let b = alone.forward_t(&x, true).expect("standalone forward");
        let diff = (&a - &b).abs().max().double_value(&[]);
        assert!(
            diff < 1e-6,
            "{}: the CNN under ω differs from the standalone CNN by {diff}",
            arch.describe()
        );
    }
    assert!(with_skips > 0, "no sampled CNN concatenated two inputs");

    // A step changes exactly the weights its architecture used.
    let arch = sample_cnn(&space, &mut rng);
    let (_, used) = net.child(&arch).expect("child");
    let before: HashMap<String, Tensor> = omega_vars(&net)
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect();
    let mut names: Vec<String> = before.keys().cloned().collect();
    names.sort();
    net.train_step(&arch).expect("ω step");
    let after = omega_vars(&net);
    let mut changed = Vec::new();
    for (k, name) in names.iter().enumerate() {
        if (&before[name] - &after[name]).abs().max().double_value(&[]) > 0.0 {
            changed.push(k);
        }
    }
    let mut used = used;
    used.sort_unstable();
    used.dedup();
    assert_eq!(
        changed, used,
        "the variables a step changed are the ones its CNN used"
    );

    // An architecture of another size cannot take ω's weights.
    let mut wide = arch.clone();
    wide.layers[0].num_filters = 9;
    let err = net.child(&wide).expect_err("9 filters");
    assert_eq!(
        err.to_string(),
        "layer 0 has 9 filters; the supernet has 1 to 8"
    );
}

/// ω learns on real images with one architecture drawn uniformly per
/// batch: its training loss falls, and a fixed CNN's accuracy under ω rises
/// well above chance. A plain chain of 4 small layers (skip connections make
/// the first few hundred steps of such small networks a plateau: BENCHMARKS
/// §9 (c)); 1000 batches of 32 from 4000 training images.
#[test]
fn omega_learns_on_real_fashion_mnist() {
    let Some(fashion) = common::require_fashion_mnist() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = cnn_config(tmp.path(), "idx", &fashion, 8, "");
    config.data.train_limit = Some(4000);
    config.data.val_size = 1000;
    config.space.cnn.predict_strides = false;
    config.space.cnn.skip_connections = false;
    config.space.cnn.num_filters = vec![8, 16];
    config.child.cnn.batch_size = 32;
    config.child.cnn.augment = false;
    let images = load_images(&config.data, 1).expect("fashion-mnist");
    let space = SearchSpace::from_config(&config).expect("space");
    let mut net = CnnSupernet::new(&CnnSupernetConfig::of(&config), images, Device::Cpu, 1)
        .expect("supernet");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let probe = sample_cnn(&space, &mut rng);
    let before = net.score(&probe, 0, 16).expect("score");
    let mut losses = Vec::new();
    for _ in 0..1000 {
        let arch = sample_cnn(&space, &mut rng);
        losses.push(net.train_step(&arch).expect("ω step"));
    }
    let after = net.score(&probe, 0, 16).expect("score");
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (first, last) = (mean(&losses[..100]), mean(&losses[900..]));
    let line = format!(
        "ω training loss {first:.3} (steps 1–100) → {last:.3} (901–1000); probe {} accuracy under ω {:.3} → {:.3}",
        probe.describe(),
        before.metric,
        after.metric
    );
    eprintln!("{line}");
    assert!(last < first - 0.4, "{line}");
    assert!(before.metric < 0.2 && after.metric > 0.3, "{line}");
    assert_eq!(net.skipped_steps(), 0, "{line}");
}

#[test]
fn kill_9_during_cnn_omega_and_controller_steps_then_resume_repeats_and_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("idx");
    write_idx(&data, 400, 40, false, 6).expect("idx files");
    kill_three_times_and_resume(tmp.path(), 32, |out, budget| {
        cnn_config(out, "idx", &data, budget, "")
    });
}

#[test]
fn a_shared_cnn_search_writes_best_json_that_retrains() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("idx");
    write_idx(&data, 400, 60, true, 7).expect("idx files");
    let out = tmp.path().join("run");
    let summary = actors::run(
        cnn_config(&out, "idx", &data, 16, ""),
        &RunOptions::default(),
    )
    .expect("shared CNN search");
    assert_eq!(summary.children, 16);
    let records: Vec<ChildRecord> = std::fs::read_to_string(out.join("children.jsonl"))
        .expect("children.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert_eq!(records.len(), 16);
    for r in &records {
        let acc = r.metric.expect("an accuracy");
        assert!((0.0..=1.0).contains(&acc), "{acc}");
        assert_eq!(r.reward, acc.powi(3), "the paper's accuracy³ reward");
        assert!(r.params > 0);
    }
    let report = retrain_best_and_report(&out);
    assert!((0.0..=1.0).contains(&report.test.metric));

    // Random search with weight sharing on the same data, and `compare` of the two.
    let random = tmp.path().join("random");
    let mut config = cnn_config(&random, "idx", &data, 16, "");
    config.search.strategy = nas_actor::config::Strategy::Random;
    actors::run(config, &RunOptions::default()).expect("random search with weight sharing");
    assert!(
        !random.join("updates.jsonl").exists()
            || std::fs::read_to_string(random.join("updates.jsonl"))
                .expect("updates")
                .is_empty(),
        "random search never updates θ"
    );
    let cmp = tmp.path().join("compare");
    let o = binary()
        .arg("compare")
        .arg(&out)
        .arg(&random)
        .arg("--out")
        .arg(&cmp)
        .output()
        .expect("compare");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("reinforce") && stdout.contains("random"),
        "{stdout}"
    );
}

#[test]
fn cnn_shared_settings_follow_enas_macro_search_and_bad_ones_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("idx");
    let base = cnn_config(tmp.path(), "idx", &data, 8, "");
    // ω's optimizer defaults to ENAS's CIFAR-10 macro search, not its PTB one.
    assert_eq!(
        (
            base.search.shared.learning_rate,
            base.search.shared.grad_clip
        ),
        (0.05, 5.0)
    );
    assert_eq!(base.controller.learning_rate, Some(1e-3));
    assert_eq!(base.controller.tanh_constant, Some(1.5));
    assert_eq!(base.controller.temperature, None);
    let explicit = cnn_config(tmp.path(), "idx", &data, 8, "")
        .to_toml()
        .expect("toml")
        .replacen("learning_rate = 0.05", "learning_rate = 0.01", 1);
    let c = Config::from_toml(&explicit, Path::new("x.toml")).expect("explicit");
    assert_eq!(c.search.shared.learning_rate, 0.01, "an explicit key wins");

    let text = base.to_toml().expect("toml");
    let growth = text.replacen(
        "[space.cnn]",
        "[space.cnn.growth]\nstart_layers = 2\nadd_layers = 1\nevery = 10\n\n[space.cnn]",
        1,
    );
    let err = Config::from_toml(&growth, Path::new("x.toml")).expect_err("growth");
    assert!(err.message.contains("space.cnn.growth"), "{}", err.message);
    let err = Config::from_toml(
        &text.replacen("space = \"cnn\"", "space = \"custom\"", 1),
        Path::new("x.toml"),
    )
    .expect_err("a declared space");
    assert!(
        err.message.starts_with(
            "`search.weights`: \"shared\" is built in for the recurrent-cell and CNN spaces"
        ),
        "{}",
        err.message
    );
}

#[test]
fn the_fashion_mnist_shared_config_loads() {
    let c = Config::load(&common::root().join("configs/fashion_mnist_shared.toml"))
        .expect("fashion_mnist_shared");
    assert_eq!(c.search.weights, nas_actor::config::Weights::Shared);
    assert_eq!(c.search.space, nas_actor::config::SpaceKind::Cnn);
    assert_eq!(c.search.shared.grad_clip, 5.0);
    let c =
        Config::load(&common::root().join("configs/cifar10_shared.toml")).expect("cifar10_shared");
    assert_eq!(
        (
            c.search.shared.omega_steps,
            c.search.shared.controller_samples
        ),
        (400, 2000)
    );
}
