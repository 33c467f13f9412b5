//! `export --format pytorch`: the generated modules, run by the installed
//! torch on the weights of a tch model (saved as safetensors) and the same
//! input, give the tch model's output to 1e-5 — a cell language model
//! (untied two-layer and tied one-layer) and a CNN with skip connections,
//! strides and pooling in eval mode (batch-norm running statistics).

use std::path::Path;
use std::process::Command;

use nas_actor::child::{init_cnn_params, init_lm_params, CnnChild, WordLm};
use nas_actor::config::{Activation, Combination, Config, LmChildConfig};
use nas_actor::post::export::pytorch_source;
use nas_actor::post::Normalisation;
use nas_actor::space::{Architecture, CellArch, CellNode, CnnArch, CnnLayer};
use serde_json::json;
use tch::{nn, Device, Kind, Tensor};

use crate::common::require_python;

/// Loads each case's module and weights, runs its input, prints the largest difference.
const CHECK: &str = r#"
import importlib.util, json, sys
import torch
cases = json.load(open(sys.argv[1]))
out = []
for i, case in enumerate(cases):
    spec = importlib.util.spec_from_file_location(f"exported{i}", case["module"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cls = getattr(mod, case["class"])
    model = cls.from_safetensors(case["weights"]).eval()
    x = torch.tensor(case["input"], dtype=getattr(torch, case["dtype"])).reshape(case["input_shape"])
    if case.get("preprocess"):
        x = mod.preprocess(x)
    with torch.no_grad():
        y = model(x)
    if isinstance(y, tuple):
        y = y[0]
    expected = torch.tensor(case["expected"]).reshape(case["expected_shape"])
    out.append({"shape": list(y.shape), "max_abs_diff": (y - expected).abs().max().item()})
print(json.dumps(out))
"#;

fn floats(t: &Tensor) -> Vec<f64> {
    let flat = t.flatten(0, -1).to_kind(Kind::Double);
    Vec::<f64>::try_from(&flat).expect("tensor to vec")
}

/// Run CHECK on `cases`; assert every output matches in shape and to 1e-5.
fn check(dir: &Path, cases: serde_json::Value) {
    let Some(py) = require_python() else { return };
    let path = dir.join("cases.json");
    std::fs::write(&path, cases.to_string()).expect("write cases");
    let o = Command::new(py)
        .arg("-c")
        .arg(CHECK)
        .arg(&path)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = stdout.lines().last().expect("a result line");
    let results: Vec<serde_json::Value> = serde_json::from_str(line).expect("JSON result");
    let expected = cases.as_array().expect("cases");
    assert_eq!(results.len(), expected.len());
    for (r, c) in results.iter().zip(expected) {
        assert_eq!(r["shape"], c["expected_shape"], "{r}");
        let diff = r["max_abs_diff"].as_f64().expect("diff");
        eprintln!("{}: max |torch - tch| = {diff:e}", c["class"]);
        assert!(diff < 1e-5, "{}: outputs differ by {diff}", c["module"]);
    }
}

fn config(text: &str) -> Config {
    Config::from_toml(text, Path::new("export.toml")).expect("config")
}

fn node(combination: Combination, activation: Activation) -> CellNode {
    CellNode {
        combination,
        activation,
    }
}

#[test]
fn exported_cell_language_models_match_tch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    use Activation::*;
    use Combination::*;
    let arch = CellArch {
        base: 4,
        nodes: vec![
            node(Add, Tanh),
            node(ElemMult, Sigmoid),
            node(Max, Relu),
            node(Add, Sin),
            node(ElemMult, Identity),
            node(Add, Tanh),
            node(Max, Sigmoid),
        ],
        inject: node(ElemMult, Tanh),
        inject_node: 4,
        cell_node: 1,
    };
    let vocab = 23;
    let mut cases = Vec::new();
    for (i, (layers, tied)) in [(2usize, false), (1, true)].into_iter().enumerate() {
        let (emb, hidden) = if tied { (7, 7) } else { (6, 5) };
        let cfg = config(&format!(
            r#"
[experiment]
name = "export"
output_dir = "unused"
budget = 1
[search]
space = "cell"
[space.cell]
base = 4
combinations = ["add", "elem_mult", "max"]
activations = ["identity", "tanh", "sigmoid", "relu", "sin"]
[child.lm]
embedding_size = {emb}
hidden_size = {hidden}
layers = {layers}
dropout = 0.3
tied = {tied}
[data]
dataset = "ptb"
dir = "unused"
"#
        ));
        let lm: &LmChildConfig = &cfg.child.lm;
        let vs = nn::VarStore::new(Device::Cpu);
        let model = WordLm::cell(&vs.root(), &arch, vocab, lm).expect("model");
        init_lm_params(&vs, 0.5, 9 + i as u64).expect("init");
        let weights = tmp.path().join(format!("cell{i}.safetensors"));
        vs.save(&weights).expect("save");
        let tokens: Vec<i64> = (0..15).map(|k| (k * 7 + 3) % vocab as i64).collect();
        let x = Tensor::from_slice(&tokens).view([5, 3]);
        let (logits, _) = model
            .forward_t(&x, &model.zero_state(3), false)
            .expect("forward");
        let module = tmp.path().join(format!("cell{i}.py"));
        let source =
            pytorch_source(&Architecture::Cell(arch.clone()), &cfg, None, "test").expect("source");
        std::fs::write(&module, source).expect("write module");
        cases.push(json!({
            "module": module, "class": "WordLm", "weights": weights,
            "input": tokens, "input_shape": [5, 3], "dtype": "int64",
            "expected": floats(&logits), "expected_shape": logits.size(),
        }));
    }
    check(tmp.path(), json!(cases));
}

fn layer(
    fh: usize,
    fw: usize,
    s: (usize, usize),
    filters: usize,
    pool: bool,
    inputs: Vec<usize>,
) -> CnnLayer {
    CnnLayer {
        filter_height: fh,
        filter_width: fw,
        stride_height: s.0,
        stride_width: s.1,
        num_filters: filters,
        max_pool: pool,
        inputs,
    }
}

#[test]
fn exported_cnn_matches_tch_in_eval_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let arch = CnnArch {
        layers: vec![
            layer(3, 3, (1, 1), 4, false, vec![]),
            layer(5, 3, (2, 1), 6, true, vec![0]),
            layer(1, 1, (1, 1), 4, false, vec![0, 1]),
            layer(3, 5, (1, 2), 5, true, vec![]),
        ],
    };
    let cfg = config(
        r#"
[experiment]
name = "export"
output_dir = "unused"
budget = 1
[search]
space = "cnn"
[space.cnn]
layers = 4
predict_strides = true
predict_pooling = true
[child.cnn]
bn_eps = 0.001
[data]
dataset = "cifar10"
dir = "unused"
"#,
    );
    let vs = nn::VarStore::new(Device::Cpu);
    let model = CnnChild::new(&vs.root(), &arch, 3, 10, 2, cfg.child.cnn.bn_eps);
    init_cnn_params(&vs, 4).expect("init");
    // Training-mode passes move the batch-norm running statistics away from 0 and 1.
    tch::no_grad(|| {
        for _ in 0..3 {
            let x = Tensor::randn([8, 3, 11, 9], (Kind::Float, Device::Cpu)) * 2.0 + 0.5;
            let _ = model.forward_t(&x, true).expect("train-mode forward");
        }
    });
    let weights = tmp.path().join("cnn.safetensors");
    vs.save(&weights).expect("save");
    // Raw pixels in [0, 1]: tch sees them standardised with the training
    // statistics; the exported module's `preprocess` must do the same.
    let norm = Normalisation {
        mean: vec![0.49, 0.48, 0.45],
        std: vec![0.25, 0.24, 0.26],
    };
    let pixels = Tensor::rand([2, 3, 11, 9], (Kind::Float, Device::Cpu));
    let mean = Tensor::from_slice(&norm.mean).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&norm.std).view([1, 3, 1, 1]);
    let x = (&pixels - mean) / std;
    let logits = tch::no_grad(|| model.forward_t(&x, false)).expect("forward");
    let module = tmp.path().join("cnn.py");
    let source =
        pytorch_source(&Architecture::Cnn(arch), &cfg, Some(&norm), "test").expect("source");
    assert!(
        source.contains("MEAN = [0.49"),
        "the statistics are in the module"
    );
    std::fs::write(&module, source).expect("write");
    check(
        tmp.path(),
        json!([{
            "module": module, "class": "NasCnn", "weights": weights,
            "input": floats(&pixels), "input_shape": [2, 3, 11, 9], "dtype": "float32",
            "preprocess": true,
            "expected": floats(&logits), "expected_shape": logits.size(),
        }]),
    );
}
