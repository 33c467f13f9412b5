//! Tests of `post` (after the search): `retrain` on tiny real runs (test set
//! used once, refused again without --force, recorded with it), `report` on
//! finished and still-going runs (every file, valid PNG and SVG), `export`
//! as JSON and as PyTorch modules that compute what the tch models compute.

mod compare;
mod export;
mod report;
mod retrain;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nas_actor::child::{ChildSpec, ChildStatus};
use nas_actor::config::Config;
use nas_actor::space::{sample_uniform, SearchSpace};
use nas_actor::store::{ChildRecord, RunDir};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::common::root;

/// Run the binary with `args` in the repository root, without a terminal.
pub fn nas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas-actor"))
        .args(args)
        .current_dir(root())
        .env("NAS_ACTOR_PLAIN", "1")
        .output()
        .expect("run nas-actor")
}

/// stdout and stderr of a finished command.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A tiny language-model config (base-2 cells, 8 units, one short epoch)
/// on the text in `data`, writing into `out`.
pub fn tiny_text_config(out: &Path, data: &Path, retrain: &str) -> Config {
    let text = format!(
        r#"
[experiment]
name = "tiny-text"
output_dir = "{}"
seed = 3
budget = 8

[devices]
gpus = "none"
cpu_workers = 2
threads_per_worker = 1

[search]
space = "cell"

[space.cell]
base = 2

[child]
train_batches = 6
val_batches = 3

[child.lm]
epochs = 1
embedding_size = 8
hidden_size = 8
layers = 1
bptt = 8
batch_size = 4
dropout = 0.0
learning_rate = 1.0
init_range = 0.1

[data]
dataset = "ptb"
dir = "{}"

[retrain]
{retrain}
"#,
        out.display(),
        data.display()
    );
    Config::from_toml(&text, Path::new("tiny-text.toml")).expect("tiny text config")
}

/// A tiny CNN config (2 layers of 4 filters, one short epoch) on the IDX
/// images in `data`, writing into `out`.
pub fn tiny_image_config(out: &Path, data: &Path, retrain: &str) -> Config {
    let text = format!(
        r#"
[experiment]
name = "tiny-images"
output_dir = "{}"
seed = 5
budget = 8

[devices]
gpus = "none"
cpu_workers = 2
threads_per_worker = 1

[search]
space = "cnn"

[space.cnn]
layers = 2
filter_heights = [1, 3]
filter_widths = [1, 3]
num_filters = [4, 6]
predict_pooling = true

[child]
train_batches = 3

[child.cnn]
epochs = 1
batch_size = 32
learning_rate = 0.05
augment = false

[reward]
accuracy_window = 1

[data]
dataset = "idx"
dir = "{}"
val_size = 40

[retrain]
{retrain}
"#,
        out.display(),
        data.display()
    );
    Config::from_toml(&text, Path::new("tiny-images.toml")).expect("tiny image config")
}

/// A run directory written by hand: `n` distinct uniformly sampled
/// architectures of `config`'s space with rewards 0.1, 0.2, …, status ok
/// (and one failed child), as a finished search would leave it.
pub fn hand_written_run(config: &Config, n: usize) -> PathBuf {
    let dir = config.experiment.output_dir.clone();
    let mut run = RunDir::create(&dir, config).expect("create run dir");
    let space = SearchSpace::from_config(config).expect("space");
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut seen = std::collections::HashSet::new();
    let mut id = 0;
    while (id as usize) < n + 1 {
        let tokens = sample_uniform(&schema, &mut rng);
        let arch = space.decode(&tokens).expect("decode");
        if !seen.insert(arch.hash().expect("hash")) {
            continue;
        }
        let failed = id as usize == n;
        run.append_child(&ChildRecord {
            spec: ChildSpec {
                id,
                replica: id as usize % 2,
                version: id / 2,
                tokens,
                hash: arch.hash().expect("hash"),
                arch,
                seed: 0,
            },
            status: if failed {
                ChildStatus::Failed
            } else {
                ChildStatus::Ok
            },
            reward: if failed { 0.0 } else { 0.1 * (id + 1) as f64 },
            metric: (!failed).then_some(100.0 - id as f64),
            epochs: Vec::new(),
            params: 1000 + id as usize,
            device: "cpu#0".into(),
            started: 0.0,
            seconds: 1.0,
            message: failed.then(|| "out of memory".to_string()),
            placement: None,
        })
        .expect("append child");
        id += 1;
    }
    dir
}
