//! `nas-actor export`: an architecture of a run as the project's JSON (what
//! `nas-actor train --arch` reads) or as a self-contained PyTorch source file
//! whose modules have the tch models' parameter names and shapes, so weights
//! saved by `nas-actor retrain` load into them.
//!
//! The Python text comes from templates next to this file
//! (`cell_template.py`, `cnn_template.py`, `python_common.py`); the
//! architecture-specific parts (the cell's unrolled step, the CNN's layer
//! table) are generated here.

use std::fmt::Write;

use super::{Normalisation, PostError, RunView};
use crate::config::{Config, Dataset};
use crate::space::cell::{children, num_nodes, Activation, Combination};
use crate::space::{Architecture, CellArch, CnnArch};

const CELL_TEMPLATE: &str = include_str!("cell_template.py");
const CNN_TEMPLATE: &str = include_str!("cnn_template.py");
const COMMON: &str = include_str!("python_common.py");

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The [`Architecture`] JSON.
    Json,
    /// A PyTorch module (Python source).
    Pytorch,
}

/// The text of the `rank`-th best architecture of the run (1 = best) in `format`.
///
/// For PyTorch, the defaults of the generated module come from the run's
/// config; when `final.json` chose this architecture, its batch-norm ε is
/// the chosen grid point's. A CNN module carries the image standardisation
/// that `final.json` records (`MEAN`, `STD`, applied by `preprocess`).
pub fn export(view: &RunView, rank: usize, format: ExportFormat) -> Result<String, PostError> {
    let record = view.ranked(rank)?;
    let arch = &record.spec.arch;
    match format {
        // What a trial reads from NAS_ARCH_FILE: a declared space's
        // decisions, a built-in space's architecture with its space tag.
        ExportFormat::Json => crate::runner::command::architecture_json(arch)
            .map(|s| s + "\n")
            .map_err(|e| PostError::Training(format!("cannot encode the architecture: {e}"))),
        ExportFormat::Pytorch => {
            let mut config = view.config.clone();
            if let Some(f) = &view.final_report {
                if f.selected.hash == record.spec.hash {
                    if let Some(eps) = f.selected.grid.bn_eps {
                        config.child.cnn.bn_eps = eps;
                    }
                }
            }
            let source = format!(
                "Run \"{}\" ({}), architecture ranked {rank}: child {}, reward {}, hash {}.",
                config.experiment.name,
                view.dir.display(),
                record.spec.id,
                crate::format::reward(record.reward),
                record.spec.hash
            );
            let norm = view
                .final_report
                .as_ref()
                .and_then(|f| f.normalisation.as_ref());
            pytorch_source(arch, &config, norm, &source)
        }
    }
}

/// A self-contained PyTorch source file for `arch`, with the child settings
/// of `config` as defaults; `source` is a line saying where it comes from.
/// A CNN module standardises images with `norm` in its `preprocess`
/// function (without it, `preprocess` asks for a mean and std).
pub fn pytorch_source(
    arch: &Architecture,
    config: &Config,
    norm: Option<&Normalisation>,
    source: &str,
) -> Result<String, PostError> {
    match arch {
        Architecture::Cell(a) => Ok(cell_source(a, config, source)),
        Architecture::Cnn(a) => Ok(cnn_source(a, config, norm, source)),
        Architecture::Custom { .. } => Err(PostError::Config(
            "--format pytorch writes the built-in CNN and cell models; a declared space's model is your own program: use --format json".into(),
        )),
    }
}

