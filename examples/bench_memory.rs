//! Benchmark 4: memory over time — resident memory after 10, 100 and 1,000
//! real tch children trained one after another in one process: tiny cell
//! language models on generated text, then tiny CNNs on generated images
//! (`data::synthetic`). A leak per child shows as growth from 100 to 1,000.
//!
//! Run: `cargo run --release --example bench_memory -- [--tiny]`

#[path = "bench_common/mod.rs"]
pub mod bench_common;

use std::path::Path;

use anyhow::Context;
use bench_common::{machine, rss_mib, table, Size};
use nas_actor::child::{train, ChildStatus, NoProgress};
use nas_actor::config::Config;
use nas_actor::data::synthetic::{write_idx, write_text_corpus};
use nas_actor::space::{sample_uniform, SearchSpace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// RSS readings of one kind of child.
#[derive(Debug, Clone)]
pub struct MemoryRow {
    pub children: String,
    /// (children trained, RSS MiB) at each checkpoint.
    pub readings: Vec<(usize, f64)>,
    pub failures: usize,
}

impl MemoryRow {
    /// Relative growth between the last two readings.
    pub fn growth(&self) -> f64 {
        match self.readings.as_slice() {
            [.., (_, a), (_, b)] => (b - a) / a,
            _ => 0.0,
        }
    }
}

fn config(dir: &Path, space: &str, dataset: &str) -> anyhow::Result<Config> {
    let text = format!(
        r#"
[experiment]
name = "bench-memory"
output_dir = "runs/bench-memory"
budget = 1

[search]
space = "{space}"

[space.cnn]
layers = 3
filter_heights = [1, 3]
filter_widths = [1, 3]
num_filters = [4, 8]

[space.cell]
base = 2

[child]
train_batches = 3
val_batches = 1

[child.cnn]
epochs = 1
batch_size = 8

[child.lm]
epochs = 1
embedding_size = 16
hidden_size = 16
bptt = 5
batch_size = 4
dropout = 0.0

[reward]
accuracy_window = 1

[data]
dataset = "{dataset}"
dir = "{}"
val_size = 40
"#,
        dir.display()
    );
    Config::from_toml(&text, Path::new("bench_memory.toml")).context("the benchmark config")
}

/// Train `marks.last()` children of `config`, reading RSS after each count in `marks`.
fn measure(name: &str, config: &Config, marks: &[usize]) -> anyhow::Result<MemoryRow> {
    let data = nas_actor::data::load(&config.data, 0)?;
    let space = SearchSpace::from_config(config)?;
    let schema = space.schema(0);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut readings = Vec::new();
    let mut failures = 0;
    let total = marks.iter().copied().max().unwrap_or(0);
    for i in 1..=total {
        let arch = space.decode(&sample_uniform(&schema, &mut rng))?;
        let out = train(
            &arch,
            config,
            &data,
            tch::Device::Cpu,
            i as u64,
            &mut NoProgress,
        );
        if out.status != ChildStatus::Ok {
            failures += 1;
        }
        if marks.contains(&i) {
            readings.push((i, rss_mib()));
        }
    }
    Ok(MemoryRow {
        children: name.to_string(),
        readings,
        failures,
    })
}

/// The whole benchmark; `marks` are the child counts where RSS is read.
pub fn bench(size: Size) -> anyhow::Result<Vec<MemoryRow>> {
    tch::set_num_threads(1);
    let marks: Vec<usize> = size.pick(vec![10, 100, 1000], vec![2, 4]);
    let tmp = tempfile::tempdir()?;
    let text = tmp.path().join("text");
    write_text_corpus(&text, 300, 40, 1)?;
    let images = tmp.path().join("images");
    write_idx(&images, 200, 20, false, 1)?;
    Ok(vec![
        measure(
            "cell LM (base 2, 16 units)",
            &config(&text, "cell", "ptb")?,
            &marks,
        )?,
        measure(
            "CNN (3 layers, ≤8 filters, 28×28)",
            &config(&images, "cnn", "idx")?,
            &marks,
        )?,
    ])
}

fn main() -> anyhow::Result<()> {
    let size = Size::from_args();
    println!("machine: {}", machine());
    let rows = bench(size)?;
    let marks: Vec<String> = rows
        .first()
        .map(|r| {
            r.readings
                .iter()
                .map(|(n, _)| format!("RSS after {n} MiB"))
                .collect()
        })
        .unwrap_or_default();
    let mut header: Vec<&str> = vec!["children"];
    header.extend(marks.iter().map(String::as_str));
    header.extend(["growth (last two)", "failed"]);
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.children.clone()];
            row.extend(r.readings.iter().map(|(_, m)| format!("{m:.1}")));
            row.push(format!("{:+.2}%", r.growth() * 100.0));
            row.push(r.failures.to_string());
            row
        })
        .collect();
    print!("{}", table(&header, &table_rows));
    Ok(())
}