/// A Python list of floats, or `None`.
fn py_floats(values: Option<&[f32]>) -> String {
    match values {
        None => "None".to_string(),
        Some(v) => {
            // The shortest text that reads back as the same f32.
            let items: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A Python float literal.
fn py_float(x: f64) -> String {
    format!("{x:?}")
}

fn cell_source(arch: &CellArch, config: &Config, source: &str) -> String {
    let lm = &config.child.lm;
    CELL_TEMPLATE
        .replace("@SOURCE@", source)
        .replace("@DESCRIPTION@", &arch.describe())
        .replace("@BASE@", &arch.base.to_string())
        .replace("@EMBEDDING@", &lm.embedding_size.to_string())
        .replace("@HIDDEN@", &lm.hidden_size.to_string())
        .replace("@LAYERS@", &lm.layers.to_string())
        .replace("@DROPOUT@", &py_float(lm.dropout))
        .replace("@TIED@", py_bool(lm.tied))
        .replace("@STEP@", &cell_step(arch))
        .replace("@COMMON@", COMMON.trim_start())
}

/// Python for `a (+) b`.
fn py_combine(c: Combination, a: &str, b: &str) -> String {
    match c {
        Combination::Add => format!("{a} + {b}"),
        Combination::ElemMult => format!("{a} * {b}"),
        Combination::Max => format!("torch.maximum({a}, {b})"),
    }
}

/// Python for `act(x)`.
fn py_activate(a: Activation, x: &str) -> String {
    match a {
        Activation::Identity => x.to_string(),
        Activation::Tanh => format!("torch.tanh({x})"),
        Activation::Sigmoid => format!("torch.sigmoid({x})"),
        Activation::Relu => format!("torch.relu({x})"),
        Activation::Sin => format!("torch.sin({x})"),
    }
}

/// The body of `NasCell.step`, one statement per node, leaves first.
fn cell_step(arch: &CellArch) -> String {
    let mut s = String::new();
    let n = num_nodes(arch.base);
    for (k, node) in arch.nodes.iter().enumerate() {
        let pre = match children(arch.base, k) {
            None => py_combine(
                node.combination,
                &format!("x_proj[:, {k} * H : {} * H]", k + 1),
                &format!("h_proj[:, {k} * H : {} * H]", k + 1),
            ),
            Some((l, r)) => py_combine(node.combination, &format!("out{l}"), &format!("out{r}")),
        };
        let _ = writeln!(s, "        pre{k} = {pre}");
        let _ = writeln!(
            s,
            "        out{k} = {}",
            py_activate(node.activation, &format!("pre{k}"))
        );
        if k == arch.inject_node {
            let merged = py_combine(arch.inject.combination, &format!("out{k}"), "c_prev");
            let _ = writeln!(
                s,
                "        out{k} = {}  # cell inject: c_(t-1) enters node {k}",
                py_activate(arch.inject.activation, &format!("({merged})"))
            );
        }
    }
    let _ = writeln!(
        s,
        "        return out{}, pre{}  # h_t = the root's output, c_t = node {}'s pre-activation",
        n - 1,
        arch.cell_node,
        arch.cell_node
    );
    s
}

/// Image channels and classes of a dataset (CIFAR-10: 3, IDX: 1; both 10 classes).
fn image_shape(dataset: Dataset) -> (usize, usize) {
    match dataset {
        Dataset::Idx => (1, 10),
        Dataset::Cifar10 | Dataset::Ptb => (3, 10),
    }
}

fn cnn_source(
    arch: &CnnArch,
    config: &Config,
    norm: Option<&Normalisation>,
    source: &str,
) -> String {
    let (channels, classes) = image_shape(config.data.dataset);
    let layers: Vec<String> = arch
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let inputs: Vec<String> = l.inputs.iter().map(|j| j.to_string()).collect();
            format!(
                "    ({}, {}, {}, {}, {}, {}, [{}]),  # layer {i}",
                l.filter_height,
                l.filter_width,
                l.stride_height,
                l.stride_width,
                l.num_filters,
                py_bool(l.max_pool),
                inputs.join(", ")
            )
        })
        .collect();
    let outputs: Vec<String> = arch.outputs().iter().map(|j| j.to_string()).collect();
    CNN_TEMPLATE
        .replace("@SOURCE@", source)
        .replace("@DESCRIPTION@", &arch.describe())
        .replace("@LAYERS@", &layers.join("\n"))
        .replace("@OUTPUTS@", &format!("[{}]", outputs.join(", ")))
        .replace("@CHANNELS@", &channels.to_string())
        .replace("@CLASSES@", &classes.to_string())
        .replace("@POOL@", &config.space.cnn.pool_size.max(1).to_string())
        .replace("@BN_EPS@", &py_float(config.child.cnn.bn_eps))
        .replace("@MEAN@", &py_floats(norm.map(|n| n.mean.as_slice())))
        .replace("@STD@", &py_floats(norm.map(|n| n.std.as_slice())))
        .replace("@COMMON@", COMMON.trim_start())
}
